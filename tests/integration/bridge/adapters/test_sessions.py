"""`SessionStore` against the sessions table of the embedded AWS (moto)."""

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from prometheus_client import CollectorRegistry

from service.aws import AwsClients
from service.aws_requests import count_requests
from service.bridge.adapters.sessions import (
    HeldMessage,
    HoldResult,
    Outreach,
    Session,
    SessionStore,
    session_expiry,
)
from service.errors import ConditionFailedError, ConfigurationError
from tests.support.clock import FakeClock

BUSINESS = "200000000000002"
NOW = 1_772_360_000


@pytest.fixture
def clock():
    return FakeClock(wall_start=NOW)


@pytest.fixture
def store(aws_clients: AwsClients, resources, clock) -> SessionStore:
    return SessionStore(
        dynamodb=aws_clients.dynamodb, table=resources.names.sessions_table, clock=clock
    )


def _session(wa_id: str | None = "5215512345678", contact: str = "c-1", **fields) -> Session:
    values: dict[str, Any] = {
        "customer_key": f"{BUSINESS}#{wa_id}",
        "contact_id": contact,
        "initial_contact_id": contact,
        "participant_id": f"p-{contact}",
        "participant_token": f"ptok-{contact}",
        "display_name": "Ana",
        "business_phone_number_id": BUSINESS,
        "origination_id": "phone-number-id-bbbb2222",
        "last_customer_message_at": NOW - 5,
        "expires_at": session_expiry(NOW, 24 * 60),
        "wa_id": wa_id,
        "bsuid": "MX.1234567890",
        "connection_token": f"ctok-{contact}",
        "connection_expires_at": NOW + 86400,
        "streaming_id": f"s-{contact}",
    }
    values.update(fields)
    return Session(**values)


async def _raw_item(aws_clients: AwsClients, resources, pk: str):
    response = await aws_clients.dynamodb.get_item(
        TableName=resources.names.sessions_table, Key={"pk": {"S": pk}}, ConsistentRead=True
    )
    return response.get("Item")


async def test_create_then_get_round_trips_every_field(store, clock):
    session = _session()

    stored = await store.create(session)

    assert stored == replace(session, version=1, created_at=NOW, updated_at=NOW)
    assert await store.get(session.customer_key) == stored
    assert await store.get(f"{BUSINESS}#5215500000000") is None


async def test_optional_fields_may_be_absent(store):
    session = _session(
        wa_id=None,
        customer_key=f"{BUSINESS}#MX.1234567890",
        connection_token=None,
        connection_expires_at=None,
        streaming_id=None,
    )

    stored = await store.create(session)

    assert await store.get(session.customer_key) == stored


async def test_both_items_carry_the_ttl_attribute(store, aws_clients, resources):
    session = _session()
    await store.create(session)

    session_item = await _raw_item(aws_clients, resources, f"session#{session.customer_key}")
    contact_item = await _raw_item(aws_clients, resources, "contact#c-1")

    expected = str(NOW + 24 * 3600 + 3600)
    assert session_item["expires_at"] == {"N": expected}
    assert contact_item["expires_at"] == {"N": expected}
    assert contact_item["customer_key"] == {"S": session.customer_key}
    description = await aws_clients.dynamodb.describe_time_to_live(
        TableName=resources.names.sessions_table
    )
    assert description["TimeToLiveDescription"]["AttributeName"] == "expires_at"


async def test_a_second_create_for_the_same_customer_conflicts(store, aws_clients, resources):
    await store.create(_session(contact="c-1"))

    with pytest.raises(ConditionFailedError):
        await store.create(_session(contact="c-2"))

    # The transaction wrote nothing: no mapping for the losing contact.
    assert await _raw_item(aws_clients, resources, "contact#c-2") is None
    assert (await store.get(_session().customer_key)).contact_id == "c-1"


async def test_replacing_needs_the_version_that_was_read(store, aws_clients, resources, clock):
    first = await store.create(_session(contact="c-1"))
    clock.tick(60)

    second = await store.create(_session(contact="c-2"), replacing=first)

    assert second.version == 2
    assert second.created_at == NOW + 60
    assert await store.get(first.customer_key) == second
    assert await _raw_item(aws_clients, resources, "contact#c-1") is None
    assert await store.find_by_initial_contact("c-2") == second
    with pytest.raises(ConditionFailedError):
        await store.create(_session(contact="c-3"), replacing=first)
    assert await _raw_item(aws_clients, resources, "contact#c-3") is None


