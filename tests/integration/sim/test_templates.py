"""WhatsApp message templates in the simulator: EUM Social's template and phone-number
operations through the real aiobotocore client, the sandbox's template routes, and template
sends that Meta accepts, then fails later with 132001 / 132000 / 132012."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from service.bridge.adapters.templates import TemplateCatalog
from service.errors import ConfigurationError
from service.local import constants
from tests.support.eum import statuses_in

ORIGINATION = "phone-number-id-" + constants.EUM_PHONE_NUMBER_HEX
EUM_WABA_ID = "waba-" + constants.EUM_WABA_HEX
WA_ID = "5215512345678"
SEEDED = [
    ("reengage", "en_US", "UTILITY", "APPROVED"),
    ("reengage", "es_MX", "UTILITY", "APPROVED"),
    ("order_update", "en_US", "UTILITY", "APPROVED"),
    ("welcome", "en_US", "MARKETING", "APPROVED"),
    ("spring_sale", "en_US", "MARKETING", "PENDING"),
]


def _code(error: ClientError) -> tuple[str, int]:
    return (
        error.response["Error"]["Code"],
        int(error.response["ResponseMetadata"]["HTTPStatusCode"]),
    )


@pytest.fixture
async def inbound(resources, kit):
    return resources.queue_url(resources.plan.inbound_queue.name)


async def _list(kit, **params: Any) -> dict[str, Any]:
    answer: dict[str, Any] = await kit.clients.social.list_whatsapp_message_templates(
        id=EUM_WABA_ID, **params
    )
    return answer


async def _all_templates(kit, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    token: dict[str, str] = {}
    while True:
        page = await _list(kit, **params, **token)
        found += page["templates"]
        if "nextToken" not in page:
            return found
        token = {"nextToken": page["nextToken"]}


def _params(kind: str, *values: str) -> dict[str, Any]:
    return {"type": kind, "parameters": [{"type": "text", "text": value} for value in values]}


async def _send_template(
    kit, name: str, language: str = "en_US", components: list[dict[str, Any]] | None = None
) -> str:
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    if components is not None:
        template["components"] = components
    message = {"messaging_product": "whatsapp", "to": "+" + WA_ID, "type": "template"}
    answer = await kit.clients.social.send_whatsapp_message(
        originationPhoneNumberId=ORIGINATION,
        message=json.dumps({**message, "template": template}).encode(),
        metaApiVersion="v20.0",
    )
    message_id: str = answer["messageId"]
    return message_id


async def _outbox(kit) -> dict[str, dict[str, Any]]:
    entries = (await kit.sandbox.get("/sandbox/whatsapp/outbox")).json()["messages"]
    return {entry["messageId"]: entry for entry in entries}


# ---------------------------------------------------------------- ListWhatsAppMessageTemplates


async def test_the_default_waba_lists_its_seeded_templates(kit):
    answer = await _list(kit)

    templates = answer["templates"]
    assert "nextToken" not in answer
    assert [
        (t["templateName"], t["templateLanguage"], t["templateCategory"], t["templateStatus"])
        for t in templates
    ] == SEEDED
    assert all(t["metaTemplateId"].isdigit() for t in templates)
    assert len({t["metaTemplateId"] for t in templates}) == len(SEEDED)
    assert {t["templateQualityScore"] for t in templates} == {"UNKNOWN"}


async def test_the_waba_arn_names_the_same_waba_and_ids_are_stable_across_resets(kit):
    by_id = (await _list(kit))["templates"]
    reset = await kit.sandbox.post("/sandbox/reset")
    reset.raise_for_status()
    by_arn = await kit.clients.social.list_whatsapp_message_templates(id=constants.WABA_ARN)
    assert by_arn["templates"] == by_id


async def test_templates_are_paged_with_an_opaque_token(kit):
    first = await _list(kit, maxResults=2)
    assert [t["templateName"] for t in first["templates"]] == ["reengage", "reengage"]
    second = await _list(kit, maxResults=2, nextToken=first["nextToken"])
    third = await _list(kit, maxResults=2, nextToken=second["nextToken"])

    assert [t["templateName"] for t in second["templates"]] == ["order_update", "welcome"]
    assert [t["templateName"] for t in third["templates"]] == ["spring_sale"]
    assert "nextToken" not in third
    assert await _all_templates(kit, maxResults=1) == (await _list(kit))["templates"]


async def test_a_token_that_is_not_the_simulators_is_a_validation_error(kit):
    social = kit.clients.social
    with pytest.raises(social.exceptions.ValidationException) as caught:
        await _list(kit, nextToken="not-a-token")
    assert _code(caught.value) == ("ValidationException", 400)


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"id": EUM_WABA_ID, "maxResults": 0}, "'maxResults'"),
        ({"id": EUM_WABA_ID, "maxResults": 101}, "'maxResults'"),
        ({"id": "123456"}, "'id'"),
        ({}, "'id'"),
    ],
)
async def test_the_model_constraints_are_checked_by_the_server(loose, params, where):
    with pytest.raises(loose.social.exceptions.ValidationException) as caught:
        await loose.social.list_whatsapp_message_templates(**params)
    assert where in caught.value.response["Error"]["Message"]


async def test_an_unknown_waba_is_not_found(kit):
    social = kit.clients.social
    for waba in ("waba-0123456789abcdef", constants.WABA_ARN.replace("/f9", "/00")):
        with pytest.raises(social.exceptions.ResourceNotFoundException) as caught:
            await social.list_whatsapp_message_templates(id=waba)
        assert _code(caught.value) == ("ResourceNotFoundException", 404)


# ---------------------------------------------------------------- GetWhatsAppMessageTemplate


ORDER_UPDATE_COMPONENTS = [
    {
        "type": "HEADER",
        "format": "TEXT",
        "text": "Order {{1}}",
        "example": {"header_text": ["A-123"]},
    },
    {
        "type": "BODY",
        "text": "Your order {{1}} is {{2}}.",
        "example": {"body_text": [["A-123", "on its way"]]},
    },
    {"type": "FOOTER", "text": "Reply STOP to opt out"},
]


async def test_a_template_by_name_and_language_is_metas_template_object(kit):
    listed = {
        (t["templateName"], t["templateLanguage"]): t for t in (await _list(kit))["templates"]
    }

    answer = await kit.clients.social.get_whatsapp_message_template(
        id=EUM_WABA_ID, templateName="order_update", templateLanguageCode="en_US"
    )

    assert json.loads(answer["template"]) == {
        "name": "order_update",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": listed["order_update", "en_US"]["metaTemplateId"],
        "parameter_format": "POSITIONAL",
        "components": ORDER_UPDATE_COMPONENTS,
    }


async def test_a_template_by_meta_id_carries_its_buttons(kit):
    listed = {
        (t["templateName"], t["templateLanguage"]): t for t in (await _list(kit))["templates"]
    }
    meta_id = listed["reengage", "en_US"]["metaTemplateId"]

    answer = await kit.clients.social.get_whatsapp_message_template(
        id=constants.WABA_ARN, metaTemplateId=meta_id
    )

    template = json.loads(answer["template"])
    assert (template["name"], template["language"], template["id"]) == (
        "reengage",
        "en_US",
        meta_id,
    )
    body, buttons = template["components"]
    assert body["text"].startswith("Hello {{1}}, {{2}} from our team has replied")
    assert body["example"] == {"body_text": [["Ana", "Sam"]]}
    assert buttons == {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Continue"}]}


@pytest.mark.parametrize(
    "params",
    [
        {"templateName": "welcome", "templateLanguageCode": "es_MX"},
        {"templateName": "goodbye", "templateLanguageCode": "en_US"},
        {"metaTemplateId": "999"},
    ],
)
async def test_a_template_that_is_not_there_is_not_found(kit, params):
    social = kit.clients.social
    with pytest.raises(social.exceptions.ResourceNotFoundException) as caught:
        await social.get_whatsapp_message_template(id=EUM_WABA_ID, **params)
    assert _code(caught.value) == ("ResourceNotFoundException", 404)


async def test_a_template_of_an_unknown_waba_is_not_found(kit):
    social = kit.clients.social
    with pytest.raises(social.exceptions.ResourceNotFoundException):
        await social.get_whatsapp_message_template(
            id="waba-0123", templateName="welcome", templateLanguageCode="en_US"
        )


async def test_a_name_without_its_language_is_an_invalid_parameter(kit):
    social = kit.clients.social
    with pytest.raises(social.exceptions.InvalidParametersException) as caught:
        await social.get_whatsapp_message_template(id=EUM_WABA_ID, templateName="welcome")
    assert _code(caught.value) == ("InvalidParametersException", 400)


# ---------------------------------------------------------------- the linked phone number


EXPECTED_NUMBER = {
    "arn": constants.BUSINESS_PHONE_NUMBER_ARN,
    "phoneNumber": "+" + constants.BUSINESS_DISPLAY_NUMBER,
    "phoneNumberId": ORIGINATION,
    "metaPhoneNumberId": constants.BUSINESS_PHONE_NUMBER_ID,
    "displayPhoneNumberName": "Sandbox Business",
    "displayPhoneNumber": constants.BUSINESS_DISPLAY_NUMBER,
    "qualityRating": "GREEN",
}


@pytest.mark.parametrize("number", [ORIGINATION, constants.BUSINESS_PHONE_NUMBER_ARN])
async def test_the_business_number_details_name_its_waba(kit, number):
    answer = await kit.clients.social.get_linked_whatsapp_business_account_phone_number(id=number)
    assert answer["phoneNumber"] == EXPECTED_NUMBER
    assert answer["linkedWhatsAppBusinessAccountId"] == EUM_WABA_ID


async def test_an_unknown_phone_number_is_not_found(kit, loose):
    social = kit.clients.social
    with pytest.raises(social.exceptions.ResourceNotFoundException) as caught:
        await social.get_linked_whatsapp_business_account_phone_number(
            id="phone-number-id-0000ffff"
        )
    assert _code(caught.value) == ("ResourceNotFoundException", 404)
    with pytest.raises(loose.social.exceptions.ValidationException):
        await loose.social.get_linked_whatsapp_business_account_phone_number(id="+15550001111")


# ---------------------------------------------------------------- the sandbox's templates


CUSTOM = {
    "name": "appointment",
    "language": "es_MX",
    "category": "UTILITY",
    "components": [
        {"type": "HEADER", "format": "TEXT", "text": "Cita {{1}}"},
        {"type": "BODY", "text": "{{1}}, tu cita es el {{2}} a las {{3}}."},
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Confirmar"}]},
    ],
}


async def test_the_sandbox_shows_every_template_with_its_definition(kit):
    templates = (await kit.sandbox.get("/sandbox/templates")).json()["templates"]

    assert [(t["templateName"], t["templateLanguage"]) for t in templates] == [
        (name, language) for name, language, _, _ in SEEDED
    ]
    welcome = templates[3]
    assert welcome["wabaId"] == constants.WABA_ID
    assert welcome["definition"]["components"] == [
        {"type": "BODY", "text": "Welcome to our store! How can we help?"}
    ]


async def test_a_template_added_in_the_sandbox_is_listed_sent_and_forgotten_on_reset(kit):
    added = await kit.sandbox.post("/sandbox/templates", json=CUSTOM)
    assert added.status_code == 200, added.text
    meta_id = added.json()["metaTemplateId"]
    assert added.json()["templateStatus"] == "APPROVED"

    listed = await _list(kit)
    fetched = await kit.clients.social.get_whatsapp_message_template(
        id=EUM_WABA_ID, metaTemplateId=meta_id
    )
    sent = await _send_template(
        kit,
        "appointment",
        "es_MX",
        [_params("header", "#42"), _params("body", "Ana", "lunes", "10:00")],
    )

    assert listed["templates"][-1]["templateName"] == "appointment"
    assert json.loads(fetched["template"])["components"] == CUSTOM["components"]
    assert (await _outbox(kit))[sent][
        "rendered"
    ] == "Cita #42\nAna, tu cita es el lunes a las 10:00."
    await kit.sandbox.post("/sandbox/reset")
    assert [t["templateName"] for t in (await _list(kit))["templates"]][-1] == "spring_sale"


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"name": "reengage", "language": "en_US"}, 409, "already exists"),
        ({"name": "Appointment"}, 400, "lower-case"),
        ({"language": "spanish"}, 400, "language code"),
        ({"components": [{"type": "BODY", "text": "{{2}} then {{1}}"}]}, 400, "in order"),
        ({"components": [{"type": "HEADER", "format": "TEXT", "text": "Hi"}]}, 400, "BODY"),
        ({"components": [{"type": "BODY", "text": "x"}] * 2}, 400, "at most one BODY"),
        ({"wabaId": "999"}, 404, "WABA 999"),
        ({"category": "PROMOTION"}, 422, "category"),
    ],
)
async def test_a_template_meta_would_refuse_is_not_added(kit, change, status, says):
    answer = await kit.sandbox.post("/sandbox/templates", json={**CUSTOM, **change})
    assert answer.status_code == status
    assert says in answer.text


# ---------------------------------------------------------------- template sends


async def test_an_approved_template_with_its_parameters_is_delivered_as_rendered(kit, inbound):
    reengage = await _send_template(kit, "reengage", components=[_params("body", "Ana", "Sam")])
    spanish = await _send_template(kit, "reengage", "es_MX", [_params("BODY", "Ana", "Sam")])
    order = await _send_template(
        kit, "order_update", components=[_params("header", "A-9"), _params("body", "A-9", "ready")]
    )
    welcome = await _send_template(kit, "welcome")
    bad = await _send_template(kit, "welcome", components=[_params("body", "extra")])

    outbox = await _outbox(kit)
    assert outbox[reengage]["rendered"] == (
        "Hello Ana, Sam from our team has replied to your message. "
        "Reply to this message to continue the conversation."
    )
    assert outbox[spanish]["rendered"].startswith("Hola Ana, Sam de nuestro equipo")
    assert outbox[order]["rendered"] == "Order A-9\nYour order A-9 is ready."
    assert outbox[welcome]["rendered"] == "Welcome to our store! How can we help?"
    assert outbox[bad]["rendered"] is None
    # Statuses come out in send order: only the last send's failure has arrived.
    [failed] = statuses_in(await kit.drain(inbound, 1))
    assert failed["id"] == bad
    await kit.assert_quiet(inbound)


_HEADER_IMAGE = {"type": "header", "parameters": [{"type": "image", "image": {"id": "1"}}]}
# (template, language, components of the send), Meta's later error code, its details.
UNSENDABLE = {
    "unknown_name": (
        ("hello_world", "en_US", None),
        132001,
        "template name (hello_world) does not exist in en_US",
    ),
    "unknown_language": (
        ("welcome", "es_MX", None),
        132001,
        "template name (welcome) does not exist in es_MX",
    ),
    "pending": (("spring_sale", "en_US", [_params("body", "20%")]), 132001, "is PENDING in en_US"),
    "too_few_body_params": (
        ("reengage", "en_US", [_params("body", "Ana")]),
        132000,
        "body: number of localizable_params (1) does not match the expected number of params (2)",
    ),
    "no_components": (
        ("reengage", "en_US", None),
        132000,
        "body: number of localizable_params (0)",
    ),
    "header_param_missing": (
        ("order_update", "en_US", [_params("body", "A-9", "ready")]),
        132000,
        "header: number of localizable_params (0) does not match the expected number of params (1)",
    ),
    "image_for_a_text_header": (
        ("order_update", "en_US", [_HEADER_IMAGE, _params("body", "A-9", "ready")]),
        132012,
        "header: a text placeholder takes a text, currency or date_time parameter",
    ),
}


@pytest.mark.parametrize("case", UNSENDABLE)
async def test_a_template_meta_cannot_send_is_accepted_then_fails(kit, inbound, case):
    (name, language, components), code, details = UNSENDABLE[case]
    sent = await _send_template(kit, name, language, components)

    assert sent.startswith("wamid.")
    [failed] = statuses_in(await kit.drain(inbound, 1))
    assert (failed["id"], failed["status"]) == (sent, "failed")
    [error] = failed["errors"]
    assert error["code"] == code
    assert details in error["error_data"]["details"]
    assert (await _outbox(kit))[sent]["rendered"] is None


async def test_templates_are_the_senders_wabas(kit, inbound):
    """A number of another WABA does not see the default WABA's templates."""
    other = "arn:aws:social-messaging:us-east-1:000000000000:phone-number-id/aaaa0001"
    added = await kit.sandbox.post(
        "/sandbox/config",
        json={
            "add_business_numbers": [
                {
                    "phone_number_id": "300000000000003",
                    "display_phone_number": "15550002222",
                    "arn": other,
                    "waba_id": "100000000000009",
                    "waba_arn": "arn:aws:social-messaging:us-east-1:000000000000:waba/bbbb0009",
                }
            ]
        },
    )
    added.raise_for_status()
    message = {
        "messaging_product": "whatsapp",
        "to": "+" + WA_ID,
        "type": "template",
        "template": {"name": "welcome", "language": {"code": "en_US"}},
    }
    sent = await kit.clients.social.send_whatsapp_message(
        originationPhoneNumberId=other, message=json.dumps(message).encode(), metaApiVersion="v20.0"
    )

    [failed] = statuses_in(await kit.drain(inbound, 1))
    assert (failed["id"], failed["errors"][0]["code"]) == (sent["messageId"], 132001)
    listed = await kit.clients.social.list_whatsapp_message_templates(id="waba-bbbb0009")
    assert listed["templates"] == []
    details = await kit.clients.social.get_linked_whatsapp_business_account_phone_number(
        id="phone-number-id-aaaa0001"
    )
    assert details["linkedWhatsAppBusinessAccountId"] == "waba-bbbb0009"


async def test_the_bridges_catalog_reads_the_simulated_account(kit):
    """`adapters/templates.py` through the production client: account, list, definitions."""
    catalog = TemplateCatalog(social=kit.clients.social)
    number = await catalog.number(ORIGINATION)
    assert number.waba_id == EUM_WABA_ID
    assert number.meta_phone_number_id == constants.BUSINESS_PHONE_NUMBER_ID
    templates = await catalog.templates(ORIGINATION)
    order = next(t for t in templates if t.name == "order_update")
    assert (order.header_parameters, order.body_parameters) == (1, 2)
    assert not next(t for t in templates if t.name == "spring_sale").approved
    with pytest.raises(ConfigurationError):
        await catalog.templates("phone-number-id-0000")
