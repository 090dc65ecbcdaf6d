"""`StatusFeedback`: WhatsApp statuses of the bridge's sends → what the agent sees in Connect.

Statuses come through the real EUM parser; the ports are the fakes of
tests/fakes/bridge.py; pacing is the real `Pacer` on the fake clock.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from service.bridge.adapters.claims import ClaimState, SentMessage, callback_data
from service.bridge.flows.status import NOTE_PREFIX, FeedbackMetrics, StatusFeedback
from service.bridge.policy.pacing import PacingConfig
from service.errors import (
    DependencyUnavailableError,
    RefusedAfterReconnectError,
    ThrottledError,
    WhatsAppSendError,
)
from tests.fakes.bridge import ORIGINATION_ID
from tests.support.clock import FakeClock
from tests.unit.bridge.conftest import PHONE_NUMBER_ID, WA_ID
from tests.unit.bridge.flows.conftest import CUSTOMER_KEY, NOW

MESSAGE = {
    "recipient_type": "individual",
    "to": WA_ID,
    "type": "text",
    "text": {"preview_url": False, "body": "Your parcel left the warehouse"},
}


@pytest.fixture
def feedback_registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def make_feedback(*, claims, sessions, chat, whatsapp, pacer, feedback_registry, clock):
    def make(*, forward_delivered: bool = True, forward_read: bool = True) -> StatusFeedback:
        return StatusFeedback(
            claims=claims,
            sessions=sessions,
            channel=chat,
            whatsapp=whatsapp,
            pacer=pacer,
            metrics=FeedbackMetrics(feedback_registry),
            forward_delivered=forward_delivered,
            forward_read=forward_read,
            clock=clock,
        )

    return make


@pytest.fixture
def feedback(make_feedback: Callable[..., StatusFeedback]) -> StatusFeedback:
    return make_feedback()


@pytest.fixture
async def known(claims, session):
    """Two WhatsApp messages the bridge sent for two of the agent's Connect items."""
    for wamid, item in (("wamid.OUT-A", "item-A"), ("wamid.OUT-B", "item-B")):
        await claims.remember(
            SentMessage(
                whatsapp_message_id=wamid,
                initial_contact_id=session.initial_contact_id,
                connect_item_id=item,
                customer_key=CUSTOMER_KEY,
                message=MESSAGE,
            )
        )


@pytest.fixture
def clock() -> FakeClock:
    # A resend waits out its pacing: here time moves by itself when the flow sleeps.
    return FakeClock(wall_start=NOW.timestamp(), auto_advance=True)


@pytest.fixture
def paced_waits(clock: FakeClock) -> list[float]:
    """The resend's paced waits, on the fake clock."""
    return clock.sleeps


@pytest.mark.usefixtures("known")
async def test_delivered_and_read_become_receipts_on_the_connect_item_of_the_send(
    feedback, inbound, chat, session
):
    await feedback(
        [inbound.status("wamid.OUT-B", "delivered"), inbound.status("wamid.OUT-B", "read")]
    )

    assert [(r.contact_id, r.item_id, r.read) for r in chat.receipts] == [
        (session.contact_id, "item-B", False),
        (session.contact_id, "item-B", True),
    ]
    assert chat.notes == []


@pytest.mark.usefixtures("known")
@pytest.mark.parametrize(
    ("flags", "forwarded"),
    [
        ({"forward_read": False}, [("item-A", False)]),
        ({"forward_delivered": False}, [("item-A", True)]),
    ],
)
async def test_each_receipt_kind_can_be_switched_off(
    make_feedback, inbound, chat, flags, forwarded
):
    await make_feedback(**flags)(
        [inbound.status("wamid.OUT-A", "delivered"), inbound.status("wamid.OUT-A", "read")]
    )

    assert [(r.item_id, r.read) for r in chat.receipts] == forwarded


@pytest.mark.usefixtures("known")
async def test_sent_and_unknown_statuses_change_nothing(feedback, inbound, chat, whatsapp):
    await feedback([inbound.status("wamid.OUT-A", "sent"), inbound.status("wamid.OUT-A", "played")])

    assert chat.receipts == []
    assert chat.note_attempts == 0
    assert whatsapp.attempts == 0


