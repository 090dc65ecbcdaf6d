"""The flows' world in memory: fakes of every port, the real pacer, parsers and renderers.

Time: the events of these tests happen around 2026-03-01 10:16 UTC; the fake clock's wall
time starts at `NOW`, five seconds after `BASE`, so an event `at(2.5)` is young (its chat
may still be storing its session) and one `at(-600)` is old.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog.testing
from prometheus_client import CollectorRegistry

from service.bridge.adapters.sessions import Session
from service.bridge.events.connect import ConnectEvent, parse_streaming_record
from service.bridge.events.eum import parse_eum_event
from service.bridge.events.whatsapp import InboundMessage, StatusUpdate
from service.bridge.flows.reply import AgentReplies, OutboundOptions
from service.bridge.flows.sends import OutboundMetrics
from service.bridge.flows.templates import TemplateSends
from service.bridge.policy.pacing import Pacer, PacingConfig
from tests.fakes.bridge import (
    FakeChat,
    FakeHistory,
    FakeMedia,
    FakeSendClaims,
    FakeSessions,
    FakeWhatsApp,
    QueueRecord,
    make_session,
)
from tests.support.clock import FakeClock
from tests.unit.bridge.conftest import BSUID, PHONE_NUMBER_ID, WA_ID, ConnectFactory, EumFactory

BASE = datetime(2026, 3, 1, 10, 16, 0, tzinfo=UTC)
NOW = BASE + timedelta(seconds=5)
CUSTOMER_KEY = f"{PHONE_NUMBER_ID}#{BSUID}"
PLAIN = "text/plain"
MARKDOWN = "text/markdown"
INTERACTIVE = "application/vnd.amazonaws.connect.message.interactive"


def at(seconds: float) -> str:
    """An AbsoluteTime `seconds` after `BASE` (negative: before)."""
    return (BASE + timedelta(seconds=seconds)).isoformat()


def epoch(seconds: float) -> int:
    """WhatsApp's timestamp (epoch seconds) of the instant `at(seconds)`."""
    return int((BASE + timedelta(seconds=seconds)).timestamp())


class Records:
    """Connect streaming records as the outbound queue carries them (SNS envelopes)."""

    def __init__(self, connect: ConnectFactory) -> None:
        self._connect = connect
        self.contact = connect.initial_contact_id

    def _wrap(self, body: dict[str, Any], contact: str | None, visibility: str) -> str:
        if contact is not None:
            body["InitialContactId"] = contact
            body["ContactId"] = contact
        return self._connect.sns(body, visibility=visibility)

    def text(
        self,
        content: str,
        *,
        item_id: str = "item-1",
        seconds: float = 2.5,
        role: str = "AGENT",
        content_type: str = PLAIN,
        contact: str | None = None,
        visibility: str = "ALL",
    ) -> str:
        body = self._connect.message(content, role=role, content_type=content_type)
        body |= {"Id": item_id, "AbsoluteTime": at(seconds)}
        return self._wrap(body, contact, visibility)

    def attachment(
        self,
        *attachments: dict[str, str],
        item_id: str = "item-1",
        seconds: float = 2.5,
        contact: str | None = None,
    ) -> str:
        body = self._connect.item(
            Id=item_id,
            AbsoluteTime=at(seconds),
            Type="ATTACHMENT",
            ParticipantRole="AGENT",
            ParticipantId="9a8b0000",
            DisplayName="Luis",
            Attachments=list(attachments),
        )
        return self._wrap(body, contact, "ALL")

    def event(
        self,
        suffix: str,
        *,
        item_id: str = "event-1",
        seconds: float = 2.5,
        role: str | None = "AGENT",
        contact: str | None = None,
        **fields: Any,
    ) -> str:
        if role is not None:
            fields["ParticipantRole"] = role
        body = self._connect.event(
            f"event.{suffix}", Id=item_id, AbsoluteTime=at(seconds), **fields
        )
        return self._wrap(body, contact, "ALL")

    @staticmethod
    def parse(body: str) -> ConnectEvent:
        return parse_streaming_record(body)

    @staticmethod
    def queued(message_id: str, body: str) -> QueueRecord:
        return QueueRecord(message_id=message_id, payload=body, dedup_key=f"dedup-{message_id}")


