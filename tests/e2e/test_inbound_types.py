"""Every inbound WhatsApp type reaches the agent readably; nothing is silently dropped."""

from __future__ import annotations

from service.local import constants
from service.resources import connect_config_json
from tests.e2e.conftest import Sandbox, bridge_settings, text
from tests.support.bridge import RunningBridge
from tests.support.waiting import eventually


async def _upload(
    world: Sandbox, wa_id: str, data: bytes, mime: str, filename: str | None = None
) -> str:
    params = {"filename": filename} if filename else None
    response = await world.http.post(
        f"/sandbox/customers/{wa_id}/media",
        content=data,
        headers={"content-type": mime},
        params=params,
    )
    response.raise_for_status()
    media_id: str = response.json()["mediaId"]
    return media_id


async def test_every_inbound_type_is_rendered_for_the_agent(
    sim, resources, aws_clients, world: Sandbox
):
    # Stickers and reactions are ignored by default, as in the old sample; turn that off.
    await aws_clients.ssm.put_parameter(
        Name=resources.names.connect_config_parameter,
        Value=connect_config_json(
            instance_id=constants.CONNECT_INSTANCE_ID,
            contact_flow_id=constants.CONTACT_FLOW_ID,
            ignore_reactions=False,
            ignore_stickers=False,
        ),
        Type="String",
        Overwrite=True,
    )
    wa = "5215512345678"
    image = await _upload(world, wa, b"\x89PNG fake", "image/png")
    video = await _upload(world, wa, b"mp4", "video/mp4")
    voice = await _upload(world, wa, b"OggS", "audio/ogg")
    document = await _upload(world, wa, b"%PDF-1.4", "application/pdf", "factura.pdf")
    sticker = await _upload(world, wa, b"RIFF", "image/webp")
    async with RunningBridge(bridge_settings(resources, buffer_max_wait_s=20.0)):
        [first] = await world.send(wa, text("Here is everything"))
        await world.send(
            wa,
            {"type": "image", "image": {"id": image, "caption": "my receipt"}},
            {"type": "video", "video": {"id": video}},
            {"type": "audio", "audio": {"id": voice, "voice": True}},
            {"type": "document", "document": {"id": document, "filename": "factura.pdf"}},
            {"type": "sticker", "sticker": {"id": sticker}},
            {
                "type": "location",
                "location": {
                    "latitude": 19.4326,
                    "longitude": -99.1332,
                    "name": "Oficina",
                    "address": "Av. Reforma 1",
                },
            },
            {
                "type": "contacts",
                "contacts": [
                    {
                        "name": {"formatted_name": "Luis Pérez"},
                        "phones": [{"phone": "+52 55 1111 2222"}],
                    }
                ],
            },
            {
                "type": "interactive",
                "interactive": {
                    "type": "button_reply",
                    "button_reply": {"id": "yes", "title": "Sí, gracias"},
                },
            },
            {
                "type": "interactive",
                "interactive": {
                    "type": "list_reply",
                    "list_reply": {"id": "billing", "title": "Facturación"},
                },
            },
            {"type": "button", "button": {"text": "Track order", "payload": "TRACK"}},
            {"type": "reaction", "reaction": {"message_id": first, "emoji": "👍"}},
            {
                "type": "order",
                "order": {
                    "catalog_id": "c1",
                    "product_items": [
                        {
                            "product_retailer_id": "SKU-9",
                            "quantity": 2,
                            "item_price": 10.5,
                            "currency": "MXN",
                        }
                    ],
                },
            },
            {
                "type": "unsupported",
                "unsupported": {"type": "poll"},
                "errors": [{"code": 131051, "title": "Message type unknown"}],
            },
            text("quoting myself") | {"context": {"id": first}},
        )

        async def all_delivered():
            found = await world.customer_messages()
            joined = "\n".join(content for _, content in found)
            return joined if "quoting myself" in joined else None

        rendered = await eventually(all_delivered, timeout_s=40)
    for expected in (
        "Here is everything",
        "my receipt",
        "factura.pdf",
        "Oficina",
        "Av. Reforma 1",
        "19.4326",
        "Luis Pérez",
        "+52 55 1111 2222",
        "Sí, gracias",
        "Facturación",
        "Track order",
        "👍",
        "SKU-9",
        "quoting myself",
    ):
        assert expected in rendered, f"{expected!r} missing from what the agent saw"
    lowered = rendered.lower()
    for kind in ("image", "video", "voice", "sticker", "does not pass on (poll)", "replying to"):
        assert kind in lowered, f"no {kind} note in {rendered!r}"


async def test_a_customer_known_only_by_bsuid_gets_a_chat(bridge, world: Sandbox):
    await world.send("US.13491208655302741918", text("hi from a username"))

    async def delivered():
        return await world.contacts()

    [contact] = await eventually(delivered)
    assert contact["attributes"]["customerId"] == "US.13491208655302741918"
    assert [content for _, content in await world.customer_messages()] == ["hi from a username"]
