"""The model-driven REST-JSON layer: validation, error wire format, routing.

Rejections are provoked through clients with botocore's client-side validation switched
off (`loose`), since botocore itself catches missing members before sending; the modeled
exception classes and HTTP statuses are what the production clients would raise.
"""

from __future__ import annotations

import httpx
import pytest
from botocore.exceptions import ClientError
from botocore.model import ServiceModel, StructureShape

from service.local import constants
from service.local.sim.protocol import ServiceCatalog
from service.local.sim.validation import summarize, validate
from service.local.sim.world import SERVED_OPERATIONS

ORIGINATION = "phone-number-id-" + constants.EUM_PHONE_NUMBER_HEX


def _error(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = caught.value.response
    return (
        response["Error"]["Code"],
        int(response["ResponseMetadata"]["HTTPStatusCode"]),
        response["Error"]["Message"],
    )


async def test_missing_required_member_connect_uses_invalid_parameter(loose):
    with pytest.raises(loose.connect.exceptions.InvalidParameterException) as caught:
        await loose.connect.start_chat_contact(
            ContactFlowId=constants.CONTACT_FLOW_ID, ParticipantDetails={}
        )
    code, status, message = _error(caught)
    assert (code, status) == ("InvalidParameterException", 400)
    assert message.startswith("2 validation errors detected: ")
    assert (
        "Value null at 'instanceId' failed to satisfy constraint: Member must not be null"
        in message
    )
    assert "'participantDetails.displayName'" in message


async def test_missing_required_member_participant_and_social(loose):
    with pytest.raises(loose.participant.exceptions.ValidationException) as participant:
        await loose.participant.send_message(ConnectionToken="t", ContentType="text/plain")
    assert _error(participant)[:2] == ("ValidationException", 400)
    assert "'content'" in _error(participant)[2]

    with pytest.raises(loose.social.exceptions.ValidationException) as social:
        await loose.social.send_whatsapp_message(
            originationPhoneNumberId=ORIGINATION, metaApiVersion="v20.0"
        )
    assert "'message'" in _error(social)[2]


async def test_too_long_member_is_rejected(kit):
    with pytest.raises(kit.clients.connect.exceptions.InvalidParameterException) as caught:
        await kit.start_chat(ParticipantDetails={"DisplayName": "x" * 257})
    assert "Member must have length less than or equal to 256" in _error(caught)[2]
    # Long values are not echoed back (they may be message text).
    assert "xxxx" not in _error(caught)[2]


async def test_bad_enum_is_rejected(kit):
    with pytest.raises(kit.clients.connect.exceptions.InvalidParameterException) as caught:
        await kit.start_chat(
            PersistentChat={"RehydrationType": "SOMETIMES", "SourceContactId": "c"}
        )
    assert "Value 'SOMETIMES' at 'persistentChat.rehydrationType'" in _error(caught)[2]


async def test_numeric_range_is_checked(kit):
    _, token = await kit.connected_chat()
    with pytest.raises(kit.clients.participant.exceptions.ValidationException) as caught:
        await kit.clients.participant.get_attachment(
            ConnectionToken=token, AttachmentId="a", UrlExpiryInSeconds=301
        )
    assert "Member must have value less than or equal to 300" in _error(caught)[2]


async def test_bad_pattern_is_rejected(kit):
    with pytest.raises(kit.clients.social.exceptions.ValidationException) as caught:
        await kit.clients.social.get_whatsapp_message_media(
            mediaId="123",
            originationPhoneNumberId=ORIGINATION,
            destinationS3File={"bucketName": "UPPER_CASE", "key": "k"},
        )
    assert "destinationS3File.bucketName" in _error(caught)[2]
    assert "regular expression pattern" in _error(caught)[2]


async def test_wrong_json_types_are_rejected(sandbox):
    answer = await sandbox.post(
        "/participant/message",
        json={"ContentType": 5, "Content": "x"},
        headers={"X-Amz-Bearer": "t"},
    )
    assert answer.status_code == 400
    assert answer.headers["x-amzn-errortype"] == "ValidationException"
    assert "Member must be a string" in answer.json()["Message"]


async def test_error_wire_format_matches_each_service(sandbox):
    connect = await sandbox.post("/contact/start-streaming", json={})
    assert connect.status_code == 400
    assert connect.headers["x-amzn-errortype"] == "InvalidParameterException"
    assert set(connect.json()) == {"Message"}  # Connect's error shapes say `Message`
    assert connect.headers["x-amzn-requestid"]

    social = await sandbox.post("/v1/whatsapp/send", json={})
    assert social.headers["x-amzn-errortype"] == "ValidationException"
    assert set(social.json()) == {"message"}  # EUM Social's say `message`


async def test_invalid_json_body_is_a_serialization_error(sandbox):
    answer = await sandbox.post(
        "/participant/message", content=b"{nope", headers={"X-Amz-Bearer": "t"}
    )
    assert answer.status_code == 400
    assert answer.headers["x-amzn-errortype"] == "SerializationException"


async def test_invalid_base64_blob_is_a_serialization_error(sandbox):
    answer = await sandbox.post(
        "/v1/whatsapp/send",
        json={"originationPhoneNumberId": ORIGINATION, "metaApiVersion": "v20.0", "message": "%%%"},
    )
    assert answer.status_code == 400
    assert answer.headers["x-amzn-errortype"] == "SerializationException"


async def test_unknown_paths_and_methods_are_unknown_operations(sandbox):
    for method, path in (("GET", "/contact/chat"), ("POST", "/no/such/thing")):
        answer = await sandbox.request(method, path)
        assert answer.status_code == 404
        assert answer.headers["x-amzn-errortype"] == "UnknownOperationException"


async def test_query_string_members_are_parsed(sandbox):
    answer = await sandbox.delete(
        "/v1/whatsapp/media", params={"mediaId": "12345", "originationPhoneNumberId": ORIGINATION}
    )
    assert answer.status_code == 404
    assert answer.headers["x-amzn-errortype"] == "ResourceNotFoundException"
    missing = await sandbox.delete("/v1/whatsapp/media", params={"mediaId": "12345"})
    assert missing.status_code == 400
    assert "'originationPhoneNumberId'" in missing.json()["message"]


def test_catalog_routes_exactly_the_served_operations():
    catalog = ServiceCatalog(SERVED_OPERATIONS)
    served = {(route.service_name, route.operation_name) for route in catalog.routes}
    expected = {
        (service, operation)
        for service, operations in SERVED_OPERATIONS.items()
        for operation in operations
    }
    assert served == expected
    assert len(expected) == 23


async def test_unsigned_participant_calls_are_accepted(kit, sim):
    chat = await kit.start_chat()
    # A raw call with only the bearer header, as the real participant service allows.
    async with httpx.AsyncClient(base_url=sim) as http:
        answer = await http.post(
            "/participant/connection",
            json={"Type": ["CONNECTION_CREDENTIALS"]},
            headers={"X-Amz-Bearer": chat["ParticipantToken"]},
        )
    assert answer.status_code == 200
    assert answer.json()["ConnectionCredentials"]["ConnectionToken"]


def _input_shape(shapes: dict[str, dict[str, object]]) -> StructureShape:
    model = ServiceModel({"metadata": {}, "operations": {}, "shapes": shapes})
    shape = model.shape_for("Input")
    assert isinstance(shape, StructureShape)
    return shape


def test_patterns_python_cannot_compile_are_skipped():
    shape = _input_shape(
        {
            "Input": {"type": "structure", "members": {"Name": {"shape": "Name"}}},
            "Name": {"type": "string", "pattern": r"^\p{L}+$"},
        }
    )
    assert validate(shape, {"Name": "anything at all 123"}) == []


def test_validation_reports_every_violation():
    shape = _input_shape(
        {
            "Input": {
                "type": "structure",
                "required": ["A"],
                "members": {"A": {"shape": "Short"}, "B": {"shape": "Count"}},
            },
            "Short": {"type": "string", "max": 2},
            "Count": {"type": "integer", "min": 1},
        }
    )
    errors = validate(shape, {"A": "abc", "B": 0})
    assert len(errors) == 2
    assert summarize(errors).startswith("2 validation errors detected: Value 'abc' at 'a'")
    assert validate(shape, {}) == [
        "Value null at 'a' failed to satisfy constraint: Member must not be null"
    ]
