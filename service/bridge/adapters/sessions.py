"""The sessions table: the live Connect chat of each (business number, customer).

Two item kinds share the table's `pk` hash key:

- `session#<customer key>`: the chat's ids and tokens, the customer's identity, the time of
  the customer's last message (the WhatsApp 24-hour window), the bridge's own participant
  in the chat once it has spoken (DESIGN §6), the agent's messages held while the window
  is closed (with the re-engagement template sent for that closure), the outreach the chat
  answers, a `version` for optimistic concurrency and the TTL;
- `contact#<initial contact id>` → customer key: outbound streaming events carry only
  contact ids, and this mapping must be readable strongly consistently, which a secondary
  index is not. Both items are always written and removed in one transaction.
- `outreach#<customer key>`: a template the business sent to someone without a live chat
  (`POST /admin/outreach`), so the chat the customer's reply opens says which outreach it
  answers; consumed by that chat, else it expires.
- `alias#<customer key>` → another key, after the customer changed number or user id
  (`rekey`): from the old key to the new one when the chat moved, so messages sent under
  the old identity and still on their way find it; from the new key to the old one when
  the chat was not stored yet. `get` follows one alias, and only for a key without a
  session of its own.
"""

from __future__ import annotations

import base64
import binascii
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from typing import TYPE_CHECKING, Any, Final

import structlog

from service import dynamo
from service.aws_errors import translated
from service.clock import SYSTEM_CLOCK, Clock
from service.errors import ConditionFailedError
from service.redaction import REDACTED, mask, mask_customer, mask_name
from service.resources import TTL_ATTRIBUTE

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import (
        AttributeValueTypeDef,
        ScanInputTypeDef,
        TransactWriteItemTypeDef,
    )

log = structlog.get_logger(__name__)

SESSION_PREFIX: Final = "session#"
OUTREACH_PREFIX: Final = "outreach#"
CONTACT_PREFIX: Final = "contact#"
ALIAS_PREFIX: Final = "alias#"
# An alias to a chat that does not exist yet lives as long as a chat could.
ALIAS_TTL_S: Final = 7 * 24 * 3600
DEFAULT_CHAT_DURATION_MINUTES: Final = 25 * 60
# The item outlives the chat a little so a late `chat.ended` still finds its session.
EXPIRY_MARGIN_S: Final = 3600
_SERVICE: Final = "dynamodb"


@dataclass(frozen=True, slots=True, kw_only=True)
class HeldMessage:
    """An agent's item kept while the customer's window is closed, exactly as it came."""

    key: str  # the Connect item's key: the idempotency key of its send
    payload: str
    attributes: dict[str, str]
    held_at: int

    def encoded(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "payload": self.payload,
            "attributes": self.attributes,
            "held_at": self.held_at,
        }

    @classmethod
    def decoded(cls, value: Mapping[str, Any]) -> HeldMessage:
        return cls(
            key=str(value["key"]),
            payload=str(value["payload"]),
            attributes={str(k): str(v) for k, v in dict(value.get("attributes", {})).items()},
            held_at=int(value.get("held_at", 0)),
        )


class HoldResult(Enum):
    HELD = "held"
    ALREADY_HELD = "already_held"  # a replay: it was held before
    FULL = "full"
    CHAT_GONE = "chat_gone"  # the session is no longer this chat's


