"""`CustomerReceipts`: the read ticks and reactions a customer sees, best effort.

The customer's messages come through the real EUM parser; WhatsApp is the fake of
tests/fakes/bridge.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import pytest
from prometheus_client import CollectorRegistry

from service.bridge.adapters.whatsapp import Recipient
from service.bridge.flows.receipts import CustomerReceipts, ReceiptPolicy
from service.errors import DependencyUnavailableError, WhatsAppSendError
from tests.fakes.bridge import FakeWhatsApp
from tests.unit.bridge.conftest import BSUID, PHONE_ARN, WA_ID

if TYPE_CHECKING:
    from service.bridge.adapters.whatsapp import WhatsAppClient

ORIGINATION_ID = "phone-number-id-" + PHONE_ARN.rsplit("/", 1)[-1]


@pytest.fixture
def receipts_registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def make_receipts(whatsapp: FakeWhatsApp, receipts_registry: CollectorRegistry):
    def make(**policy: Any) -> CustomerReceipts:
        # CustomerReceipts names the concrete client, not a port (a finding): cast the fake.
        return CustomerReceipts(
            whatsapp=cast("WhatsAppClient", whatsapp),
            policy=ReceiptPolicy(**policy),
            registry=receipts_registry,
        )

    return make


@pytest.fixture
def burst(inbound):
    """A customer's burst: two texts, a photo, then things no one reacts to."""
    return inbound.messages(
        inbound.wire("text", id_="wamid.IN1", seconds=-9, text={"body": "Hello"}),
        inbound.wire("text", id_="wamid.IN2", seconds=-8, text={"body": "my order"}),
        inbound.wire("image", id_="wamid.IN3", seconds=-7, image={"id": "m1"}),
        inbound.wire(
            "reaction", id_="wamid.IN4", seconds=-6, reaction={"message_id": "x", "emoji": "👍"}
        ),
        inbound.wire(
            "system",
            id_="wamid.IN5",
            seconds=-5,
            system={"body": "Ana changed her number", "type": "user_changed_number"},
        ),
        inbound.wire("fancy_new_type", id_="wamid.IN6", seconds=-4),
    )


def _count(registry: CollectorRegistry, kind: str, result: str) -> float:
    value = registry.get_sample_value(
        "bridge_whatsapp_receipts_total", {"kind": kind, "result": result}
    )
    return value or 0.0


def test_the_burst_holds_the_unreactable_types_these_tests_need(burst):
    assert [m.type.value for m in burst] == [
        "text",
        "text",
        "image",
        "reaction",
        "system",
        "unsupported",
    ]


async def test_by_default_a_delivered_burst_gets_a_tick_and_one_read_mark_on_its_last_message(
    make_receipts, burst, whatsapp
):
    receipts = make_receipts()

    await receipts.received(burst)
    assert whatsapp.reactions == []
    assert whatsapp.reads == []

    await receipts.delivered(burst)
    assert [(r.message_id, r.emoji) for r in whatsapp.reactions] == [("wamid.IN3", "✅")]
    [reaction] = whatsapp.reactions
    assert reaction.origination_id == ORIGINATION_ID
    assert reaction.recipient == Recipient(wa_id=WA_ID, bsuid=BSUID)
    assert [(r.origination_id, r.message_id, r.typing) for r in whatsapp.reads] == [
        (ORIGINATION_ID, "wamid.IN3", False)
    ]


async def test_on_receipt_every_reactable_message_gets_the_received_reaction_and_is_read(
    make_receipts, burst, whatsapp
):
    receipts = make_receipts(mark_read="on_receipt", reaction_received="👀")

    await receipts.received(burst)

    assert [(r.message_id, r.emoji) for r in whatsapp.reactions] == [
        ("wamid.IN1", "👀"),
        ("wamid.IN2", "👀"),
        ("wamid.IN3", "👀"),
    ]
    assert [r.message_id for r in whatsapp.reads] == ["wamid.IN3"]

    await receipts.delivered(burst)
    assert [r.message_id for r in whatsapp.reads] == ["wamid.IN3"], "read once, on receipt"


async def test_a_failed_delivery_marks_every_reactable_message(make_receipts, burst, whatsapp):
    await make_receipts().failed(burst)

    assert [(r.message_id, r.emoji) for r in whatsapp.reactions] == [
        ("wamid.IN1", "❌"),
        ("wamid.IN2", "❌"),
        ("wamid.IN3", "❌"),
    ]
    assert whatsapp.reads == []


@pytest.mark.parametrize("mark_read", ["never", "on_agent_read"])
async def test_read_marks_wait_for_their_policy(make_receipts, burst, whatsapp, mark_read):
    receipts = make_receipts(mark_read=mark_read, reaction_delivered="", reaction_failed="")

    await receipts.received(burst)
    await receipts.delivered(burst)
    await receipts.failed(burst)

    assert whatsapp.reads == []
    assert whatsapp.reactions == []


async def test_nothing_is_reacted_to_or_read_in_a_burst_of_unreactable_messages(
    make_receipts, burst, whatsapp
):
    unreactable = burst[3:]
    receipts = make_receipts(mark_read="on_receipt", reaction_received="👀")

    await receipts.received(unreactable)
    await receipts.delivered(unreactable)
    await receipts.failed(unreactable)

    assert whatsapp.reactions == []
    assert whatsapp.reads == []


@pytest.mark.parametrize(
    "error",
    [DependencyUnavailableError("EUM 503"), WhatsAppSendError("refused", meta_code=131009)],
)
async def test_a_failing_whatsapp_call_is_counted_and_never_raised(
    make_receipts, burst, whatsapp, receipts_registry, error
):
    receipts = make_receipts(reaction_received="👀", mark_read="on_receipt")
    whatsapp.fail("react", error, None, error)
    whatsapp.fail("mark_read", error)

    await receipts.received(burst)

    assert [r.message_id for r in whatsapp.reactions] == ["wamid.IN2"]
    assert _count(receipts_registry, "received", "failed") == 2.0
    assert _count(receipts_registry, "received", "sent") == 1.0
    assert whatsapp.reads == []
    assert _count(receipts_registry, "read", "failed") == 1.0


async def test_a_customer_without_any_identity_gets_no_reaction_and_no_error(
    make_receipts, inbound, whatsapp, receipts_registry
):
    [message] = inbound.messages(
        inbound.wire("text", id_="wamid.IN1", text={"body": "hi"}),
    )
    anonymous = message.model_copy(
        update={"customer": message.customer.model_copy(update={"wa_id": None, "bsuid": None})}
    )

    await make_receipts().failed([anonymous])

    assert whatsapp.reactions == []
    assert _count(receipts_registry, "failed", "failed") == 1.0