async def test_update_connection_is_optimistic(store, clock):
    created = await store.create(_session())
    clock.tick(10)

    updated = await store.update_connection(
        created.customer_key,
        connection_token="ctok-new",
        connection_expires_at=NOW + 2 * 86400,
        expected_version=created.version,
    )

    assert updated == replace(
        created,
        connection_token="ctok-new",
        connection_expires_at=NOW + 2 * 86400,
        updated_at=NOW + 10,
        version=2,
    )
    assert await store.get(created.customer_key) == updated
    with pytest.raises(ConditionFailedError):
        await store.update_connection(
            created.customer_key,
            connection_token="ctok-stale",
            connection_expires_at=NOW,
            expected_version=created.version,
        )
    with pytest.raises(ConditionFailedError):
        await store.update_connection(
            f"{BUSINESS}#5215500000000",
            connection_token="ctok-x",
            connection_expires_at=NOW,
            expected_version=1,
        )
    assert (await store.get(created.customer_key)).connection_token == "ctok-new"


async def test_touch_only_moves_forward_and_never_creates(store):
    created = await store.create(_session())
    key = created.customer_key

    assert await store.touch(key, NOW + 100) is True
    assert await store.touch(key, NOW + 50) is False
    assert await store.touch(f"{BUSINESS}#5215500000000", NOW) is False
    # Within one second, EUM's publication time decides.
    assert await store.touch(key, NOW + 100, published_ns=2_000) is True
    assert await store.touch(key, NOW + 100, published_ns=1_000) is False
    assert await store.touch(key, NOW + 100, published_ns=2_000) is False
    stored = await store.get(key)
    assert stored is not None
    assert (stored.last_customer_message_at, stored.last_customer_published_ns) == (
        NOW + 100,
        2_000,
    )

    current = await store.get(key)
    assert current.last_customer_message_at == NOW + 100
    assert current.version == created.version
    assert await store.get(f"{BUSINESS}#5215500000000") is None


async def test_find_by_initial_contact(store):
    created = await store.create(_session(contact="c-1"))

    assert await store.find_by_initial_contact("c-1") == created
    assert await store.find_by_initial_contact("c-unknown") is None


async def test_a_contacts_customer_is_read_once(store, aws_clients):
    created = await store.create(_session(contact="c-1"))
    registry = CollectorRegistry()
    count_requests(aws_clients, registry)

    for _ in range(3):
        assert await store.find_by_initial_contact("c-1") == created
    assert await store.find_by_initial_contact("c-unknown") is None
    assert await store.find_by_initial_contact("c-unknown") is None

    reads = registry.get_sample_value(
        "bridge_aws_requests_total", {"service": "dynamodb", "operation": "GetItem"}
    )
    # The mapping once, the session each time; an unknown contact asked each time (a
    # young chat's mapping may be written a moment later).
    assert reads == 1 + 3 + 2


async def test_a_remembered_contact_still_finds_its_chat_after_another_task_moved_it(
    store, aws_clients, resources, clock
):
    stored = await store.create(_session())
    assert await store.find_by_initial_contact(stored.initial_contact_id) == stored
    other_task = SessionStore(
        dynamodb=aws_clients.dynamodb, table=resources.names.sessions_table, clock=clock
    )

    moved = await other_task.rekey(OLD, NEW, wa_id="5215587654321", bsuid=None)

    assert moved is not None
    assert await store.find_by_initial_contact(stored.initial_contact_id) == moved


async def test_a_remembered_contact_finds_nothing_once_its_chat_is_gone(store):
    first = await store.create(_session(contact="c-1"))
    assert await store.find_by_initial_contact("c-1") == first
    assert await store.delete(first.customer_key, initial_contact_id="c-1")
    await store.create(_session(contact="c-2"))  # the customer's next chat

    assert await store.find_by_initial_contact("c-1") is None


async def test_delete_removes_both_items(store, aws_clients, resources):
    created = await store.create(_session())

    assert await store.delete(created.customer_key) is True

    assert await store.get(created.customer_key) is None
    assert await _raw_item(aws_clients, resources, "contact#c-1") is None
    assert await store.delete(created.customer_key) is False


async def test_a_late_chat_end_does_not_delete_the_customers_newer_chat(
    store, aws_clients, resources
):
    first = await store.create(_session(contact="c-1"))
    # A stale mapping, as if left by a crash between the two chats.
    await aws_clients.dynamodb.put_item(
        TableName=resources.names.sessions_table,
        Item={"pk": {"S": "contact#c-0"}, "customer_key": {"S": first.customer_key}},
    )

    assert await store.find_by_initial_contact("c-0") is None
    assert await store.delete(first.customer_key, initial_contact_id="c-0") is False

    assert await store.get(first.customer_key) == first
    assert await _raw_item(aws_clients, resources, "contact#c-0") is None
    assert await store.delete(first.customer_key, initial_contact_id="c-1") is True
    assert await store.get(first.customer_key) is None