@dataclass(frozen=True, slots=True, kw_only=True)
class Outreach:
    """A template sent to a customer without a live chat, waiting for their reply."""

    outreach_id: str
    customer_key: str
    template: str
    language: str
    whatsapp_message_id: str
    sent_at: int
    requested_by: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    customer_key: str
    contact_id: str
    initial_contact_id: str
    participant_id: str
    participant_token: str
    display_name: str
    business_phone_number_id: str
    origination_id: str
    last_customer_message_at: int
    expires_at: int
    # EUM's publication time (ns) of that newest message: WhatsApp's timestamps have one
    # second, and a message SQS brings back late may share its second with a later one
    # the agent already has (0: not known).
    last_customer_published_ns: int = 0
    wa_id: str | None = None
    bsuid: str | None = None
    connection_token: str | None = None
    connection_expires_at: int | None = None
    streaming_id: str | None = None
    # When Connect ends the chat on its own (its duration), epoch seconds.
    chat_ends_at: int | None = None
    # The bridge's own participant (CUSTOM_BOT), added when it first has something to say.
    bot_participant_id: str | None = None
    bot_participant_token: str | None = None
    bot_connection_token: str | None = None
    bot_connection_expires_at: int | None = None
    # The agent's messages kept while the window is closed, oldest first (`hold`).
    held: tuple[HeldMessage, ...] = ()
    # The re-engagement template sent for the closure after `reengaged_for` (the customer's
    # last message time then), and when: one per closure, whoever sent it.
    reengaged_for: int | None = None
    reengaged_at: int | None = None
    reengage_template: str | None = None
    # The outreach (`POST /admin/outreach`) whose reply opened this chat.
    outreach_id: str | None = None
    outreach_template: str | None = None
    # Set by the store on every write.
    created_at: int = 0
    updated_at: int = 0
    version: int = 0

    def redacted(self) -> dict[str, Any]:
        """A view for the admin API: no tokens, customer identities masked."""
        return {
            "customer_key": mask_customer(self.customer_key),
            "contact_id": self.contact_id,
            "initial_contact_id": self.initial_contact_id,
            "participant_id": self.participant_id,
            "participant_token": REDACTED,
            "connection_token": None if self.connection_token is None else REDACTED,
            "connection_expires_at": self.connection_expires_at,
            "display_name": mask_name(self.display_name),
            "wa_id": None if self.wa_id is None else mask(self.wa_id),
            "bsuid": None if self.bsuid is None else mask(self.bsuid),
            "business_phone_number_id": self.business_phone_number_id,
            "origination_id": self.origination_id,
            "streaming_id": self.streaming_id,
            "bot_participant_id": self.bot_participant_id,
            "bot_participant_token": None if self.bot_participant_token is None else REDACTED,
            "bot_connection_token": None if self.bot_connection_token is None else REDACTED,
            "bot_connection_expires_at": self.bot_connection_expires_at,
            "last_customer_message_at": self.last_customer_message_at,
            "held": [
                {"key": held.key, "held_at": held.held_at, "attributes": sorted(held.attributes)}
                for held in self.held
            ],
            "reengaged_for": self.reengaged_for,
            "reengaged_at": self.reengaged_at,
            "reengage_template": self.reengage_template,
            "outreach_id": self.outreach_id,
            "outreach_template": self.outreach_template,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "expires_at": self.expires_at,
            "version": self.version,
        }


@dataclass(frozen=True, slots=True)
class SessionPage:
    sessions: list[Session]
    cursor: str | None


def session_expiry(
    started_at: float,
    chat_duration_minutes: int | None = None,
    *,
    margin_s: int = EXPIRY_MARGIN_S,
) -> int:
    """The TTL of a session whose chat started at `started_at` (epoch seconds)."""
    minutes = chat_duration_minutes or DEFAULT_CHAT_DURATION_MINUTES
    return int(started_at) + minutes * 60 + margin_s


@dataclass(frozen=True, slots=True)
class _Read:
    item: Mapping[str, AttributeValueTypeDef] | None
    at: float
    writes: int  # the store's write count when the read began


@dataclass(slots=True)
class _Shared:
    max_age_s: float
    reads: dict[str, _Read] = field(default_factory=dict)


