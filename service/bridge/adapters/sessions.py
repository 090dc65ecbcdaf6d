"""The sessions table: the live Connect chat of each (business number, customer).

Two item kinds share the table's `pk` hash key:

- `session#<customer key>`: the chat's ids and tokens, the customer's identity, the time of
  the customer's last message (the WhatsApp 24-hour window), a `version` for optimistic
  concurrency and the TTL;
- `contact#<initial contact id>` → customer key: outbound streaming events carry only
  contact ids, and this mapping must be readable strongly consistently, which a secondary
  index is not. Both items are always written and removed in one transaction.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final

import structlog
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from service.errors import (
    BridgeError,
    ConfigurationError,
    DependencyUnavailableError,
    InvalidRequestError,
    SessionConflictError,
    ThrottledError,
)
from service.resources import TTL_ATTRIBUTE

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import (
        AttributeValueTypeDef,
        ScanInputTypeDef,
        TransactWriteItemTypeDef,
        UniversalAttributeValueTypeDef,
    )

log = structlog.get_logger(__name__)

SESSION_PREFIX: Final = "session#"
CONTACT_PREFIX: Final = "contact#"
DEFAULT_CHAT_DURATION_MINUTES: Final = 25 * 60
# The item outlives the chat a little so a late `chat.ended` still finds its session.
EXPIRY_MARGIN_S: Final = 3600
REDACTED: Final = "[redacted]"
_MASK: Final = "•"
_VISIBLE_DIGITS: Final = 4
_HTTP_SERVER_ERROR: Final = 500
_ERRORS_BY_CODE: Final[Mapping[str, type[BridgeError]]] = {
    "ConditionalCheckFailedException": SessionConflictError,
    "ProvisionedThroughputExceededException": ThrottledError,
    "ThrottlingException": ThrottledError,
    "RequestLimitExceeded": ThrottledError,
    "ResourceNotFoundException": ConfigurationError,
    "ValidationException": InvalidRequestError,
}
_ERRORS_BY_REASON: Final[Mapping[str, type[BridgeError]]] = {
    "ConditionalCheckFailed": SessionConflictError,
    "TransactionConflict": SessionConflictError,
    "ThrottlingError": ThrottledError,
    "ProvisionedThroughputExceeded": ThrottledError,
}


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
    wa_id: str | None = None
    bsuid: str | None = None
    connection_token: str | None = None
    connection_expires_at: int | None = None
    streaming_id: str | None = None
    # When Connect ends the chat on its own (its duration), epoch seconds.
    chat_ends_at: int | None = None
    # Set by the store on every write.
    created_at: int = 0
    updated_at: int = 0
    version: int = 0

    def redacted(self) -> dict[str, str | int | None]:
        """A view for the admin API: no tokens, customer identities masked."""
        business, _, customer = self.customer_key.partition("#")
        return {
            "customer_key": f"{business}#{mask(customer)}" if customer else mask(business),
            "contact_id": self.contact_id,
            "initial_contact_id": self.initial_contact_id,
            "participant_id": self.participant_id,
            "participant_token": REDACTED,
            "connection_token": None if self.connection_token is None else REDACTED,
            "connection_expires_at": self.connection_expires_at,
            "display_name": self.display_name[:1] + _MASK * 3 if self.display_name else "",
            "wa_id": None if self.wa_id is None else mask(self.wa_id),
            "bsuid": None if self.bsuid is None else mask(self.bsuid),
            "business_phone_number_id": self.business_phone_number_id,
            "origination_id": self.origination_id,
            "streaming_id": self.streaming_id,
            "last_customer_message_at": self.last_customer_message_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "expires_at": self.expires_at,
            "version": self.version,
        }


@dataclass(frozen=True, slots=True)
class SessionPage:
    sessions: list[Session]
    cursor: str | None


def mask(value: str) -> str:
    """All but the last 4 characters hidden; short values entirely."""
    if len(value) <= _VISIBLE_DIGITS:
        return _MASK * len(value)
    return _MASK * (len(value) - _VISIBLE_DIGITS) + value[-_VISIBLE_DIGITS:]


def session_expiry(
    started_at: float,
    chat_duration_minutes: int | None = None,
    *,
    margin_s: int = EXPIRY_MARGIN_S,
) -> int:
    """The TTL of a session whose chat started at `started_at` (epoch seconds)."""
    minutes = chat_duration_minutes or DEFAULT_CHAT_DURATION_MINUTES
    return int(started_at) + minutes * 60 + margin_s


class SessionStore:
    def __init__(
        self,
        *,
        dynamodb: DynamoDBClient,
        table: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._clock = clock

    async def get(self, customer_key: str) -> Session | None:
        item = await self._read(SESSION_PREFIX + customer_key)
        return None if item is None else _session_from_item(item)

    async def _read(self, pk: str) -> Mapping[str, AttributeValueTypeDef] | None:
        # Always strongly consistent: the outbound path must see a session just written.
        with _translated("GetItem"):
            response = await self._dynamodb.get_item(
                TableName=self._table, Key={"pk": {"S": pk}}, ConsistentRead=True
            )
        return response.get("Item")

    async def create(self, session: Session, *, replacing: Session | None = None) -> Session:
        """Store a new chat's session and its contact mapping; returns what was stored.

        With `replacing` (the session as last read), the write succeeds only if the stored
        session is still that one, and its contact mapping is removed in the same
        transaction; without, only if the customer has no session. Otherwise
        `SessionConflictError`: someone else changed it; re-read and decide again.
        """
        now = int(self._clock())
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
        with _translated("TransactWriteItems"):
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
        with _translated("UpdateItem"):
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
                    ":now": {"N": str(int(self._clock()))},
                    ":one": {"N": "1"},
                    ":expected": {"N": str(expected_version)},
                },
                ReturnValues="ALL_NEW",
            )
        return _session_from_item(response["Attributes"])

    async def touch(self, customer_key: str, last_customer_message_at: int) -> bool:
        """Move the customer's last-message time forward; False if no session or not newer.

        It does not bump `version`: it commutes with every other write, so it must not make
        them conflict.
        """
        try:
            with _translated("UpdateItem"):
                await self._dynamodb.update_item(
                    TableName=self._table,
                    Key={"pk": {"S": SESSION_PREFIX + customer_key}},
                    UpdateExpression="SET last_customer_message_at = :at, updated_at = :now",
                    ConditionExpression=(
                        "attribute_exists(pk) AND (attribute_not_exists(last_customer_message_at)"
                        " OR last_customer_message_at < :at)"
                    ),
                    ExpressionAttributeValues={
                        ":at": {"N": str(last_customer_message_at)},
                        ":now": {"N": str(int(self._clock()))},
                    },
                )
        except SessionConflictError:
            return False
        return True

    async def find_by_initial_contact(self, initial_contact_id: str) -> Session | None:
        item = await self._read(CONTACT_PREFIX + initial_contact_id)
        if item is None:
            return None
        session = await self.get(_s(item, "customer_key"))
        # The customer may already be in a newer chat; this contact's session is gone.
        if session is None or session.initial_contact_id != initial_contact_id:
            return None
        return session

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
        contact_key: Mapping[str, UniversalAttributeValueTypeDef] = {
            "pk": {"S": CONTACT_PREFIX + initial_contact_id}
        }
        try:
            with _translated("TransactWriteItems"):
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
        except SessionConflictError:
            with _translated("DeleteItem"):
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
            with _translated("Scan"):
                response = await self._dynamodb.scan(**request)
            sessions += [_session_from_item(item) for item in response.get("Items", [])]
            last = response.get("LastEvaluatedKey")
            start = None if last is None else _s(last, "pk")
            if start is None or len(sessions) >= limit:
                break
        return SessionPage(sessions, None if start is None else _encode_cursor(start))


def _session_item(session: Session) -> dict[str, UniversalAttributeValueTypeDef]:
    item: dict[str, UniversalAttributeValueTypeDef] = {
        "pk": {"S": SESSION_PREFIX + session.customer_key},
        "customer_key": {"S": session.customer_key},
        "contact_id": {"S": session.contact_id},
        "initial_contact_id": {"S": session.initial_contact_id},
        "participant_id": {"S": session.participant_id},
        "participant_token": {"S": session.participant_token},
        "display_name": {"S": session.display_name},
        "business_phone_number_id": {"S": session.business_phone_number_id},
        "origination_id": {"S": session.origination_id},
        "last_customer_message_at": {"N": str(session.last_customer_message_at)},
        "created_at": {"N": str(session.created_at)},
        "updated_at": {"N": str(session.updated_at)},
        "version": {"N": str(session.version)},
        TTL_ATTRIBUTE: {"N": str(session.expires_at)},
    }
    optional_strings = {
        "wa_id": session.wa_id,
        "bsuid": session.bsuid,
        "connection_token": session.connection_token,
        "streaming_id": session.streaming_id,
    }
    for name, value in optional_strings.items():
        if value is not None:
            item[name] = {"S": value}
    if session.connection_expires_at is not None:
        item["connection_expires_at"] = {"N": str(session.connection_expires_at)}
    if session.chat_ends_at is not None:
        item["chat_ends_at"] = {"N": str(session.chat_ends_at)}
    return item


def _contact_key(session: Session) -> dict[str, UniversalAttributeValueTypeDef]:
    return {"pk": {"S": CONTACT_PREFIX + session.initial_contact_id}}


def _contact_item(session: Session) -> dict[str, UniversalAttributeValueTypeDef]:
    return {
        **_contact_key(session),
        "customer_key": {"S": session.customer_key},
        TTL_ATTRIBUTE: {"N": str(session.expires_at)},
    }


def _s(item: Mapping[str, AttributeValueTypeDef], name: str) -> str:
    return item[name]["S"]


def _opt_s(item: Mapping[str, AttributeValueTypeDef], name: str) -> str | None:
    value = item.get(name)
    return None if value is None else value["S"]


def _n(item: Mapping[str, AttributeValueTypeDef], name: str) -> int:
    return int(item[name]["N"])


def _opt_n(item: Mapping[str, AttributeValueTypeDef], name: str) -> int | None:
    value = item.get(name)
    return None if value is None else int(value["N"])


def _session_from_item(item: Mapping[str, AttributeValueTypeDef]) -> Session:
    return Session(
        customer_key=_s(item, "customer_key"),
        contact_id=_s(item, "contact_id"),
        initial_contact_id=_s(item, "initial_contact_id"),
        participant_id=_s(item, "participant_id"),
        participant_token=_s(item, "participant_token"),
        display_name=_s(item, "display_name"),
        business_phone_number_id=_s(item, "business_phone_number_id"),
        origination_id=_s(item, "origination_id"),
        last_customer_message_at=_n(item, "last_customer_message_at"),
        expires_at=_n(item, TTL_ATTRIBUTE),
        wa_id=_opt_s(item, "wa_id"),
        bsuid=_opt_s(item, "bsuid"),
        connection_token=_opt_s(item, "connection_token"),
        connection_expires_at=_opt_n(item, "connection_expires_at"),
        streaming_id=_opt_s(item, "streaming_id"),
        chat_ends_at=_opt_n(item, "chat_ends_at"),
        created_at=_n(item, "created_at"),
        updated_at=_n(item, "updated_at"),
        version=_n(item, "version"),
    )


def _encode_cursor(pk: str) -> str:
    return base64.urlsafe_b64encode(pk.encode()).decode()


def _decode_cursor(cursor: str) -> str:
    try:
        pk = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("not a session cursor") from exc
    if not pk.startswith((SESSION_PREFIX, CONTACT_PREFIX)):
        raise ValueError("not a session cursor")
    return pk


@contextlib.contextmanager
def _translated(operation: str) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        error = _translate(exc, operation)
        if error is None:
            raise
        raise error from exc
    except (HTTPClientError, BotocoreConnectionError) as exc:
        raise DependencyUnavailableError(f"{operation}: {type(exc).__name__}") from exc


def _translate(exc: ClientError, operation: str) -> BridgeError | None:
    code = exc.response.get("Error", {}).get("Code", "")
    message = f"{operation}: {exc.response.get('Error', {}).get('Message', code)}"
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    error_class: type[BridgeError] | None
    if code == "TransactionCanceledException":
        # The transaction's code says nothing; each item's reason ("None" if it was fine)
        # says why it failed.
        reasons = [reason.get("Code", "") for reason in exc.response.get("CancellationReasons", [])]
        error_class = next((_ERRORS_BY_REASON[r] for r in reasons if r in _ERRORS_BY_REASON), None)
    else:
        error_class = _ERRORS_BY_CODE.get(code)
        if error_class is None and status >= _HTTP_SERVER_ERROR:
            error_class = DependencyUnavailableError
    return None if error_class is None else error_class(message)