async def test_list_pages_through_sessions_only(store):
    created = [
        await store.create(_session(wa_id=f"52155000000{i:02d}", contact=f"c-{i}"))
        for i in range(7)
    ]

    seen = []
    cursor = None
    pages = 0
    while True:
        page = await store.list(limit=3, cursor=cursor)
        assert len(page.sessions) <= 3
        seen += page.sessions
        pages += 1
        cursor = page.cursor
        if cursor is None:
            break
        assert pages < 20

    assert sorted(seen, key=lambda s: s.customer_key) == created
    assert pages >= 3


async def test_list_refuses_a_forged_cursor(store):
    with pytest.raises(ValueError, match="cursor"):
        await store.list(cursor="bm90LWEta2V5")  # base64 of "not-a-key"


async def test_a_missing_table_is_a_configuration_error(aws_clients, resources):
    store = SessionStore(dynamodb=aws_clients.dynamodb, table="no-such-table")

    with pytest.raises(ConfigurationError) as raised:
        await store.get("anyone")
    assert isinstance(raised.value.__cause__, ClientError)


# ---------------------------------------------------------------- identity changes and the bot


OLD = f"{BUSINESS}#5215512345678"
NEW = f"{BUSINESS}#5215587654321"


async def test_rekey_moves_the_session_its_contact_and_leaves_an_alias(
    store, aws_clients, resources
):
    stored = await store.create(_session())

    moved = await store.rekey(OLD, NEW, wa_id="5215587654321", bsuid="MX.1234567890")

    assert moved is not None
    assert moved.customer_key == NEW
    assert moved.wa_id == "5215587654321"
    assert moved.initial_contact_id == stored.initial_contact_id
    assert await _raw_item(aws_clients, resources, "session#" + OLD) is None
    assert await store.get(NEW) == moved
    # Messages still on their way under the old identity find the same chat.
    assert await store.get(OLD) == moved
    assert await store.find_by_initial_contact(stored.initial_contact_id) == moved
    # A replay finds nothing left to move.
    assert await store.rekey(OLD, NEW, wa_id="5215587654321", bsuid=None) is None


async def test_rekey_before_the_chat_is_stored_points_the_new_identity_back(store):
    assert await store.rekey(OLD, NEW, wa_id="5215587654321", bsuid=None) is None
    assert await store.alias_of(NEW) == (OLD, NOW)
    assert await store.get(NEW) is None
    stored = await store.create(_session())
    assert await store.get(NEW) == stored  # the chat the old identity opened

    moved = await store.rekey(OLD, NEW, wa_id="5215587654321", bsuid=None)
    assert moved is not None
    assert await store.alias_of(NEW) is None
    assert await store.get(NEW) == moved


async def test_rekey_never_overwrites_a_chat_of_the_new_identity(store):
    await store.create(_session())
    await store.create(_session(wa_id="5215587654321", contact="c-2"))
    with pytest.raises(ConditionFailedError):
        await store.rekey(OLD, NEW, wa_id="5215587654321", bsuid=None)
    assert (await store.get(OLD)).initial_contact_id == "c-1"


async def test_the_bot_is_recorded_only_in_its_own_chat(store):
    stored = await store.create(_session())
    with_bot = await store.set_bot(stored, participant_id="bot-1", participant_token="btok")
    assert with_bot.bot_participant_id == "bot-1"
    assert with_bot.version == stored.version  # commutes with every other write
    connected = await store.set_bot(
        with_bot,
        participant_id="bot-1",
        participant_token="btok",
        connection_token="bctok",
        connection_expires_at=NOW + 86400,
    )
    assert connected.bot_connection_token == "bctok"
    assert connected.redacted()["bot_participant_token"] == "[redacted]"  # never shown
    newer = await store.create(_session(contact="c-9"), replacing=connected)
    assert newer.bot_participant_id is None
    with pytest.raises(ConditionFailedError):
        await store.set_bot(stored, participant_id="bot-1", participant_token="btok")


# ---------------------------------------------------------------- held messages, outreach


def _held(key: str, at: int = 1) -> HeldMessage:
    return HeldMessage(key=key, payload=f'{{"Id": "{key}"}}', attributes={"a": "b"}, held_at=at)


async def test_held_messages_append_in_order_once_each_and_bounded(store):
    session = await store.create(_session())
    assert await store.hold(session, _held("i-1"), max_held=2) is HoldResult.HELD
    assert await store.hold(session, _held("i-1"), max_held=2) is HoldResult.ALREADY_HELD
    assert await store.hold(session, _held("i-2", 2), max_held=2) is HoldResult.HELD
    assert await store.hold(session, _held("i-3", 3), max_held=2) is HoldResult.FULL
    stored = await store.get(session.customer_key)
    assert stored is not None
    assert stored.held == (_held("i-1"), _held("i-2", 2))
    # Holding bumps the version: a wholesale write from an older read cannot drop them.
    assert stored.version == session.version + 2
    with pytest.raises(ConditionFailedError):
        await store.create(_session(contact="c-2"), replacing=session)
    # A later chat of the customer never receives an older chat's held messages.
    other = replace(session, initial_contact_id="c-old")
    assert await store.hold(other, _held("i-9"), max_held=5) is HoldResult.CHAT_GONE


