"""The agent's side of a chat: Connect streaming events → the customer's WhatsApp.

One event at a time (`AgentReplies.handle`); the caller owns the order (`flows.outbound`).
Content (text, markdown, interactive, attachments) becomes WhatsApp messages, each send
guarded by an idempotency claim keyed by the Connect item id (and part), so a duplicate
delivery sends nothing twice. Once a chat's content send is retried, the chat's later
content in the batch is retried too, so it cannot overtake. The agent's typing becomes a
typing indicator, the agent's read receipt marks the customer's messages read;
`chat.ended` ends the session, `participant.left` does not.

The customer's 24-hour window is known before sending (`policy.window`): outside it an
agent's message is not sent blindly; by policy the agent is told (`note`), or the
re-engagement template goes out once and the agent's messages are held in the session
(`template`) until the customer writes again, then delivered in order, before anything the
agent writes after them; held messages that wait too long are reported. An agent's
`/templates` and `/template …` are answered by the bridge's participant, never forwarded.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import structlog

from service.bridge.adapters.media import MediaNotSendableError
from service.bridge.events.connect import (
    AgentItem,
    AttachmentEvent,
    ChatEndedEvent,
    ConnectEvent,
    MessageEvent,
    MessageFormat,
    ParticipantRole,
    ReceiptEvent,
    TypingEvent,
    should_forward,
)
from service.bridge.events.transport import DONE, Outcome, Settle
from service.bridge.flows.ports import (
    Chat,
    History,
    MediaPort,
    PacerPort,
    SendClaimsPort,
    Sessions,
    WhatsAppSender,
)
from service.bridge.flows.receipts import NOT_REACTABLE
from service.bridge.flows.sends import AgentSends, OutboundMetrics, RetryLater, parse_time
from service.bridge.flows.status import NOTE_PREFIX
from service.bridge.flows.templates import Refusal, TemplateSends
from service.bridge.flows.window_policy import ClosedWindow
from service.bridge.policy.window import window_closes_at, window_open
from service.bridge.text.commands import BadCommand, ListTemplates, SendTemplate, parse_command
from service.bridge.text.interactive import MalformedInteractiveError, interactive_to_whatsapp
from service.bridge.text.markdown import format_for_whatsapp, split_for_whatsapp
from service.bridge.text.window import window_closed_note
from service.clock import SYSTEM_CLOCK, Clock
from service.errors import (
    BridgeError,
    ParticipantAccessDeniedError,
    PermanentError,
    RetryableError,
    ThrottledError,
)

if TYPE_CHECKING:
    from service.bridge.adapters.sessions import Session
    from service.bridge.events.whatsapp import InboundMessage

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class OutboundOptions:
    forward_system: bool = True
    forward_bots: bool = True
    # The "mark read only when an agent reads" receipt policy (`on_agent_read`).
    mark_read_on_agent_read: bool = False
    typing_indicators: bool = True
    # At most one typing indicator per chat in this many seconds (WhatsApp shows it 25 s).
    typing_interval_s: float = 10.0
    closing_message: str | None = None
    # Outside the customer's 24-hour window: "note" tells the agent and sends nothing;
    # "template" sends the re-engagement template once and holds the agent's messages;
    # "send" sends anyway (WhatsApp will report 131047 later).
    window_closed: str = "note"
    held_max_messages: int = 20
    held_ttl_s: float = 24 * 3600.0
    list_button_label: str = "Options"
    # How long after its AbsoluteTime an event may wait for its chat's session to appear.
    session_grace_s: float = 60.0
    session_retry_s: float = 2.0


class AgentReplies:
    """What the bridge does for each Connect event of a chat: the agent's side of it."""

    def __init__(
        self,
        *,
        sessions: Sessions,
        whatsapp: WhatsAppSender,
        claims: SendClaimsPort,
        pacer: PacerPort,
        channel: Chat,
        history: History,
        metrics: OutboundMetrics,
        media: MediaPort | None = None,
        templates: TemplateSends | None = None,
        options: OutboundOptions | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._sessions = sessions
        self._whatsapp = whatsapp
        self._claims = claims
        self._channel = channel
        self._history = history
        self._metrics = metrics
        self._media = media
        self._templates = templates
        self._options = options or OutboundOptions()
        self._clock = clock
        self._last_typing: dict[str, float] = {}
        self._sends = AgentSends(
            whatsapp=whatsapp,
            claims=claims,
            pacer=pacer,
            channel=channel,
            metrics=metrics,
            clock=clock,
        )
        self._window = (
            None
            if templates is None
            else ClosedWindow(
                sessions=sessions,
                sends=self._sends,
                templates=templates,
                deliver=self._deliver_content,
                metrics=metrics,
                max_held=self._options.held_max_messages,
                ttl_s=self._options.held_ttl_s,
                clock=clock,
            )
        )

    async def give_up(self, event: ConnectEvent, dedup_key: str, reason: str) -> None:
        """An item that kept failing is being parked: the agent hears it did not arrive."""
        if (
            not isinstance(event, MessageEvent | AttachmentEvent)
            or event.initial_contact_id is None
        ):
            return
        session = await self._sessions.find_by_initial_contact(event.initial_contact_id)
        if session is not None:
            item_id = event.item_id or dedup_key
            await self._sends.tell_agent(
                session, NOTE_PREFIX + _GAVE_UP.format(reason=reason), key=f"{item_id}#gave-up"
            )

    async def handle_item(self, item: AgentItem) -> Outcome:
        """Act on one item of the customer's lane; as it came, so it can be held."""
        return await self.handle(item.event, item.key, item=item)

    async def handle(
        self, event: ConnectEvent, dedup_key: str, *, item: AgentItem | None = None
    ) -> Outcome:
        """Act on one Connect event of a chat the bridge owns; what happened, as an outcome."""
        try:
            await self._dispatch(event, dedup_key, item)
        except RetryLater as retry:
            self._metrics.events.labels(event.kind, "retry").inc()
            return retry.verdict
        except RetryableError as exc:
            self._metrics.events.labels(event.kind, "retry").inc()
            log.info("outbound_event_retry", kind=event.kind, error=type(exc).__name__)
            retry_after = exc.retry_after_s if isinstance(exc, ThrottledError) else None
            return Outcome(Settle.RETRY, type(exc).__name__, retry_after)
        except PermanentError as exc:
            self._metrics.events.labels(event.kind, "failed").inc()
            log.warning("outbound_event_failed", kind=event.kind, error=type(exc).__name__)
            return Outcome(Settle.PARK, type(exc).__name__)
        except ParticipantAccessDeniedError:
            # Even a fresh connection is refused: the chat is over, nobody to deliver for.
            self._metrics.events.labels(event.kind, "chat_gone").inc()
            log.info("outbound_chat_gone", kind=event.kind, contact_id=event.contact_id)
        except Exception as exc:
            self._metrics.events.labels(event.kind, "retry").inc()
            log.exception("outbound_event_crashed", kind=event.kind)
            return Outcome(Settle.RETRY, f"handling raised {type(exc).__name__}")
        return DONE

    async def _dispatch(self, event: ConnectEvent, dedup_key: str, item: AgentItem | None) -> None:
        if isinstance(event, ChatEndedEvent):
            await self._chat_ended(event, dedup_key)
        elif isinstance(event, ReceiptEvent):
            await self._agent_receipt(event)
        elif isinstance(event, TypingEvent):
            await self._typing(event)
        elif isinstance(event, MessageEvent | AttachmentEvent):
            await self._content(event, dedup_key, item)
        else:
            # participant.joined/left, transfer, unknown types: the session stays as it is.
            self._metrics.events.labels(event.kind, "ignored").inc()
            log.info("outbound_event_ignored", kind=event.kind, content_type=event.content_type)

    async def _session(self, event: ConnectEvent, *, wait_young: bool = False) -> Session | None:
        """The chat's session; None if it is not (or no longer) one of ours.

        With `wait_young`, a young event without a session is retried instead: the flow
        and the agent can write before the inbound side has stored a new chat's session
        (StartChatContact comes first, the session write last).
        """
        assert event.initial_contact_id is not None  # noqa: S101  grouped by it
        session = await self._sessions.find_by_initial_contact(event.initial_contact_id)
        if session is None:
            happened = parse_time(event.absolute_time)
            if (
                wait_young
                and happened is not None
                and self._clock.time() - happened < self._options.session_grace_s
            ):
                raise RetryLater("no session yet", retry_after_s=self._options.session_retry_s)
            self._metrics.events.labels(event.kind, "no_session").inc()
            log.info("outbound_no_session", kind=event.kind, contact_id=event.contact_id)
        return session

    # ------------------------------------------------------------ content

    async def _content(
        self, event: MessageEvent | AttachmentEvent, dedup_key: str, item: AgentItem | None
    ) -> None:
        if not should_forward(
            event,
            forward_system=self._options.forward_system,
            forward_bots=self._options.forward_bots,
        ):
            self._metrics.events.labels(event.kind, "not_forwarded").inc()
            return
        session = await self._session(event, wait_young=True)
        if session is None:
            return
        if _said_by_bridge(event, session):
            # The bridge's own notes to the agent: the customer must never receive them.
            self._metrics.events.labels(event.kind, "own_voice").inc()
            return
        item_id = event.item_id or dedup_key
        command = _command(event) if self._templates is not None else None
        if command is not None:
            await self._command(session, event, item_id, command)
            return
        is_open = window_open(session.last_customer_message_at, self._clock.time())
        # Held messages go first: what the agent wrote before goes out before this.
        if session.held and is_open and not await self.release_held(session.customer_key):
            raise RetryLater("held messages are being delivered first", retry_after_s=1.0)
        if not is_open and self._options.window_closed != "send":
            # WhatsApp would accept it and never deliver it: tell the agent now instead.
            self._metrics.events.labels(event.kind, "window_closed").inc()
            if (
                self._options.window_closed == "template"
                and item is not None
                and self._window is not None
            ):
                await self._window.hold(session, event, item_id, item)
                return
            note = window_closed_note(window_closes_at(session.last_customer_message_at))
            await self._sends.tell_agent(session, note, key=f"{item_id}#window")
            return
        await self._deliver_content(session, event, item_id)

    async def _deliver_content(
        self, session: Session, event: MessageEvent | AttachmentEvent, item_id: str
    ) -> None:
        if isinstance(event, MessageEvent):
            try:
                parts = await self._message_parts(event)
            except MalformedInteractiveError:
                log.warning("outbound_interactive_malformed")
                await self._sends.tell_agent(session, _UNREADABLE_INTERACTIVE, key=f"{item_id}#0")
                return
            for index, fields in enumerate(parts):
                await self._sends.send(
                    session, event, f"{item_id}#{index}", functools.partial(dict, fields)
                )
            return
        for attachment in event.attachments:
            if not attachment.approved:
                log.info("outbound_attachment_not_approved", status=attachment.status)
                continue
            await self._send_attachment(
                session, event, f"{item_id}#{attachment.attachment_id}", attachment
            )

    # ------------------------------------------------------------ templates and the window

    async def _command(
        self,
        session: Session,
        event: MessageEvent | AttachmentEvent,
        item_id: str,
        command: ListTemplates | SendTemplate | BadCommand,
    ) -> None:
        templates = self._templates
        assert templates is not None  # noqa: S101  commands are parsed only with templates
        self._metrics.events.labels(event.kind, "command").inc()
        if isinstance(command, ListTemplates):
            await self._sends.tell_agent(session, await templates.listing(session), key=item_id)
            return
        if isinstance(command, BadCommand):
            await self._sends.tell_agent(session, "⚠️ " + command.reason, key=item_id)
            return
        ready = await templates.command(session, command)
        if isinstance(ready, Refusal):
            refused = f"⚠️ Template not sent: {ready.reason}."
            await self._sends.tell_agent(session, refused, key=item_id)
            return
        assert self._window is not None  # noqa: S101  built whenever templates are
        if await self._window.send_template(session, event, f"{item_id}#0", ready):
            await self._sends.tell_agent(
                session, f"✅ Template {ready.template.name} sent: “{ready.rendered}”", key=item_id
            )

    async def _message_parts(self, event: MessageEvent) -> list[dict[str, Any]]:
        if event.format is MessageFormat.INTERACTIVE:
            outbound = interactive_to_whatsapp(
                event.content, list_button_label=self._options.list_button_label
            )
            if outbound.type == "interactive":
                return [outbound.message_fields()]
            return [_text(part) for part in split_for_whatsapp(outbound.text or "")]
        markdown = event.format is MessageFormat.MARKDOWN
        return [
            _text(part) for part in await formatted_for_whatsapp(event.content, markdown=markdown)
        ]

    async def _send_attachment(
        self, session: Session, event: AttachmentEvent, key: str, attachment: Any
    ) -> None:
        media = self._media
        if media is None:
            log.warning("outbound_attachment_without_media_forwarder")
            await self._sends.tell_agent(session, _NO_MEDIA, key=key)
            return

        async def fields() -> dict[str, Any]:
            async def build(token: str) -> dict[str, Any]:
                return await media.message_fields(
                    connection_token=token,
                    attachment=attachment,
                    origination_id=session.origination_id,
                )

            return await self._channel.call(session, build)

        try:
            await self._sends.send(session, event, key, fields)
        except MediaNotSendableError as exc:
            self._metrics.failures.labels("media_not_sendable").inc()
            await self._sends.tell_agent(session, NOTE_PREFIX + exc.reason, key=key)
            await self._claims.complete(key, whatsapp_message_id=None)

    # ------------------------------------------------------------ held messages

    async def after_customer_wrote(self, customer_key: str) -> None:
        """The customer's burst reached a chat holding messages: release them (best effort)."""
        if self._window is not None:
            await self._window.after_customer_wrote(customer_key)

    async def release_held(self, customer_key: str) -> bool:
        """Deliver the chat's held messages if its window is open; True when none is left."""
        if self._window is None:
            return True
        return await self._window.release_held(customer_key)

    # ------------------------------------------------------------ lifecycle and signals

    async def _chat_ended(self, event: ChatEndedEvent, dedup_key: str) -> None:
        session = await self._session(event)
        if session is None:
            return
        if self._options.closing_message:
            # Claimed and paced like any send, but a goodbye that cannot go now is settled,
            # not retried: it must never keep an ended chat (and its session) alive.
            closing = _text(self._options.closing_message)
            key = f"{event.item_id or dedup_key}#closing"
            try:
                await self._sends.send(session, event, key, functools.partial(dict, closing))
            except (BridgeError, RetryLater) as exc:
                log.warning("outbound_closing_message_failed", error=type(exc).__name__)
                await self._claims.complete(key, whatsapp_message_id=None)
        if session.held:
            # The chat is over before the customer came back: nobody is left to tell.
            log.warning("held_dropped_chat_ended", messages=len(session.held))
            self._metrics.events.labels("held", "chat_ended").inc(len(session.held))
        await self._sessions.delete(
            session.customer_key, initial_contact_id=session.initial_contact_id
        )
        self._last_typing.pop(session.initial_contact_id, None)
        self._metrics.events.labels(event.kind, "session_ended").inc()

    async def _agent_receipt(self, event: ReceiptEvent) -> None:
        # Only the agent reading the customer's words counts; our own receipts echo back.
        if event.receipt != "read" or event.participant_role == ParticipantRole.CUSTOMER:
            return
        if not self._options.mark_read_on_agent_read:
            return
        session = await self._session(event)
        if session is None:
            return
        read_at = parse_time(event.absolute_time)
        last = await self._last_customer_message(session, not_after=read_at)
        if last is None:
            return
        try:
            await self._whatsapp.mark_read(
                origination_id=session.origination_id, message_id=last.message_id
            )
        except PermanentError as exc:
            log.warning("whatsapp_mark_read_failed", error=type(exc).__name__)
            return
        self._metrics.events.labels(event.kind, "marked_read").inc()

    async def _typing(self, event: TypingEvent) -> None:
        if not self._options.typing_indicators or not should_forward(
            event,
            forward_system=self._options.forward_system,
            forward_bots=self._options.forward_bots,
        ):
            return
        assert event.initial_contact_id is not None  # noqa: S101  grouped by it
        now = self._clock.monotonic()
        last = self._last_typing.get(event.initial_contact_id)
        if last is not None and now - last < self._options.typing_interval_s:
            self._metrics.events.labels(event.kind, "rate_limited").inc()
            return
        session = await self._session(event)
        if session is None:
            return
        message = await self._last_customer_message(session, not_after=None)
        if message is None:
            return
        self._last_typing[event.initial_contact_id] = now
        try:
            await self._whatsapp.mark_read(
                origination_id=session.origination_id, message_id=message.message_id, typing=True
            )
        except PermanentError as exc:
            log.warning("whatsapp_typing_failed", error=type(exc).__name__)
            return
        self._metrics.events.labels(event.kind, "sent").inc()

    async def _last_customer_message(
        self, session: Session, *, not_after: float | None
    ) -> InboundMessage | None:
        messages = await self._history.messages(session.customer_key)
        for message in reversed(messages):
            if message.type in NOT_REACTABLE:
                continue
            if not_after is not None and message.timestamp > not_after:
                continue
            return message
        return None


# Connect's own limit for a chat message is 16 KiB; anything longer came from somewhere
# else. Above this the text is converted in a worker thread so the event loop keeps
# serving every other customer, and above the cap it is sent as written (split), since
# converting a message nobody could type is not worth its CPU.
_OFF_LOOP_CHARS: Final = 4096
_MARKDOWN_MAX_CHARS: Final = 65_536


async def formatted_for_whatsapp(content: str, *, markdown: bool) -> list[str]:
    """WhatsApp text bodies for an agent's message, never blocking the loop for long."""
    markdown = markdown and len(content) <= _MARKDOWN_MAX_CHARS
    if len(content) <= _OFF_LOOP_CHARS:
        return format_for_whatsapp(content, markdown=markdown)
    return await asyncio.to_thread(format_for_whatsapp, content, markdown=markdown)


_UNREADABLE_INTERACTIVE: Final = (
    NOTE_PREFIX + "this interactive message (list or buttons) could not be read, so the"
    " customer did not get it. Send the options as text."
)
_NO_MEDIA: Final = NOTE_PREFIX + "attachments cannot be forwarded by this bridge."
_GAVE_UP: Final = "the bridge kept failing to send this message and gave up ({reason})."


def _text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"preview_url": False, "body": body}}


def _command(
    event: MessageEvent | AttachmentEvent,
) -> ListTemplates | SendTemplate | BadCommand | None:
    """The agent's slash command, if this plain or markdown message is one."""
    if not isinstance(event, MessageEvent) or event.format not in {
        MessageFormat.PLAIN,
        MessageFormat.MARKDOWN,
    }:
        return None
    return parse_command(event.content)


def _said_by_bridge(event: MessageEvent | AttachmentEvent, session: Session) -> bool:
    return event.participant_id is not None and event.participant_id == session.bot_participant_id