@pytest.mark.usefixtures("known")
async def test_a_failed_131047_becomes_the_window_note(feedback, inbound, chat, session):
    await feedback(
        [inbound.status("wamid.OUT-A", "failed", code=131047, title="Re-engagement message")]
    )

    [note] = chat.notes
    assert note.contact_id == session.contact_id
    assert note.text.startswith(NOTE_PREFIX)
    assert "24 hours" in note.text
    assert "template" in note.text
    assert note.client_token == "note-wamid.OUT-A"
    assert chat.receipts == []


@pytest.mark.usefixtures("known")
@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Unsupported message type", "Unsupported message type (code 131999)."),
        (None, "WhatsApp reported an error (code 131999)."),
    ],
)
async def test_an_unknown_failure_code_becomes_a_generic_note_with_the_code(
    feedback, inbound, chat, title, expected
):
    await feedback([inbound.status("wamid.OUT-A", "failed", code=131999, title=title)])

    assert [n.text for n in chat.notes] == [NOTE_PREFIX + expected]


@pytest.mark.usefixtures("known")
async def test_a_redelivered_failed_status_adds_no_second_note(feedback, inbound, chat):
    failed = inbound.status("wamid.OUT-A", "failed", code=131026)

    await feedback([failed])
    await feedback([failed])

    assert [n.client_token for n in chat.notes] == ["note-wamid.OUT-A"]
    assert chat.note_attempts == 2, "sent twice, with the same ClientToken"


@pytest.mark.usefixtures("known")
async def test_a_pair_rate_failure_is_resent_once_paced_and_without_a_note(
    *, feedback, inbound, chat, whatsapp, claims, paced_waits
):
    failed = inbound.status("wamid.OUT-A", "failed", code=131056)

    await feedback([failed])
    await feedback([failed])  # the same status redelivered

    [resent] = whatsapp.sent
    assert resent.origination_id == ORIGINATION_ID
    assert resent.message == MESSAGE
    assert paced_waits == [pytest.approx(6.0)], "waited for the emptied pair bucket"
    assert chat.notes == []
    assert claims.state("resend#wamid.OUT-A") == claims.COMPLETE
    # The resent message's own statuses still reach the agent's item.
    await feedback([inbound.status(resent.whatsapp_message_id, "read")])
    assert [(r.item_id, r.read) for r in chat.receipts] == [("item-A", True)]


@pytest.mark.usefixtures("known")
async def test_a_throughput_failure_slows_the_whole_number(
    feedback, inbound, whatsapp, pacer, paced_waits
):
    await feedback([inbound.status("wamid.OUT-A", "failed", code=130429)])

    assert len(whatsapp.sent) == 1
    assert pacer.reserve(PHONE_NUMBER_ID, "another-customer").wait_s > 0


async def test_statuses_of_sends_the_bridge_does_not_know_change_nothing(
    feedback, inbound, chat, whatsapp, claims
):
    await feedback(
        [
            inbound.status("wamid.READ-RECEIPT", "delivered"),
            inbound.status("wamid.EXPIRED", "failed", code=131047),
            inbound.status("wamid.EXPIRED", "failed", code=131056),
        ]
    )

    assert chat.receipts == []
    assert chat.note_attempts == 0
    assert whatsapp.attempts == 0
    assert claims.keys() == []


@pytest.mark.usefixtures("known")
async def test_statuses_of_a_chat_that_ended_change_nothing(
    feedback, inbound, chat, sessions, session
):
    await sessions.delete(session.customer_key)

    await feedback(
        [
            inbound.status("wamid.OUT-A", "read"),
            inbound.status("wamid.OUT-B", "failed", code=131047),
        ]
    )

    assert chat.receipts == []
    assert chat.note_attempts == 0


@pytest.mark.usefixtures("known")
@pytest.mark.parametrize("pacing", [PacingConfig(max_wait_s=1.0)])
async def test_a_resend_the_pacer_cannot_admit_soon_raises_for_a_retry(
    feedback, inbound, whatsapp, claims
):
    with pytest.raises(ThrottledError) as raised:
        await feedback([inbound.status("wamid.OUT-A", "failed", code=131056)])

    assert raised.value.retry_after_s == pytest.approx(6.0)
    assert whatsapp.attempts == 0
    assert claims.state("resend#wamid.OUT-A") is None, "released: the retry may resend"