def attachment(attachment_id: str, name: str, *, status: str = "APPROVED") -> dict[str, str]:
    return {
        "AttachmentId": attachment_id,
        "AttachmentName": name,
        "ContentType": "application/pdf",
        "Status": status,
    }


class Inbound:
    """The customer's WhatsApp messages and statuses, through the real EUM parser."""

    def __init__(self, eum: EumFactory) -> None:
        self._eum = eum

    def messages(self, *wire: dict[str, Any]) -> tuple[InboundMessage, ...]:
        return parse_eum_event(self._eum.envelope(self._eum.value(messages=list(wire)))).messages

    def text(self, body: str, *, id_: str, seconds: float) -> InboundMessage:
        (message,) = self.messages(self._eum.text(body, id_=id_, timestamp=str(epoch(seconds))))
        return message

    def wire(self, type_: str, *, id_: str, seconds: float = 0, **fields: Any) -> dict[str, Any]:
        return self._eum.message(type_, id_=id_, timestamp=str(epoch(seconds)), **fields)

    def status(
        self,
        wamid: str,
        status: str,
        *,
        code: int | None = None,
        title: str | None = None,
        callback: str | None = None,
    ) -> StatusUpdate:
        wire: dict[str, Any] = {
            "id": wamid,
            "status": status,
            "timestamp": str(epoch(10)),
            "recipient_id": WA_ID,
        }
        if callback is not None:
            wire["biz_opaque_callback_data"] = callback
        if code is not None:
            error: dict[str, Any] = {"code": code}
            if title is not None:
                error["title"] = title
            wire["errors"] = [error]
        envelope = self._eum.envelope(self._eum.value(statuses=[wire]))
        (update,) = parse_eum_event(json.dumps(envelope)).statuses
        return update


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall_start=NOW.timestamp())


@pytest.fixture
def records(connect: ConnectFactory) -> Records:
    return Records(connect)


@pytest.fixture
def inbound(eum: EumFactory) -> Inbound:
    return Inbound(eum)


@pytest.fixture
def session(connect: ConnectFactory) -> Session:
    return make_session(
        business=PHONE_NUMBER_ID,
        customer=BSUID,
        initial_contact_id=connect.initial_contact_id,
        wa_id=WA_ID,
        bsuid=BSUID,
    )


@pytest.fixture
def sessions(session: Session) -> FakeSessions:
    return FakeSessions(session)


@pytest.fixture
def whatsapp() -> FakeWhatsApp:
    return FakeWhatsApp()


@pytest.fixture
def claims(clock: FakeClock) -> FakeSendClaims:
    return FakeSendClaims(clock)


@pytest.fixture
def chat() -> FakeChat:
    return FakeChat()


@pytest.fixture
def history() -> FakeHistory:
    return FakeHistory()


@pytest.fixture
def media() -> FakeMedia:
    return FakeMedia()


@pytest.fixture
def pacing() -> PacingConfig:
    return PacingConfig()


@pytest.fixture
def pacer(pacing: PacingConfig, clock: FakeClock) -> Pacer:
    return Pacer(pacing, clock=clock)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> OutboundMetrics:
    return OutboundMetrics(registry)


@pytest.fixture
def make_replies(
    *,
    sessions: FakeSessions,
    whatsapp: FakeWhatsApp,
    claims: FakeSendClaims,
    pacer: Pacer,
    chat: FakeChat,
    history: FakeHistory,
    media: FakeMedia,
    metrics: OutboundMetrics,
    clock: FakeClock,
) -> Callable[..., AgentReplies]:
    def make(templates: TemplateSends | None = None, **options: Any) -> AgentReplies:
        return AgentReplies(
            sessions=sessions,
            whatsapp=whatsapp,
            claims=claims,
            pacer=pacer,
            channel=chat,
            history=history,
            metrics=metrics,
            media=media,
            templates=templates,
            options=OutboundOptions(**options),
            clock=clock,
        )

    return make


@pytest.fixture
def replies(make_replies: Callable[..., AgentReplies]) -> AgentReplies:
    return make_replies()


@pytest.fixture(autouse=True)
def logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """What the flows logged, as dicts; nothing is rendered (a traceback costs a second)."""
    with structlog.testing.capture_logs() as captured:
        yield captured
