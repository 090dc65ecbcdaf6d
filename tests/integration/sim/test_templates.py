"""WhatsApp templates in the simulator, through the production `socialmessaging` client:
the three read operations on their real wire protocol, and template sends judged as Meta
judges them (accepted, then failed with 132001 or 132000)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.bridge.adapters.templates import TemplateCatalog
from service.errors import ConfigurationError
from service.local import constants
from tests.integration.sim.test_window import _send, _statuses

ORIGINATION = "phone-number-id-" + constants.EUM_PHONE_NUMBER_HEX
WABA = "waba-" + constants.EUM_WABA_HEX


@pytest.fixture
async def inbound(resources, kit):
    return resources.queue_url(resources.plan.inbound_queue.name)


async def test_a_number_names_its_business_account(kit):
    answer = await kit.clients.social.get_linked_whatsapp_business_account_phone_number(
        id=ORIGINATION
    )
    assert answer["linkedWhatsAppBusinessAccountId"] == WABA
    assert answer["phoneNumber"]["phoneNumberId"] == ORIGINATION
    assert answer["phoneNumber"]["metaPhoneNumberId"] == constants.BUSINESS_PHONE_NUMBER_ID
    with pytest.raises(kit.clients.social.exceptions.ResourceNotFoundException):
        await kit.clients.social.get_linked_whatsapp_business_account_phone_number(
            id="phone-number-id-0000"
        )


async def test_templates_are_listed_in_pages_and_read_one_by_one(kit):
    social = kit.clients.social
    first = await social.list_whatsapp_message_templates(id=WABA, maxResults=3)
    rest = await social.list_whatsapp_message_templates(
        id=constants.WABA_ARN, maxResults=3, nextToken=first["nextToken"]
    )
    assert "nextToken" not in rest
    summaries = first["templates"] + rest["templates"]
    assert {(t["templateName"], t["templateLanguage"], t["templateStatus"]) for t in summaries} == {
        ("reengage", "en_US", "APPROVED"),
        ("reengage", "es_MX", "APPROVED"),
        ("order_update", "en_US", "APPROVED"),
        ("welcome", "en_US", "APPROVED"),
        ("spring_sale", "en_US", "PENDING"),
    }
    answer = await social.get_whatsapp_message_template(
        id=WABA, templateName="order_update", templateLanguageCode="en_US"
    )
    definition = json.loads(answer["template"])
    assert [c["type"] for c in definition["components"]] == ["HEADER", "BODY", "FOOTER"]
    by_id = await social.get_whatsapp_message_template(id=WABA, metaTemplateId=definition["id"])
    assert json.loads(by_id["template"]) == definition
    with pytest.raises(social.exceptions.ResourceNotFoundException):
        await social.get_whatsapp_message_template(
            id=WABA, templateName="order_update", templateLanguageCode="fr_FR"
        )
    with pytest.raises(social.exceptions.ResourceNotFoundException):
        await social.list_whatsapp_message_templates(id="waba-0000")


def _template(name: str, language: str, *body: str) -> dict[str, Any]:
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    if body:
        parameters = [{"type": "text", "text": value} for value in body]
        template["components"] = [{"type": "body", "parameters": parameters}]
    return {"type": "template", "template": template}


async def test_template_sends_fail_later_as_meta_fails_them(kit, inbound):
    good = await _send(kit, _template("reengage", "es_MX", "Ana", "Sam"))
    unknown = await _send(kit, _template("reengage", "fr_FR", "Ana", "Sam"))
    pending = await _send(kit, _template("spring_sale", "en_US", "20%"))
    miscounted = await _send(kit, _template("reengage", "en_US", "Ana"))
    failed = {s["id"]: s["errors"][0]["code"] for s in _statuses(await kit.drain(inbound, 3))}
    assert failed == {unknown: 132001, pending: 132001, miscounted: 132000}
    await kit.assert_quiet(inbound)
    outbox = (await kit.sandbox.get("/sandbox/whatsapp/outbox")).json()["messages"]
    [sent] = [m for m in outbox if m["messageId"] == good]
    assert sent["rendered"].startswith("Hola Ana, Sam de nuestro equipo")


async def test_a_template_added_in_the_sandbox_is_listed_and_sendable(kit, inbound):
    added = await kit.sandbox.post(
        "/sandbox/templates",
        json={
            "name": "pickup",
            "language": "en_US",
            "components": [{"type": "BODY", "text": "Pick up {{1}} today"}],
        },
    )
    added.raise_for_status()
    listed = await kit.clients.social.list_whatsapp_message_templates(id=WABA)
    assert "pickup" in {t["templateName"] for t in listed["templates"]}
    await _send(kit, _template("pickup", "en_US", "B-7"))
    await kit.assert_quiet(inbound)


async def test_the_bridge_catalog_reads_the_simulated_account(kit):
    catalog = TemplateCatalog(social=kit.clients.social)
    templates = await catalog.templates(ORIGINATION)
    order = next(t for t in templates if t.name == "order_update")
    assert (order.header_parameters, order.body_parameters) == (1, 2)
    assert not next(t for t in templates if t.name == "spring_sale").approved
    with pytest.raises(ConfigurationError):
        await catalog.templates("phone-number-id-0000")
