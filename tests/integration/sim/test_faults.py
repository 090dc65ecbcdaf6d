"""Injected faults: the next N calls or a fraction of calls fail with the modeled error."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError


async def _fault(kit, **body):
    answer = await kit.sandbox.post("/sandbox/faults", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_next_n_calls_fail_then_calls_succeed(kit, loose):
    _, token = await kit.connected_chat()
    await _fault(kit, operation="SendMessage", error="ThrottlingException", count=2)

    for _ in range(2):
        with pytest.raises(loose.participant.exceptions.ThrottlingException) as caught:
            await loose.participant.send_message(
                ConnectionToken=token, ContentType="text/plain", Content="x"
            )
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    await loose.participant.send_message(
        ConnectionToken=token, ContentType="text/plain", Content="x"
    )

    [rule] = (await kit.sandbox.get("/sandbox/faults")).json()["faults"]
    assert rule["injected"] == 2
    assert rule["remaining"] == 0


async def test_production_client_retries_through_a_single_throttle(kit):
    _, token = await kit.connected_chat()
    await _fault(kit, operation="SendMessage", error="ThrottlingException", count=1)
    answer = await kit.clients.participant.send_message(
        ConnectionToken=token, ContentType="text/plain", Content="x", ClientToken="retry-me"
    )
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1


async def test_rate_one_fails_every_call_until_cleared(kit, loose):
    await _fault(kit, operation="SendWhatsAppMessage", error="ThrottledRequestException", rate=1.0)
    for _ in range(3):
        with pytest.raises(loose.social.exceptions.ThrottledRequestException):
            await loose.social.send_whatsapp_message(
                originationPhoneNumberId="phone-number-id-x", message=b"{}", metaApiVersion="v20.0"
            )
    assert (await kit.sandbox.get("/sandbox/faults")).json()["faults"][0]["injected"] == 3
    await _fault(kit, action="clear")
    assert (await kit.sandbox.get("/sandbox/faults")).json()["faults"] == []


@pytest.mark.parametrize(
    ("operation", "error", "status"),
    [
        ("StartChatContact", "LimitExceededException", 429),  # declared: model says 429
        ("StartChatContact", "InternalServiceException", 500),
        ("CreateParticipantConnection", "InternalServerException", 500),
        ("SendMessage", "ServiceQuotaExceededException", 402),  # a participant error shape
        ("SendWhatsAppMessage", "DependencyException", 502),
        ("SendMessage", "TotallyMadeUpThrottlingException", 429),  # fallback table
    ],
)
async def test_injected_error_status_comes_from_the_model(kit, loose, operation, error, status):
    await _fault(kit, operation=operation, error=error, count=1)
    calls = {
        "StartChatContact": lambda: loose.connect.start_chat_contact(
            InstanceId="i", ContactFlowId="f", ParticipantDetails={"DisplayName": "A"}
        ),
        "CreateParticipantConnection": lambda: loose.participant.create_participant_connection(
            ParticipantToken="p", Type=["CONNECTION_CREDENTIALS"]
        ),
        "SendMessage": lambda: loose.participant.send_message(
            ConnectionToken="t", ContentType="text/plain", Content="x"
        ),
        "SendWhatsAppMessage": lambda: loose.social.send_whatsapp_message(
            originationPhoneNumberId="phone-number-id-x", message=b"{}", metaApiVersion="v1.0"
        ),
    }
    with pytest.raises(ClientError) as caught:
        await calls[operation]()
    assert caught.value.response["Error"]["Code"] == error
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


async def test_fault_for_one_service_does_not_hit_another(kit, loose):
    await _fault(
        kit, operation="SendMessage", error="ThrottlingException", count=1, service="connect"
    )
    _, token = await kit.connected_chat()
    await loose.participant.send_message(
        ConnectionToken=token, ContentType="text/plain", Content="x"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"operation": "SendMessage", "error": "ThrottlingException"},
        {"operation": "SendMessage", "error": "ThrottlingException", "count": 1, "rate": 0.5},
        {"operation": "SendMessage", "error": "ThrottlingException", "rate": 1.5},
        {"error": "ThrottlingException", "count": 1},
    ],
)
async def test_bad_fault_requests_are_refused(kit, body):
    answer = await kit.sandbox.post("/sandbox/faults", json=body)
    assert answer.status_code in {400, 422}
    assert (await kit.sandbox.get("/sandbox/faults")).json()["faults"] == []