@pytest.mark.usefixtures("known")
async def test_a_resend_in_progress_elsewhere_raises_for_a_retry(
    feedback, inbound, whatsapp, claims
):
    await claims.claim("resend#wamid.OUT-A")

    with pytest.raises(ThrottledError):
        await feedback([inbound.status("wamid.OUT-A", "failed", code=131056)])

    assert whatsapp.attempts == 0
    assert claims.state("resend#wamid.OUT-A") == claims.INPROGRESS


@pytest.mark.usefixtures("known", "paced_waits")
async def test_a_resend_that_fails_releases_its_claim_and_raises(
    feedback, inbound, whatsapp, claims
):
    whatsapp.fail("send", DependencyUnavailableError("EUM 503"))
    failed = inbound.status("wamid.OUT-A", "failed", code=131056)

    with pytest.raises(DependencyUnavailableError):
        await feedback([failed])
    assert claims.state("resend#wamid.OUT-A") is None

    await feedback([failed])  # the retry
    assert len(whatsapp.sent) == 1


@pytest.mark.usefixtures("known")
async def test_a_receipt_for_a_chat_that_is_gone_is_dropped_and_counted(
    feedback, inbound, chat, feedback_registry
):
    chat.gone = True

    await feedback([inbound.status("wamid.OUT-A", "delivered")])

    assert chat.receipts == []
    assert (
        feedback_registry.get_sample_value(
            "bridge_connect_receipts_forwarded_total", {"kind": "delivered", "result": "failed"}
        )
        == 1.0
    )


@pytest.mark.usefixtures("known")
async def test_a_receipt_refused_right_after_a_reconnect_raises_for_a_retry(
    feedback, inbound, chat
):
    chat.fail("receipt", RefusedAfterReconnectError("refused right after a reconnect"))

    with pytest.raises(RefusedAfterReconnectError):
        await feedback([inbound.status("wamid.OUT-A", "read")])


@pytest.mark.usefixtures("known", "paced_waits")
async def test_a_resend_whatsapp_refuses_for_good_is_reported_to_the_agent(
    feedback, inbound, whatsapp, chat
):
    whatsapp.fail("send", WhatsAppSendError("window closed", meta_code=131047))

    await feedback([inbound.status("wamid.OUT-A", "failed", code=131056)])

    assert chat.notes


# ------------------------------------------------ a send whose task died before completing


async def test_a_status_for_a_send_never_recorded_settles_its_claim(
    feedback, inbound, claims, chat, feedback_registry
):
    """The task claimed item-C, WhatsApp took it (wamid.C), and the task was killed before
    it completed the claim: WhatsApp's `sent`, echoing the claim, settles it, so the next
    owner finds it SENT instead of sending it again when the claim expires."""
    assert (await claims.claim("item-C#0")).state is ClaimState.CLAIMED

    await feedback([inbound.status("wamid.C", "sent", callback=callback_data("item-C#0"))])

    claim = await claims.claim("item-C#0")
    assert (claim.state, claim.whatsapp_message_id) == (ClaimState.SENT, "wamid.C")
    assert chat.receipts == []
    assert (
        feedback_registry.get_sample_value("bridge_whatsapp_sends_settled_from_status_total") == 1
    )


async def test_a_delivered_status_settles_it_too_when_sent_never_came(feedback, inbound, claims):
    await claims.claim("item-D#0")
    await feedback([inbound.status("wamid.D", "delivered", callback=callback_data("item-D#0"))])
    assert (await claims.claim("item-D#0")).state is ClaimState.SENT


@pytest.mark.usefixtures("known")
async def test_statuses_of_recorded_sends_settle_nothing(feedback, inbound, claims):
    await claims.claim("item-A#0")  # a retry claimed it again meanwhile, say
    await feedback(
        [
            inbound.status("wamid.OUT-A", "sent", callback=callback_data("item-A#0")),
            inbound.status("wamid.OUT-A", "delivered", callback=callback_data("item-A#0")),
        ]
    )
    assert ("settle", "item-A#0") not in claims.operations
    assert (await claims.claim("item-A#0")).state is ClaimState.IN_PROGRESS


async def test_a_sent_status_without_the_bridges_callback_costs_nothing(feedback, inbound, claims):
    await feedback(
        [
            inbound.status("wamid.E", "sent"),
            inbound.status("wamid.F", "sent", callback="someone else's data"),
        ]
    )
    assert claims.operations == []
