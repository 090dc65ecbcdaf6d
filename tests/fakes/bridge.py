"""In-memory fakes of the ports the bridge's flows need (`service.bridge.flows.ports`).

Each fake keeps the semantics of the adapter it stands for, as far as a flow can observe
them, and records what the flow did so a test can assert on it:

- `FakeSessions`: sessions by customer and by initial contact id; `delete` with the
  store's "only while it still belongs to that chat" rule.
- `FakeWhatsApp`: records sends, read marks (and typing indicators) and reactions; can be
  told to raise the service's typed errors, call by call, or to hold a recipient's sends
  until the test lets them go.
- `FakeSendClaims`: INPROGRESS / COMPLETE claims with an in-progress expiry read from the
  test's clock, `release` that only gives up an INPROGRESS claim, and the wamid → Connect
  item map (`remember` / `sent`).
- `FakeChat`: the customer participant's side of a chat (call / note / receipt); records
  notes and receipts, and can play a chat that is gone or a call that fails.
- `FakeHistory`, `FakeMedia`: the customer's stored messages, and the media port.
- `QueueRecord`: an outbound queue message as `OutboundBatch` reads it.
- `FakeAgentItemStore`: the raw-messages table's `write_agent_items`, per-item refusals
  scripted by Connect item key, reported the way `RawMessageWriter` reports them.

Every failure is scripted per operation with `fail(operation, *outcomes)`: each call of
that operation takes the next outcome, `None` meaning "succeed this time".
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from service.bridge.adapters.claims import Claim, ClaimState, SentMessage
from service.bridge.adapters.media import MediaNotSendableError
from service.bridge.adapters.raw_messages import AGENT_PREFIX, WriteReport
from service.bridge.adapters.sessions import HeldMessage, HoldResult, Session
from service.bridge.adapters.whatsapp import Recipient
from service.bridge.events.connect import AgentItem, Attachment
from service.bridge.events.whatsapp import InboundMessage
from service.clock import Clock
from service.errors import ParticipantAccessDeniedError

T = TypeVar("T")

ORIGINATION_ID = "phone-number-id-bbbb2222"


def make_session(
    *,
    business: str,
    customer: str,
    initial_contact_id: str,
    wa_id: str | None,
    bsuid: str | None = None,
    origination_id: str = ORIGINATION_ID,
    connected: bool = True,
) -> Session:
    """A live chat's session as the inbound side stores it."""
    return Session(
        customer_key=f"{business}#{customer}",
        contact_id=initial_contact_id,
        initial_contact_id=initial_contact_id,
        participant_id="participant-1",
        participant_token="participant-token-1",
        display_name="Ana",
        business_phone_number_id=business,
        origination_id=origination_id,
        last_customer_message_at=1_772_360_000,
        expires_at=1_772_460_000,
        wa_id=wa_id,
        bsuid=bsuid,
        connection_token="conn-token-1" if connected else None,
        connection_expires_at=1_772_440_000 if connected else None,
    )


class _Script:
    """Scripted outcomes per operation: an exception to raise, or None to succeed."""

    def __init__(self) -> None:
        self._outcomes: dict[str, deque[BaseException | None]] = {}

    def fail(self, operation: str, *outcomes: BaseException | None) -> None:
        self._outcomes.setdefault(operation, deque()).extend(outcomes)

    def check(self, operation: str) -> None:
        queued = self._outcomes.get(operation)
        if queued:
            outcome = queued.popleft()
            if outcome is not None:
                raise outcome


# ---------------------------------------------------------------- sessions