async def test_unhold_removes_the_released_prefix_only_if_unchanged(store):
    session = await store.create(_session())
    for number in range(3):
        await store.hold(session, _held(f"i-{number}", number), max_held=5)
    assert not await store.unhold(session, ["i-1"])  # not the first: someone else's view
    assert await store.unhold(session, ["i-0", "i-1"])
    stored = await store.get(session.customer_key)
    assert stored is not None
    assert [h.key for h in stored.held] == ["i-2"]
    assert [s.customer_key for s in await store.with_held()] == [session.customer_key]
    assert await store.unhold(stored, ["i-2"])
    assert await store.with_held() == []
    # Once released, the same item may be held again (a later closure of the window).
    assert await store.hold(stored, _held("i-2"), max_held=5) is HoldResult.HELD


async def test_held_messages_move_with_the_chat_on_an_identity_change(store):
    session = await store.create(_session())
    await store.hold(session, _held("i-1"), max_held=5)
    moved = await store.rekey(
        session.customer_key, "1555#CC.NEWID123", wa_id=None, bsuid="CC.NEWID123"
    )
    assert moved is not None
    assert [h.key for h in moved.held] == ["i-1"]
    stored = await store.get("1555#CC.NEWID123")
    assert stored is not None
    assert stored.held == (_held("i-1"),)


async def test_reengagement_is_recorded_for_this_closure(store):
    session = await store.create(_session())
    await store.mark_reengaged(session, template="reengage")
    stored = await store.get(session.customer_key)
    assert stored is not None
    assert stored.reengaged_for == session.last_customer_message_at
    assert stored.reengage_template == "reengage"


async def test_an_outreach_waits_for_its_reply_until_it_expires(store, clock):
    outreach = Outreach(
        outreach_id="o-1",
        customer_key="1555#5215512345678",
        template="welcome",
        language="en_US",
        whatsapp_message_id="wamid.1",
        sent_at=int(clock.time()),
    )
    await store.record_outreach(outreach, expires_at=int(clock.time()) + 60)
    assert await store.outreach_for(outreach.customer_key) == outreach
    newer = replace(outreach, outreach_id="o-2")
    await store.record_outreach(newer, expires_at=int(clock.time()) + 60)
    await store.consume_outreach(outreach)  # an older one: the newer stays
    assert await store.outreach_for(outreach.customer_key) == newer
    await clock.advance(61)
    assert await store.outreach_for(outreach.customer_key) is None
    await store.consume_outreach(newer)
    page = await store.list(limit=10)
    assert page.sessions == []


def _get_items(registry: CollectorRegistry) -> float:
    value = registry.get_sample_value(
        "bridge_aws_requests_total", {"service": "dynamodb", "operation": "GetItem"}
    )
    return value or 0.0


async def test_inside_reads_shared_a_session_is_read_once_until_this_store_writes(
    store, aws_clients, clock
):
    created = await store.create(_session())
    key = created.customer_key
    registry = CollectorRegistry()
    count_requests(aws_clients, registry)

    with store.reads_shared():
        assert await store.get(key) == created
        assert await store.get(key) == created
        assert _get_items(registry) == 1
        # Any write of this store makes the next read a real one.
        await store.touch(key, last_customer_message_at=NOW, published_ns=1)
        touched = await store.get(key)
        assert touched is not None
        assert touched.last_customer_message_at == NOW
        assert _get_items(registry) == 2
        # So does age: a shared read is at most a second old.
        clock.tick(1.5)
        await store.get(key)
        assert _get_items(registry) == 3
    # Outside the block every call reads.
    await store.get(key)
    await store.get(key)
    assert _get_items(registry) == 5


async def test_a_missing_session_is_shared_too_and_creating_it_is_seen(store, aws_clients):
    key = f"{BUSINESS}#5215500001111"
    registry = CollectorRegistry()
    count_requests(aws_clients, registry)
    with store.reads_shared():
        assert await store.get(key) is None  # the session, then the alias: two reads
        assert await store.get(key) is None
        assert _get_items(registry) == 2
        created = await store.create(_session(wa_id="5215500001111"))
        assert await store.get(key) == created


async def test_reads_are_not_shared_with_another_task(store, aws_clients):
    created = await store.create(_session())
    registry = CollectorRegistry()
    count_requests(aws_clients, registry)

    async def other_task() -> None:
        await store.get(created.customer_key)

    with store.reads_shared():
        await store.get(created.customer_key)
    # A task started outside the block has its own context: it reads for itself.
    await asyncio.create_task(other_task())
    assert _get_items(registry) == 2
