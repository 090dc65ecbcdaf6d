"""`SendClaims` against the idempotency table of the embedded AWS (moto)."""

import pytest
from prometheus_client import CollectorRegistry

from service.aws import AwsClients
from service.aws_requests import count_requests
from service.bridge.adapters.claims import (
    Claim,
    ClaimState,
    SendClaims,
    SentMessage,
    callback_data,
    claim_key_of,
)
from tests.support.clock import FakeClock

NOW = 1_772_360_000.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall_start=NOW)


@pytest.fixture
def claims(aws_clients: AwsClients, resources, clock: FakeClock) -> SendClaims:
    return SendClaims(
        dynamodb=aws_clients.dynamodb,
        table=resources.names.idempotency_table,
        in_progress_s=60,
        clock=clock,
    )


async def test_the_first_claim_wins_and_a_second_waits(claims: SendClaims):
    assert await claims.claim("item-1#0") == Claim(ClaimState.CLAIMED)
    assert await claims.claim("item-1#0") == Claim(ClaimState.IN_PROGRESS)
    assert await claims.claim("item-1#1") == Claim(ClaimState.CLAIMED)


async def test_a_completed_claim_reads_as_sent_with_its_whatsapp_id(claims: SendClaims):
    await claims.claim("item-1#0")
    await claims.complete("item-1#0", whatsapp_message_id="wamid.A")
    assert await claims.claim("item-1#0") == Claim(ClaimState.SENT, "wamid.A")


async def test_an_expired_in_progress_claim_is_taken_over(claims: SendClaims, clock: FakeClock):
    await claims.claim("item-1#0")
    clock.tick(59)
    assert (await claims.claim("item-1#0")).state is ClaimState.IN_PROGRESS
    clock.tick(2)
    assert (await claims.claim("item-1#0")).state is ClaimState.CLAIMED


async def test_a_released_claim_can_be_claimed_again_but_a_complete_one_stays(
    claims: SendClaims,
):
    await claims.claim("a")
    await claims.release("a")
    assert (await claims.claim("a")).state is ClaimState.CLAIMED
    await claims.complete("a", whatsapp_message_id=None)
    await claims.release("a")  # too late: it is settled
    assert await claims.claim("a") == Claim(ClaimState.SENT, None)


def _sent(wamid: str, item_id: str, text: str) -> SentMessage:
    return SentMessage(
        whatsapp_message_id=wamid,
        initial_contact_id="ic-1",
        connect_item_id=item_id,
        customer_key="biz#cust",
        message={"type": "text", "text": {"body": text}},
    )


async def test_sent_messages_are_found_by_whatsapp_id(claims: SendClaims):
    sent = _sent("wamid.B", "item-9", "hola ñ")
    await claims.remember(sent)
    assert await claims.sent("wamid.B") == sent
    assert await claims.sent("wamid.unknown") is None


async def test_completing_a_send_and_remembering_its_message_is_one_request(
    claims: SendClaims, aws_clients: AwsClients
):
    sent = _sent("wamid.C", "item-10", "on its way")
    assert await claims.claim("item-10#0") == Claim(ClaimState.CLAIMED)
    registry = CollectorRegistry()
    count_requests(aws_clients, registry)

    await claims.complete("item-10#0", whatsapp_message_id="wamid.C", sent=sent)

    def requests(operation: str) -> float:
        labels = {"service": "dynamodb", "operation": operation}
        return registry.get_sample_value("bridge_aws_requests_total", labels) or 0.0

    assert (requests("BatchWriteItem"), requests("PutItem")) == (1.0, 0.0)
    assert await claims.claim("item-10#0") == Claim(ClaimState.SENT, "wamid.C")
    assert await claims.sent("wamid.C") == sent


async def test_a_claim_left_in_progress_is_settled_once_from_a_status(
    claims: SendClaims, clock: FakeClock
):
    await claims.claim("item-9#0")  # then the task was killed after WhatsApp took it
    assert await claims.settle("item-9#0", whatsapp_message_id="wamid.S") is True
    assert await claims.settle("item-9#0", whatsapp_message_id="wamid.S") is False
    clock.tick(120)  # long past the in-progress expiry: still not sent again
    assert await claims.claim("item-9#0") == Claim(ClaimState.SENT, "wamid.S")
    # A status can neither invent a claim nor overwrite a completed one.
    assert await claims.settle("never-claimed", whatsapp_message_id="wamid.X") is False
    await claims.claim("item-9#1")
    await claims.complete("item-9#1", whatsapp_message_id="wamid.OWN")
    assert await claims.settle("item-9#1", whatsapp_message_id="wamid.X") is False
    assert await claims.claim("item-9#1") == Claim(ClaimState.SENT, "wamid.OWN")


def test_callback_data_names_the_claim_and_only_the_bridges_is_read_back():
    data = callback_data("item-9#0")
    assert data is not None
    assert claim_key_of(data) == "item-9#0"
    assert claim_key_of("someone else's data") is None
    assert claim_key_of(None) is None
    assert callback_data("k" * 600) is None  # over Meta's 512 characters: sent without