class SessionStore:
    def __init__(
        self,
        *,
        dynamodb: DynamoDBClient,
        table: str,
        clock: Clock = SYSTEM_CLOCK,
        max_contacts: int = 10_000,
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._clock = clock
        # A chat's contact belongs to one customer key for its whole life (an identity
        # change leaves an alias behind that `get` follows), so the mapping is read once:
        # every agent item asked it up to three times (router, order gate, reply).
        self._contacts: OrderedDict[str, str] = OrderedDict()
        self._max_contacts = max_contacts
        # Reads shared within one unit of work (`reads_shared`): what it read, when, and
        # how many writes this store had made by then.
        self._writes = 0
        self._shared: ContextVar[_Shared | None] = ContextVar(
            f"session_reads_{id(self)}", default=None
        )

    @contextmanager
    def reads_shared(self, *, max_age_s: float = 1.0) -> Iterator[None]:
        """Inside the block (this task, and tasks it starts there), a record read once is not
        read again unless this store wrote to the table since, or the read is older than
        `max_age_s`.

        A burst's delivery asked for the same session three times within milliseconds
        (the identity check, the render, the send); each answer is what the next step acts
        on, just as the first was, so sharing it changes nothing but the bill: any write
        of this process (a chat started, ended, moved, touched) makes the next read real,
        and a write by another process is missed for at most `max_age_s` longer than it
        already was between a read and the call that used it. (The process has one
        store: `app.py` builds it once.)
        """
        token = self._shared.set(_Shared(max_age_s))
        try:
            yield
        finally:
            self._shared.reset(token)

    @contextmanager
    def _writing(self, operation: str) -> Iterator[None]:
        # Counted before the call: a read that overlaps the write is not shared after it.
        self._writes += 1
        with translated(_SERVICE, operation):
            yield

    async def get(self, customer_key: str) -> Session | None:
        """The customer's session; after an identity change, the one it moved to (a read
        of the alias only when the key has no session of its own)."""
        item = await self._read(SESSION_PREFIX + customer_key)
        if item is not None:
            return _session_from_item(item)
        alias = await self._read(ALIAS_PREFIX + customer_key)
        if alias is None:
            return None
        item = await self._read(SESSION_PREFIX + str(dynamo.decode(alias)["customer_key"]))
        return None if item is None else _session_from_item(item)

    async def rekey(
        self, old_key: str, new_key: str, *, wa_id: str | None, bsuid: str | None
    ) -> Session | None:
        """Move the live session of `old_key` to `new_key`, in one transaction: the session
        under its new key (only if that key has none), the old item removed (only if
        unchanged since read), the contact mapping pointed at the new key, and an alias
        from the old key. None if there was no session to move. `ConditionFailedError` if
        either side changed meanwhile: re-read and decide again.
        """
        current = await self._read(SESSION_PREFIX + old_key)
        if current is None:
            # No chat yet (the customer's first burst may still be buffered): point the new
            # identity at the old key, where that burst will open the chat, until the chat
            # exists and can be moved (the caller applies the change again after delivery).
            await self._put_alias(new_key, old_key, int(self._clock.time()) + ALIAS_TTL_S)
            return None
        session = _session_from_item(current)
        moved = replace(
            session,
            customer_key=new_key,
            wa_id=wa_id,
            bsuid=bsuid,
            version=session.version + 1,
            updated_at=int(self._clock.time()),
        )
        alias = dynamo.encode(
            {
                "pk": ALIAS_PREFIX + old_key,
                "customer_key": new_key,
                "created_at": moved.updated_at,
                TTL_ATTRIBUTE: moved.expires_at,
            }
        )
        with self._writing("TransactWriteItems"):
            await self._dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": _session_item(moved),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": {"pk": {"S": SESSION_PREFIX + old_key}},
                            "ConditionExpression": "version = :expected",
                            "ExpressionAttributeValues": {":expected": {"N": str(session.version)}},
                        }
                    },
                    {"Put": {"TableName": self._table, "Item": _contact_item(moved)}},
                    {"Put": {"TableName": self._table, "Item": alias}},
                    # The new key may have pointed back here while the chat was not stored.
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": {"pk": {"S": ALIAS_PREFIX + new_key}},
                        }
                    },
                ]
            )
        if moved.initial_contact_id in self._contacts:
            self._remember_contact(moved.initial_contact_id, new_key)
        log.info("session_rekeyed", contact_id=moved.contact_id, version=moved.version)
        return moved

    async def _read(self, pk: str) -> Mapping[str, AttributeValueTypeDef] | None:
        shared = self._shared.get()
        now = self._clock.monotonic()
        if shared is not None:
            earlier = shared.reads.get(pk)
            if (
                earlier is not None
                and earlier.writes == self._writes
                and now - earlier.at <= shared.max_age_s
            ):
                return earlier.item
        writes = self._writes
        # Always strongly consistent: the outbound path must see a session just written.
        with translated(_SERVICE, "GetItem"):
            response = await self._dynamodb.get_item(
                TableName=self._table, Key={"pk": {"S": pk}}, ConsistentRead=True
            )
        item = response.get("Item")
        if shared is not None:
            shared.reads[pk] = _Read(item, now, writes)
        return item

    async def create(self, session: Session, *, replacing: Session | None = None) -> Session:
        """Store a new chat's session and its contact mapping; returns what was stored.

        With `replacing` (the session as last read), the write succeeds only if the stored
        session is still that one, and its contact mapping is removed in the same
        transaction; without, only if the customer has no session. Otherwise
        `ConditionFailedError`: someone else changed it; re-read and decide again.
        """
        now = int(self._clock.time())
        stored = replace(
            session,
            version=1 if replacing is None else replacing.version + 1,
            created_at=now,
            updated_at=now,
        )
        put_session: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table,
                "Item": _session_item(stored),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        if replacing is not None:
            put_session["Put"]["ConditionExpression"] = "version = :expected"
            put_session["Put"]["ExpressionAttributeValues"] = {
                ":expected": {"N": str(replacing.version)}
            }
        items: list[TransactWriteItemTypeDef] = [
            put_session,
            {"Put": {"TableName": self._table, "Item": _contact_item(stored)}},
        ]
        if replacing is not None and replacing.initial_contact_id != stored.initial_contact_id:
            items.append({"Delete": {"TableName": self._table, "Key": _contact_key(replacing)}})
        with self._writing("TransactWriteItems"):
            await self._dynamodb.transact_write_items(TransactItems=items)
        log.info(
            "session_stored",
            contact_id=stored.contact_id,
            version=stored.version,
            replaced=replacing is not None,
        )
        return stored

    async def update_connection(
        self,
        customer_key: str,
        *,
        connection_token: str,
        connection_expires_at: int,
        expected_version: int,
    ) -> Session:
        with self._writing("UpdateItem"):
            response = await self._dynamodb.update_item(
                TableName=self._table,
                Key={"pk": {"S": SESSION_PREFIX + customer_key}},
                UpdateExpression=(
                    "SET connection_token = :token, connection_expires_at = :expiry,"
                    " updated_at = :now, version = version + :one"
                ),
                ConditionExpression="version = :expected",
                ExpressionAttributeValues={
                    ":token": {"S": connection_token},
                    ":expiry": {"N": str(connection_expires_at)},
                    ":now": {"N": str(int(self._clock.time()))},
                    ":one": {"N": "1"},
                    ":expected": {"N": str(expected_version)},
                },
                ReturnValues="ALL_NEW",
            )
        return _session_from_item(response["Attributes"])

    async def touch(
        self, customer_key: str, last_customer_message_at: int, published_ns: int = 0
    ) -> bool:
        """Move the customer's newest message (time, then EUM's publication time within its
        second) forward; False if no session or not newer.

        It does not bump `version`: it commutes with every other write, so it must not make
        them conflict.
        """
        try:
            with self._writing("UpdateItem"):
                await self._dynamodb.update_item(
                    TableName=self._table,
                    Key={"pk": {"S": SESSION_PREFIX + customer_key}},
                    UpdateExpression=(
                        "SET last_customer_message_at = :at, last_customer_published_ns = :ns,"
                        " updated_at = :now"
                    ),
                    ConditionExpression=(
                        "attribute_exists(pk) AND (attribute_not_exists(last_customer_message_at)"
                        " OR last_customer_message_at < :at OR (last_customer_message_at = :at"
                        " AND (attribute_not_exists(last_customer_published_ns)"
                        " OR last_customer_published_ns < :ns)))"
                    ),
                    ExpressionAttributeValues={
                        ":at": {"N": str(last_customer_message_at)},
                        ":ns": {"N": str(published_ns)},
                        ":now": {"N": str(int(self._clock.time()))},
                    },
                )
        except ConditionFailedError:
            return False
        return True

    async def set_bot(
        self,
        session: Session,
        *,
        participant_id: str,
        participant_token: str,
        connection_token: str | None = None,
        connection_expires_at: int | None = None,
    ) -> Session:
        """Record the bridge's participant (and its connection) in the session's chat.

        Only while the stored session is still that chat: a participant of an ended chat
        must never be written into the customer's newer one (`ConditionFailedError`). Like
        `touch`, it leaves `version` alone: these attributes commute with every other write
        (a new chat's `create` replaces them wholesale, which is right).
        """
        values: dict[str, Any] = {
            "bot_participant_id": participant_id,
            "bot_participant_token": participant_token,
        }
        if connection_token is not None:
            values["bot_connection_token"] = connection_token
            values["bot_connection_expires_at"] = connection_expires_at
        names = sorted(values)
        with self._writing("UpdateItem"):
            response = await self._dynamodb.update_item(
                TableName=self._table,
                Key={"pk": {"S": SESSION_PREFIX + session.customer_key}},
                UpdateExpression="SET "
                + ", ".join(f"{name} = :{name}" for name in names)
                + ", updated_at = :now",
                ConditionExpression="initial_contact_id = :contact",
                ExpressionAttributeValues={
                    **{f":{name}": dynamo.encode_value(values[name]) for name in names},
                    ":now": {"N": str(int(self._clock.time()))},
                    ":contact": {"S": session.initial_contact_id},
                },
                ReturnValues="ALL_NEW",
            )
        return _session_from_item(response["Attributes"])

    # ------------------------------------------------------------ held messages

    async def hold(self, session: Session, message: HeldMessage, *, max_held: int) -> HoldResult:
        """Keep an agent's message in the session's chat until the window reopens.

        Appended in one conditional write: only to this chat's session, only once per
        Connect item (a replay finds it held), and never beyond `max_held`. It bumps
        `version`, so a wholesale write made from an older read (`rekey`, a new chat's
        `create`) fails and re-reads instead of dropping what was held.
        """
        try:
            with self._writing("UpdateItem"):
                await self._dynamodb.update_item(
                    TableName=self._table,
                    Key={"pk": {"S": SESSION_PREFIX + session.customer_key}},
                    UpdateExpression=(
                        "SET held = list_append(if_not_exists(held, :empty), :message),"
                        " held_ids = list_append(if_not_exists(held_ids, :empty), :key),"
                        " updated_at = :now, version = version + :one"
                    ),
                    ConditionExpression=(
                        "initial_contact_id = :contact AND NOT contains(held_ids, :id)"
                        " AND (attribute_not_exists(held) OR size(held) < :max)"
                    ),
                    ExpressionAttributeValues={
                        ":empty": {"L": []},
                        ":message": dynamo.encode_value([message.encoded()]),
                        ":key": dynamo.encode_value([message.key]),
                        ":id": {"S": message.key},
                        ":contact": {"S": session.initial_contact_id},
                        ":max": {"N": str(max_held)},
                        ":now": {"N": str(int(self._clock.time()))},
                        ":one": {"N": "1"},
                    },
                )
        except ConditionFailedError:
            current = await self.get(session.customer_key)
            if current is None or current.initial_contact_id != session.initial_contact_id:
                return HoldResult.CHAT_GONE
            if any(held.key == message.key for held in current.held):
                return HoldResult.ALREADY_HELD
            return HoldResult.FULL
        log.info("agent_message_held", contact_id=session.contact_id)
        return HoldResult.HELD

    async def unhold(self, session: Session, keys: Sequence[str]) -> bool:
        """Remove the first `len(keys)` held messages, if they are still those (in order).

        False when the held list changed meanwhile (another worker released them): the
        caller re-reads; sends are claimed, so nothing is sent twice either way.
        """
        if not keys:
            return True
        removed = ", ".join(f"held[{i}], held_ids[{i}]" for i in range(len(keys)))
        condition = " AND ".join(f"held_ids[{i}] = :k{i}" for i in range(len(keys)))
        try:
            with self._writing("UpdateItem"):
                await self._dynamodb.update_item(
                    TableName=self._table,
                    Key={"pk": {"S": SESSION_PREFIX + session.customer_key}},
                    UpdateExpression=(
                        f"REMOVE {removed} SET updated_at = :now, version = version + :one"
                    ),
                    ConditionExpression=f"initial_contact_id = :contact AND {condition}",
                    ExpressionAttributeValues={
                        **{f":k{i}": {"S": key} for i, key in enumerate(keys)},
                        ":contact": {"S": session.initial_contact_id},
                        ":now": {"N": str(int(self._clock.time()))},
                        ":one": {"N": "1"},
                    },
                )
        except ConditionFailedError:
            return False
        return True

    async def mark_reengaged(self, session: Session, *, template: str) -> None:
        """Record that a template was sent for the closure after the customer's last message."""
        try:
            with self._writing("UpdateItem"):
                await self._dynamodb.update_item(
                    TableName=self._table,
                    Key={"pk": {"S": SESSION_PREFIX + session.customer_key}},
                    UpdateExpression=(
                        "SET reengaged_for = :for, reengaged_at = :now,"
                        " reengage_template = :template, updated_at = :now"
                    ),
                    ConditionExpression="initial_contact_id = :contact",
                    ExpressionAttributeValues={
                        ":for": {"N": str(session.last_customer_message_at)},
                        ":template": {"S": template},
                        ":contact": {"S": session.initial_contact_id},
                        ":now": {"N": str(int(self._clock.time()))},
                    },
                )
        except ConditionFailedError:
            log.info("reengaged_chat_gone", contact_id=session.contact_id)

    async def with_held(self) -> list[Session]:
        """Every session holding agent messages (a filtered Scan, for the periodic sweep:
        the table holds one item per live chat, and few of them hold anything)."""
        found: list[Session] = []
        start: dict[str, Any] | None = None
        while True:
            request: ScanInputTypeDef = {
                "TableName": self._table,
                "FilterExpression": "begins_with(pk, :prefix) AND attribute_exists(held_ids)"
                " AND size(held_ids) > :zero",
                "ExpressionAttributeValues": {
                    ":prefix": {"S": SESSION_PREFIX},
                    ":zero": {"N": "0"},
                },
            }
            if start is not None:
                request["ExclusiveStartKey"] = start
            with translated(_SERVICE, "Scan"):
                response = await self._dynamodb.scan(**request)
            found += [_session_from_item(item) for item in response.get("Items", [])]
            last = response.get("LastEvaluatedKey")
            if not last:
                return found
            start = dict(last)

    # ------------------------------------------------------------ outreach

    async def record_outreach(self, outreach: Outreach, *, expires_at: int) -> None:
        item = dynamo.encode(
            {
                "pk": OUTREACH_PREFIX + outreach.customer_key,
                "outreach_id": outreach.outreach_id,
                "customer_key": outreach.customer_key,
                "template": outreach.template,
                "language": outreach.language,
                "whatsapp_message_id": outreach.whatsapp_message_id,
                "sent_at": outreach.sent_at,
                "requested_by": outreach.requested_by,
                TTL_ATTRIBUTE: expires_at,
            }
        )
        with self._writing("PutItem"):
            await self._dynamodb.put_item(TableName=self._table, Item=item)

    async def outreach_for(self, customer_key: str) -> Outreach | None:
        """The outreach waiting for this customer's reply, unless it has expired."""
        item = await self._read(OUTREACH_PREFIX + customer_key)
        if item is None:
            return None
        expires = dynamo.decode(item).get(TTL_ATTRIBUTE)
        # DynamoDB deletes expired items only eventually (within days): read the TTL.
        if isinstance(expires, int) and expires <= self._clock.time():
            return None
        return _outreach_from_item(item)

    async def consume_outreach(self, outreach: Outreach) -> None:
        """The reply's chat carries it now; only that outreach is removed (not a newer one)."""
        try:
            with self._writing("DeleteItem"):
                await self._dynamodb.delete_item(
                    TableName=self._table,
                    Key={"pk": {"S": OUTREACH_PREFIX + outreach.customer_key}},
                    ConditionExpression="outreach_id = :id",
                    ExpressionAttributeValues={":id": {"S": outreach.outreach_id}},
                )
        except ConditionFailedError:
            log.info("outreach_already_replaced")

    async def alias_of(self, customer_key: str) -> tuple[str, int] | None:
        """(the key `customer_key` points at, when that was written), if it points anywhere."""
        item = await self._read(ALIAS_PREFIX + customer_key)
        if item is None:
            return None
        values = dynamo.decode(item)
        return str(values["customer_key"]), int(values.get("created_at", 0))

    async def _put_alias(self, from_key: str, to_key: str, expires_at: int) -> None:
        item = dynamo.encode(
            {
                "pk": ALIAS_PREFIX + from_key,
                "customer_key": to_key,
                "created_at": int(self._clock.time()),
                TTL_ATTRIBUTE: expires_at,
            }
        )
        with self._writing("PutItem"):
            await self._dynamodb.put_item(TableName=self._table, Item=item)

    async def find_by_initial_contact(self, initial_contact_id: str) -> Session | None:
        customer_key = self._contacts.get(initial_contact_id)
        if customer_key is None:
            item = await self._read(CONTACT_PREFIX + initial_contact_id)
            if item is None:
                return None  # not remembered: a young chat's mapping may be written soon
            customer_key = str(dynamo.decode(item)["customer_key"])
            self._remember_contact(initial_contact_id, customer_key)
        else:
            self._contacts.move_to_end(initial_contact_id)
        session = await self.get(customer_key)
        # The customer may already be in a newer chat; this contact's session is gone.
        if session is None or session.initial_contact_id != initial_contact_id:
            return None
        return session

    def _remember_contact(self, initial_contact_id: str, customer_key: str) -> None:
        self._contacts[initial_contact_id] = customer_key
        self._contacts.move_to_end(initial_contact_id)
        while len(self._contacts) > self._max_contacts:
            self._contacts.popitem(last=False)

    async def delete(self, customer_key: str, *, initial_contact_id: str | None = None) -> bool:
        """Remove the session and its contact mapping; False if there was nothing to remove.

        With `initial_contact_id` the session is removed only while it still belongs to that
        chat (a late `chat.ended` must not end the customer's newer chat); that contact's
        mapping is removed either way.
        """
        if initial_contact_id is None:
            current = await self.get(customer_key)
            if current is None:
                return False
            initial_contact_id = current.initial_contact_id
        contact_key = dynamo.encode({"pk": CONTACT_PREFIX + initial_contact_id})
        try:
            with self._writing("TransactWriteItems"):
                await self._dynamodb.transact_write_items(
                    TransactItems=[
                        {
                            "Delete": {
                                "TableName": self._table,
                                "Key": {"pk": {"S": SESSION_PREFIX + customer_key}},
                                "ConditionExpression": "initial_contact_id = :contact",
                                "ExpressionAttributeValues": {
                                    ":contact": {"S": initial_contact_id}
                                },
                            }
                        },
                        {"Delete": {"TableName": self._table, "Key": contact_key}},
                    ]
                )
        except ConditionFailedError:
            with self._writing("DeleteItem"):
                await self._dynamodb.delete_item(TableName=self._table, Key=contact_key)
            return False
        log.info("session_deleted", initial_contact_id=initial_contact_id)
        return True

    async def list(self, *, limit: int = 50, cursor: str | None = None) -> SessionPage:
        """A page of sessions for the admin API, in no particular order.

        A filtered Scan: fine for an operator's occasional look at a table of live chats
        (thousands of items), not for a request path.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        start = None if cursor is None else _decode_cursor(cursor)
        sessions: list[Session] = []
        while True:
            request: ScanInputTypeDef = {
                "TableName": self._table,
                # Limit counts items read before the filter: never read past the page.
                "Limit": limit - len(sessions),
                "FilterExpression": "begins_with(pk, :prefix)",
                "ExpressionAttributeValues": {":prefix": {"S": SESSION_PREFIX}},
            }
            if start is not None:
                request["ExclusiveStartKey"] = {"pk": {"S": start}}
            with translated(_SERVICE, "Scan"):
                response = await self._dynamodb.scan(**request)
            sessions += [_session_from_item(item) for item in response.get("Items", [])]
            last = response.get("LastEvaluatedKey")
            start = None if last is None else str(dynamo.decode(last)["pk"])
            if start is None or len(sessions) >= limit:
                break
        return SessionPage(sessions, None if start is None else _encode_cursor(start))


# Attribute names of a session item: its fields, but the TTL under the table's TTL name.
_RENAMED: Final = {"expires_at": TTL_ATTRIBUTE}


def _session_item(session: Session) -> dict[str, Any]:
    values = {_RENAMED.get(f.name, f.name): getattr(session, f.name) for f in fields(session)}
    if session.held:
        values["held"] = [held.encoded() for held in session.held]
        # The keys again, as a list `contains` can test (a list of maps cannot be).
        values["held_ids"] = [held.key for held in session.held]
    else:
        values["held"] = None
    return dynamo.encode({"pk": SESSION_PREFIX + session.customer_key, **values})


def _contact_key(session: Session) -> dict[str, Any]:
    return dynamo.encode({"pk": CONTACT_PREFIX + session.initial_contact_id})


def _contact_item(session: Session) -> dict[str, Any]:
    return {
        **_contact_key(session),
        **dynamo.encode({"customer_key": session.customer_key, TTL_ATTRIBUTE: session.expires_at}),
    }


def _session_from_item(item: Mapping[str, Any]) -> Session:
    values = dynamo.decode(item)
    values["held"] = tuple(HeldMessage.decoded(held) for held in values.get("held") or ())
    stored = {f.name: _RENAMED.get(f.name, f.name) for f in fields(Session)}
    return Session(**{name: values[attr] for name, attr in stored.items() if attr in values})


def _outreach_from_item(item: Mapping[str, Any]) -> Outreach:
    values = dynamo.decode(item)
    return Outreach(
        outreach_id=str(values["outreach_id"]),
        customer_key=str(values["customer_key"]),
        template=str(values["template"]),
        language=str(values["language"]),
        whatsapp_message_id=str(values["whatsapp_message_id"]),
        sent_at=int(values["sent_at"]),
        requested_by=values.get("requested_by"),
    )


def _encode_cursor(pk: str) -> str:
    return base64.urlsafe_b64encode(pk.encode()).decode()


def _decode_cursor(cursor: str) -> str:
    try:
        pk = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("not a session cursor") from exc
    # A page may end on any item kind of the table.
    if not pk.startswith((SESSION_PREFIX, CONTACT_PREFIX, ALIAS_PREFIX, OUTREACH_PREFIX)):
        raise ValueError("not a session cursor")
    return pk