class FakeSessions:
    def __init__(self, *sessions: Session) -> None:
        self.by_customer: dict[str, Session] = {}
        self.contacts: dict[str, str] = {}  # initial contact id → customer key
        self.deleted: list[tuple[str, str | None]] = []
        self.lookups: list[str] = []
        # Every lookup of these initial contact ids raises the given error.
        self.broken: dict[str, BaseException] = {}
        self._script = _Script()
        for session in sessions:
            self.add(session)

    def add(self, session: Session) -> None:
        self.by_customer[session.customer_key] = session
        self.contacts[session.initial_contact_id] = session.customer_key

    def fail(self, operation: str, *outcomes: BaseException | None) -> None:
        """`operation`: `find` or `delete`."""
        self._script.fail(operation, *outcomes)

    async def find_by_initial_contact(self, initial_contact_id: str) -> Session | None:
        self.lookups.append(initial_contact_id)
        self._script.check("find")
        if initial_contact_id in self.broken:
            raise self.broken[initial_contact_id]
        customer_key = self.contacts.get(initial_contact_id)
        return None if customer_key is None else self.by_customer.get(customer_key)

    async def get(self, customer_key: str) -> Session | None:
        return self.by_customer.get(customer_key)

    async def hold(self, session: Session, message: HeldMessage, *, max_held: int) -> HoldResult:
        current = self.by_customer.get(session.customer_key)
        if current is None or current.initial_contact_id != session.initial_contact_id:
            return HoldResult.CHAT_GONE
        if any(held.key == message.key for held in current.held):
            return HoldResult.ALREADY_HELD
        if len(current.held) >= max_held:
            return HoldResult.FULL
        self.by_customer[session.customer_key] = replace(current, held=(*current.held, message))
        return HoldResult.HELD

    async def unhold(self, session: Session, keys: Sequence[str]) -> bool:
        current = self.by_customer.get(session.customer_key)
        if current is None or [h.key for h in current.held[: len(keys)]] != list(keys):
            return False
        self.by_customer[session.customer_key] = replace(current, held=current.held[len(keys) :])
        return True

    async def mark_reengaged(self, session: Session, *, template: str) -> None:
        current = self.by_customer.get(session.customer_key)
        if current is not None and current.initial_contact_id == session.initial_contact_id:
            self.by_customer[session.customer_key] = replace(
                current,
                reengaged_for=current.last_customer_message_at,
                reengaged_at=1,
                reengage_template=template,
            )

    async def with_held(self) -> list[Session]:
        return [s for s in self.by_customer.values() if s.held]

    async def delete(self, customer_key: str, *, initial_contact_id: str | None = None) -> bool:
        self._script.check("delete")
        self.deleted.append((customer_key, initial_contact_id))
        current = self.by_customer.get(customer_key)
        if initial_contact_id is None:
            if current is None:
                return False
            initial_contact_id = current.initial_contact_id
        self.contacts.pop(initial_contact_id, None)
        if current is None or current.initial_contact_id != initial_contact_id:
            return False  # a late chat.ended must not end the customer's newer chat
        del self.by_customer[customer_key]
        return True


# ---------------------------------------------------------------- WhatsApp


@dataclass(frozen=True, slots=True)
class Sent:
    origination_id: str
    message: Mapping[str, Any]
    whatsapp_message_id: str

    @property
    def type(self) -> str:
        return str(self.message.get("type"))

    @property
    def body(self) -> str | None:
        text = self.message.get("text")
        return None if not isinstance(text, Mapping) else str(text.get("body"))


@dataclass(frozen=True, slots=True)
class ReadMark:
    origination_id: str
    message_id: str
    typing: bool


@dataclass(frozen=True, slots=True)
class Reaction:
    origination_id: str
    recipient: Recipient
    message_id: str
    emoji: str


