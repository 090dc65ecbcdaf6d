"""The delivery ledger records, atomically, which messages went to Connect in which parts."""

import pytest

from service.bridge.adapters.ledger import (
    MAX_MESSAGES_PER_DELIVERY,
    DeliveryLedger,
    delivery_token,
)
from service.errors import ConditionFailedError

CUSTOMER = "200000000000002#5215512345678"


@pytest.fixture
def ledger(resources, aws_clients):
    return DeliveryLedger(dynamodb=aws_clients.dynamodb, table=resources.names.idempotency_table)


async def test_unknown_messages_are_unrecorded(ledger):
    assert await ledger.recorded(CUSTOMER, ["m1", "m2"]) == {}


async def test_an_open_delivery_claims_each_message_and_keeps_its_parts(ledger):
    opened = await ledger.open(CUSTOMER, ["m1", "m2"], ["Hello\nI need help"])
    found = await ledger.recorded(CUSTOMER, ["m1", "m2", "m3"])
    assert set(found) == {"m1", "m2"}
    assert found["m1"] == opened
    assert found["m1"].parts == ("Hello\nI need help",)
    assert found["m1"].complete is False


async def test_progress_and_completion_are_visible_to_a_later_reader(ledger):
    opened = await ledger.open(CUSTOMER, ["m1"], ["a", "b", "c"])
    await ledger.advance(opened, 2, contact_id="contact-1")
    [resumed] = (await ledger.recorded(CUSTOMER, ["m1"])).values()
    assert resumed.progress == 2
    assert resumed.contact_id == "contact-1"
    await ledger.complete(resumed)
    [done] = (await ledger.recorded(CUSTOMER, ["m1"])).values()
    assert done.complete is True
    assert done.progress == 3


async def test_the_last_parts_progress_and_the_completion_are_one_write(ledger):
    opened = await ledger.open(CUSTOMER, ["m1"], ["a", "b"])
    returned = await ledger.advance(opened, 2, contact_id="contact-1", complete=True)
    assert returned.complete is True
    [done] = (await ledger.recorded(CUSTOMER, ["m1"])).values()
    assert (done.complete, done.progress, done.contact_id) == (True, 2, "contact-1")
    with pytest.raises(ValueError, match="every part"):
        await ledger.advance(opened, 1, contact_id=None, complete=True)


async def test_a_message_can_be_claimed_only_once(ledger):
    await ledger.open(CUSTOMER, ["m1", "m2"], ["x"])
    with pytest.raises(ConditionFailedError):
        await ledger.open(CUSTOMER, ["m2", "m3"], ["y"])
    # The failed transaction claimed nothing: m3 is still free.
    assert set(await ledger.recorded(CUSTOMER, ["m3"])) == set()


async def test_the_same_messages_of_another_customer_are_independent(ledger):
    await ledger.open(CUSTOMER, ["m1"], ["x"])
    other = "200000000000002#5215500000000"
    assert await ledger.recorded(other, ["m1"]) == {}
    await ledger.open(other, ["m1"], ["y"])


async def test_tokens_are_deterministic_and_distinct(ledger):
    assert delivery_token(CUSTOMER, ["m1", "m2"]) == delivery_token(CUSTOMER, ["m1", "m2"])
    assert delivery_token(CUSTOMER, ["m1", "m2"]) != delivery_token(CUSTOMER, ["m1"])
    opened = await ledger.open(CUSTOMER, ["m1"], ["a", "b"])
    tokens = {opened.part_token(0), opened.part_token(1), opened.start_token(0)}
    assert len(tokens) == 3
    assert all(len(t) <= 64 for t in tokens)


async def test_a_delivery_is_bounded_by_the_transaction_size(ledger):
    ids = [f"m{i}" for i in range(MAX_MESSAGES_PER_DELIVERY)]
    await ledger.open(CUSTOMER, ids, ["x"])
    assert len(await ledger.recorded(CUSTOMER, ids)) == MAX_MESSAGES_PER_DELIVERY
    with pytest.raises(ValueError, match=r"1\.\.99"):
        await ledger.open(CUSTOMER, [*ids, "one-more"], ["x"])