class FakeWhatsApp:
    """EUM Social's SendWhatsAppMessage as the flows see it (`adapters.whatsapp`)."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.reads: list[ReadMark] = []
        self.reactions: list[Reaction] = []
        self.attempts = 0
        self._ids = itertools.count(1)
        self._script = _Script()
        self._gates: dict[str, asyncio.Event] = {}

    def fail(self, operation: str, *outcomes: BaseException | None) -> None:
        """`operation`: `send`, `mark_read` or `react`."""
        self._script.fail(operation, *outcomes)

    def hold(self, recipient: str) -> asyncio.Event:
        """Sends to `recipient` wait until the returned event is set."""
        return self._gates.setdefault(recipient, asyncio.Event())

    @property
    def bodies(self) -> list[str | None]:
        return [s.body for s in self.sent]

    async def send(self, *, origination_id: str, message: Mapping[str, Any]) -> str:
        self.attempts += 1
        gate = self._gates.get(str(message.get("to") or message.get("recipient")))
        if gate is not None:
            await gate.wait()
        self._script.check("send")
        wamid = f"wamid.OUT{next(self._ids)}"
        self.sent.append(Sent(origination_id, dict(message), wamid))
        return wamid

    async def mark_read(
        self, *, origination_id: str, message_id: str, typing: bool = False
    ) -> None:
        self._script.check("mark_read")
        self.reads.append(ReadMark(origination_id, message_id, typing))

    async def react(
        self, *, origination_id: str, recipient: Recipient, message_id: str, emoji: str
    ) -> None:
        recipient.fields()  # the real client refuses a recipient without any identity
        self._script.check("react")
        self.reactions.append(Reaction(origination_id, recipient, message_id, emoji))


# ---------------------------------------------------------------- send claims


@dataclass(slots=True)
class _ClaimRecord:
    status: str  # INPROGRESS | COMPLETE
    expires_at: float = 0.0
    whatsapp_message_id: str | None = None


class FakeSendClaims:
    """`adapters.claims.SendClaims` in memory, with the same state machine:

    - `claim`: CLAIMED if there is no claim or an INPROGRESS one past its expiry (its
      worker died); SENT (with the wamid) if COMPLETE; IN_PROGRESS otherwise;
    - `complete`: COMPLETE, with or without a WhatsApp message id;
    - `release`: removes an INPROGRESS claim only (a COMPLETE one stays).
    """

    INPROGRESS = "INPROGRESS"
    COMPLETE = "COMPLETE"

    def __init__(self, clock: Clock, *, in_progress_s: float = 60.0) -> None:
        self._clock = clock
        self._in_progress_s = in_progress_s
        self._records: dict[str, _ClaimRecord] = {}
        self._sent: dict[str, SentMessage] = {}
        self.operations: list[tuple[str, str]] = []
        self._script = _Script()

    def fail(self, operation: str, *outcomes: BaseException | None) -> None:
        """`operation`: `claim`, `complete`, `release`, `remember` or `sent`."""
        self._script.fail(operation, *outcomes)

    def state(self, key: str) -> str | None:
        record = self._records.get(key)
        return None if record is None else record.status

    def whatsapp_message_id(self, key: str) -> str | None:
        record = self._records.get(key)
        return None if record is None else record.whatsapp_message_id

    def keys(self) -> list[str]:
        return list(self._records)

    def remembered(self) -> list[SentMessage]:
        return list(self._sent.values())

    async def claim(self, key: str) -> Claim:
        self.operations.append(("claim", key))
        self._script.check("claim")
        now = self._clock.time()
        record = self._records.get(key)
        if record is None or (record.status == self.INPROGRESS and record.expires_at < now):
            self._records[key] = _ClaimRecord(self.INPROGRESS, now + self._in_progress_s)
            return Claim(ClaimState.CLAIMED)
        if record.status == self.COMPLETE:
            return Claim(ClaimState.SENT, record.whatsapp_message_id)
        return Claim(ClaimState.IN_PROGRESS)

    async def complete(
        self, key: str, *, whatsapp_message_id: str | None, sent: SentMessage | None = None
    ) -> None:
        self.operations.append(("complete", key))
        self._script.check("complete")
        self._records[key] = _ClaimRecord(self.COMPLETE, whatsapp_message_id=whatsapp_message_id)
        if sent is not None:  # one request in SendClaims: recorded as both, in this order
            await self.remember(sent)

    async def release(self, key: str) -> None:
        self.operations.append(("release", key))
        self._script.check("release")
        record = self._records.get(key)
        if record is not None and record.status == self.INPROGRESS:
            del self._records[key]

    async def settle(self, key: str, *, whatsapp_message_id: str) -> bool:
        self.operations.append(("settle", key))
        self._script.check("settle")
        record = self._records.get(key)
        if record is None or record.status != self.INPROGRESS:
            return False
        self._records[key] = _ClaimRecord(self.COMPLETE, whatsapp_message_id=whatsapp_message_id)
        return True

    async def remember(self, sent: SentMessage) -> None:
        self.operations.append(("remember", sent.whatsapp_message_id))
        self._script.check("remember")
        self._sent[sent.whatsapp_message_id] = sent

    async def sent(self, whatsapp_message_id: str) -> SentMessage | None:
        self.operations.append(("sent", whatsapp_message_id))
        self._script.check("sent")
        return self._sent.get(whatsapp_message_id)


# ---------------------------------------------------------------- the chat


@dataclass(frozen=True, slots=True)
class Note:
    contact_id: str
    text: str
    client_token: str


@dataclass(frozen=True, slots=True)
class Receipt:
    contact_id: str
    item_id: str
    read: bool


class FakeChat:
    """`adapters.connection.ChatConnection`: calls into a live chat as its customer.

    `gone = True` plays a chat that has ended (even a fresh connection is refused):
    `call` and `receipt` raise `ParticipantAccessDeniedError`, `note` answers False, as
    the real connection does. `fail("call" | "note" | "receipt", ...)` scripts errors.
    Notes carry Connect's idempotency: a second note with the same client token adds
    nothing to the transcript (`notes`), though it is counted in `note_attempts`.
    """

    def __init__(self) -> None:
        self.gone = False
        self.notes: list[Note] = []
        self.note_attempts = 0
        self.receipts: list[Receipt] = []
        self.tokens: list[str] = []
        self._script = _Script()

    def fail(self, operation: str, *outcomes: BaseException | None) -> None:
        self._script.fail(operation, *outcomes)

    def _check(self, operation: str) -> None:
        if self.gone:
            raise ParticipantAccessDeniedError("the chat has ended")
        self._script.check(operation)

    async def call(self, session: Session, action: Callable[[str], Awaitable[T]]) -> T:
        self._check("call")
        token = session.connection_token or "conn-token-renewed"
        self.tokens.append(token)
        return await action(token)

    async def note(self, session: Session, text: str, *, client_token: str) -> bool:
        self.note_attempts += 1
        try:
            self._check("note")
        except ParticipantAccessDeniedError:
            return False
        if all(n.client_token != client_token for n in self.notes):
            self.notes.append(Note(session.contact_id, text, client_token))
        return True

    async def receipt(self, session: Session, item_id: str, *, read: bool) -> None:
        self._check("receipt")
        self.receipts.append(Receipt(session.contact_id, item_id, read))


# ---------------------------------------------------------------- history and media


class FakeHistory:
    """The raw-messages table's reader: each customer's messages, oldest first."""

    def __init__(self) -> None:
        self.by_customer: dict[str, list[InboundMessage]] = {}

    def add(self, *messages: InboundMessage) -> None:
        for message in messages:
            stored = self.by_customer.setdefault(message.customer_key, [])
            stored.append(message)
            stored.sort(key=lambda m: m.order_key)

    async def messages(self, customer_key: str) -> list[InboundMessage]:
        return list(self.by_customer.get(customer_key, []))


@dataclass(frozen=True, slots=True)
class MediaRequest:
    connection_token: str
    attachment_id: str
    origination_id: str


@dataclass
class FakeMedia:
    """`adapters.media.MediaForwarder`: an attachment → the WhatsApp message's media part.

    `refuse[attachment_id] = reason` plays a file WhatsApp will not take.
    """

    refuse: dict[str, str] = field(default_factory=dict)
    requests: list[MediaRequest] = field(default_factory=list)

    async def message_fields(
        self, *, connection_token: str, attachment: Attachment, origination_id: str
    ) -> dict[str, Any]:
        self.requests.append(
            MediaRequest(connection_token, attachment.attachment_id, origination_id)
        )
        reason = self.refuse.get(attachment.attachment_id)
        if reason is not None:
            raise MediaNotSendableError(reason)
        return {
            "type": "document",
            "document": {
                "id": f"media-{attachment.attachment_id}",
                "filename": attachment.name or "attachment",
            },
        }


# ---------------------------------------------------------------- the outbound queue


@dataclass(frozen=True, slots=True)
class QueueRecord:
    """One outbound queue message (`events.transport.QueueItem`)."""

    message_id: str
    payload: str
    dedup_key: str
    attributes: Mapping[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------- agent items


class FakeAgentItemStore:
    """`adapters.raw_messages.RawMessageWriter.write_agent_items` in memory.

    Items are stored under (customer key, `agent#<item key>`), one per key as the real
    writer does (a repeated key is written once). `rejected[item_key] = reason` plays an
    item DynamoDB can never take, `unwritten[item_key] = reason` one whose write failed
    for now; both are reported under the stored key, as the real writer reports them.
    `calls` holds every batch asked for, `stored` what was written.
    """

    def __init__(self) -> None:
        self.rejected: dict[str, str] = {}
        self.unwritten: dict[str, str] = {}
        self.calls: list[list[AgentItem]] = []
        self.stored: dict[tuple[str, str], AgentItem] = {}

    async def write_agent_items(self, items: Sequence[AgentItem]) -> WriteReport:
        self.calls.append(list(items))
        report = WriteReport()
        for item in items:
            key = (item.customer_key, AGENT_PREFIX + item.key)
            if item.key in self.rejected:
                report.rejected[key] = self.rejected[item.key]
            elif item.key in self.unwritten:
                report.unwritten[key] = self.unwritten[item.key]
            else:
                self.stored[key] = item
        return report
