"""The one translation of botocore errors, at the AWS boundary.

Every call to AWS (adapters and consumers alike) that fails is classified here, by one
table of rules: the error code, optionally narrowed to a service or to operations, gives
an `ErrorKind`. A code nobody listed is judged by its shape (HTTP 429 or a throttling
word: throttled; 5xx or no answer: unavailable). A new error code is one line in
`_RULES`. DynamoDB transactions are classified by their cancellation reasons (the
transaction's own code says nothing), so a throttled transaction is never mistaken for a
conflict.

Adapters raise the bridge's typed errors (`service.errors`) through `translated`;
consumers look at the kind with `classify`. Nothing else in the service reads
`ClientError.response["Error"]["Code"]`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import structlog
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ParamValidationError,
)

from service.call_errors import CallErrors
from service.errors import (
    AttachmentRejectedError,
    BridgeError,
    ConditionFailedError,
    ConfigurationError,
    ConflictError,
    ConnectQuotaError,
    ContactNotFoundError,
    DependencyUnavailableError,
    InvalidRequestError,
    MessageTooLargeError,
    ParticipantAccessDeniedError,
    ThrottledError,
    WhatsAppSendError,
)

log = structlog.get_logger(__name__)


class ErrorKind(StrEnum):
    THROTTLED = "throttled"
    QUOTA = "quota"  # Connect's concurrent-chats quota (or its TPS) on StartChatContact
    UNAVAILABLE = "unavailable"
    CONDITION_FAILED = "condition_failed"
    INVALID = "invalid"
    TOO_LARGE = "too_large"
    CONFIGURATION = "configuration"
    CONTACT_GONE = "contact_gone"
    ACCESS_DENIED = "access_denied"  # a participant's connection or the chat is gone
    ATTACHMENT_REJECTED = "attachment_rejected"
    CONFLICT = "conflict"
    REFUSED = "refused"  # WhatsApp (EUM or Meta) refused the message itself
    ITERATOR_EXPIRED = "iterator_expired"
    DATA_TRIMMED = "data_trimmed"
    NOT_FOUND = "not_found"  # a stream, shard or queue that no longer exists
    UNKNOWN = "unknown"  # a 4xx code no rule names


@dataclass(frozen=True, slots=True)
class _Rule:
    code: str
    kind: ErrorKind
    services: frozenset[str] | None = None
    operations: frozenset[str] | None = None

    def matches(self, code: str, service: str, operation: str) -> bool:
        return (
            self.code == code
            and (self.services is None or service in self.services)
            and (self.operations is None or operation in self.operations)
        )


def _rule(code: str, kind: ErrorKind, *, services: str = "", operations: str = "") -> _Rule:
    return _Rule(
        code,
        kind,
        frozenset(services.split()) if services else None,
        frozenset(operations.split()) if operations else None,
    )


_CONNECT: Final = "connect"
_PARTICIPANT: Final = "connectparticipant"
_WHATSAPP: Final = "socialmessaging"
_TEXT_OPERATIONS: Final = frozenset({"StartChatContact", "SendMessage"})

# Most specific rules first: the first that matches wins.
_RULES: Final[tuple[_Rule, ...]] = (
    # Amazon Connect and its Participant Service
    _rule("LimitExceededException", ErrorKind.QUOTA, operations="StartChatContact"),
    _rule("AccessDeniedException", ErrorKind.ACCESS_DENIED, services=_PARTICIPANT),
    _rule("ResourceNotFoundException", ErrorKind.CONFIGURATION, operations="StartChatContact"),
    _rule("ResourceNotFoundException", ErrorKind.CONTACT_GONE, services=_CONNECT),
    _rule("ResourceNotFoundException", ErrorKind.CONTACT_GONE, services=_PARTICIPANT),
    _rule("ValidationException", ErrorKind.ATTACHMENT_REJECTED, operations="StartAttachmentUpload"),
    _rule("ServiceQuotaExceededException", ErrorKind.ATTACHMENT_REJECTED),
    _rule("IdempotencyException", ErrorKind.INVALID),
    # End User Messaging Social (WhatsApp)
    _rule("ValidationException", ErrorKind.REFUSED, services=_WHATSAPP),
    _rule("InvalidParametersException", ErrorKind.REFUSED, services=_WHATSAPP),
    _rule("AccessDeniedByMetaException", ErrorKind.CONFIGURATION),
    _rule("DependencyException", ErrorKind.UNAVAILABLE),
    # DynamoDB and DynamoDB Streams
    _rule("ConditionalCheckFailedException", ErrorKind.CONDITION_FAILED),
    _rule("TransactionConflictException", ErrorKind.CONDITION_FAILED),
    _rule("ProvisionedThroughputExceededException", ErrorKind.THROTTLED),
    _rule("RequestLimitExceeded", ErrorKind.THROTTLED),
    _rule("ExpiredIteratorException", ErrorKind.ITERATOR_EXPIRED),
    _rule("TrimmedDataAccessException", ErrorKind.DATA_TRIMMED),
    _rule("ResourceNotFoundException", ErrorKind.NOT_FOUND, services="dynamodbstreams sqs"),
    _rule("ResourceNotFoundException", ErrorKind.CONFIGURATION),
    # SSM, SQS
    _rule("ParameterNotFound", ErrorKind.CONFIGURATION),
    _rule("AWS.SimpleQueueService.NonExistentQueue", ErrorKind.NOT_FOUND),
    _rule("QueueDoesNotExist", ErrorKind.NOT_FOUND),
    # Everyone
    _rule("ThrottlingException", ErrorKind.THROTTLED),
    _rule("TooManyRequestsException", ErrorKind.THROTTLED),
    _rule("ThrottledRequestException", ErrorKind.THROTTLED),
    _rule("LimitExceededException", ErrorKind.THROTTLED),
    _rule("AccessDeniedException", ErrorKind.CONFIGURATION),
    _rule("ValidationException", ErrorKind.INVALID),
    _rule("InvalidParameterException", ErrorKind.INVALID),
    _rule("InvalidRequestException", ErrorKind.INVALID),
    _rule("ConflictException", ErrorKind.CONFLICT),
    _rule("InternalServiceException", ErrorKind.UNAVAILABLE),
    _rule("InternalServerException", ErrorKind.UNAVAILABLE),
    _rule("InternalServerError", ErrorKind.UNAVAILABLE),
    _rule("ServiceUnavailableException", ErrorKind.UNAVAILABLE),
)

# DynamoDB transactions: each item's cancellation reason ("None" if that item was fine).
_CANCELLATION_REASONS: Final = {
    "ConditionalCheckFailed": ErrorKind.CONDITION_FAILED,
    "TransactionConflict": ErrorKind.CONDITION_FAILED,
    "ThrottlingError": ErrorKind.THROTTLED,
    "ProvisionedThroughputExceeded": ErrorKind.THROTTLED,
    "ValidationError": ErrorKind.INVALID,
    "ItemCollectionSizeLimitExceeded": ErrorKind.INVALID,
}
# How a size rejection reads: "Content is too long", "Member must have length less than or
# equal to 1024", "... exceeds the maximum size".
_SIZE_WORDS: Final = re.compile(r"too long|too large|length|size", re.IGNORECASE)
_THROTTLING_WORDS: Final = re.compile(r"thrott|toomanyrequests|slowdown", re.IGNORECASE)
_META_CODE: Final = re.compile(r"\(#(\d{1,7})\)|\bcode[\"':= ]+(\d{3,7})")
_TOO_MANY_REQUESTS: Final = 429
_SERVER_ERROR: Final = 500


@dataclass(frozen=True, slots=True)
class AwsFailure:
    """What went wrong with one AWS call, in the service's terms. Safe to log."""

    kind: ErrorKind
    code: str  # AWS's error code, or the botocore exception's class name
    message: str  # "<operation> <code>: <AWS's message>" (AWS messages carry no customer data)
    status: int = 0
    retry_after_s: float | None = None
    meta_code: int | None = None  # WhatsApp: Meta's error code, when the message names one

    @property
    def retryable(self) -> bool:
        return self.kind in {ErrorKind.THROTTLED, ErrorKind.UNAVAILABLE, ErrorKind.QUOTA}


def meta_code(text: str) -> int | None:
    """Meta's numeric error code in an EUM error message (`(#131047)`, `code: 131047`)."""
    match = _META_CODE.search(text)
    if match is None:
        return None
    return int(match.group(1) or match.group(2))


def classify(exc: BaseException, *, service: str, operation: str) -> AwsFailure:
    """The kind of failure `exc` (raised by an aiobotocore call) stands for."""
    if isinstance(exc, ClientError):
        return _client_error(exc, service, operation)
    if isinstance(exc, ParamValidationError):
        # The request never left: our bug, and it will not get better by retrying.
        return AwsFailure(ErrorKind.INVALID, type(exc).__name__, f"{operation}: {exc}")
    name = type(exc).__name__
    return AwsFailure(ErrorKind.UNAVAILABLE, name, f"{operation}: {name}")


def _client_error(exc: ClientError, service: str, operation: str) -> AwsFailure:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    text = str(error.get("Message", code))
    metadata = exc.response.get("ResponseMetadata", {})
    status = int(metadata.get("HTTPStatusCode", 0) or 0)
    kind = _kind(exc, code, status, service, operation)
    if kind is ErrorKind.INVALID and operation in _TEXT_OPERATIONS and _SIZE_WORDS.search(text):
        kind = ErrorKind.TOO_LARGE
    if kind is ErrorKind.UNKNOWN and service == _WHATSAPP:
        kind = ErrorKind.REFUSED  # WhatsApp's 4xx codes are about the message
    retry_after = _retry_after(metadata.get("HTTPHeaders", {}).get("retry-after"))
    return AwsFailure(
        kind=kind,
        code=code,
        message=f"{operation} {code}: {text[:300]}",
        status=status,
        retry_after_s=retry_after if kind is ErrorKind.THROTTLED else None,
        meta_code=meta_code(text) if service == _WHATSAPP else None,
    )


def _kind(exc: ClientError, code: str, status: int, service: str, operation: str) -> ErrorKind:
    if code == "TransactionCanceledException":
        reasons = [str(r.get("Code", "")) for r in exc.response.get("CancellationReasons", [])]
        found = [_CANCELLATION_REASONS[r] for r in reasons if r in _CANCELLATION_REASONS]
        # Throttling first: retrying a throttled transaction is right even if another item
        # also failed its condition (the retry will say so).
        if ErrorKind.THROTTLED in found:
            return ErrorKind.THROTTLED
        return found[0] if found else ErrorKind.UNAVAILABLE
    for rule in _RULES:
        if rule.matches(code, service, operation):
            return rule.kind
    if status == _TOO_MANY_REQUESTS or _THROTTLING_WORDS.search(code):
        return ErrorKind.THROTTLED
    if status >= _SERVER_ERROR or not status:
        return ErrorKind.UNAVAILABLE
    return ErrorKind.UNKNOWN


def _retry_after(value: object) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(str(value)))
    except ValueError:
        return None


_ERRORS: Final[dict[ErrorKind, type[BridgeError]]] = {
    ErrorKind.THROTTLED: ThrottledError,
    ErrorKind.QUOTA: ConnectQuotaError,
    ErrorKind.UNAVAILABLE: DependencyUnavailableError,
    ErrorKind.CONDITION_FAILED: ConditionFailedError,
    ErrorKind.INVALID: InvalidRequestError,
    ErrorKind.TOO_LARGE: MessageTooLargeError,
    ErrorKind.CONFIGURATION: ConfigurationError,
    ErrorKind.CONTACT_GONE: ContactNotFoundError,
    ErrorKind.ACCESS_DENIED: ParticipantAccessDeniedError,
    ErrorKind.ATTACHMENT_REJECTED: AttachmentRejectedError,
    ErrorKind.CONFLICT: ConflictError,
    ErrorKind.REFUSED: WhatsAppSendError,
    ErrorKind.ITERATOR_EXPIRED: DependencyUnavailableError,
    ErrorKind.DATA_TRIMMED: DependencyUnavailableError,
    ErrorKind.NOT_FOUND: ConfigurationError,
    # Retried (and bounded by the caller's attempts) rather than parked at once: a code
    # nobody has seen yet is more often transient than a bug in the request.
    ErrorKind.UNKNOWN: DependencyUnavailableError,
}


def to_error(failure: AwsFailure) -> BridgeError:
    """The bridge's typed error for a classified failure."""
    error_class = _ERRORS[failure.kind]
    if error_class is ThrottledError:
        return ThrottledError(failure.message, retry_after_s=failure.retry_after_s)
    if error_class is WhatsAppSendError:
        return WhatsAppSendError(failure.message, meta_code=failure.meta_code)
    return error_class(failure.message)


@contextlib.contextmanager
def translated(service: str, operation: str, errors: CallErrors | None = None) -> Iterator[None]:
    """Raise the bridge's typed error (from the botocore one) for a failed AWS call."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        failure = classify(exc, service=service, operation=operation)
        code = f"{failure.code}/{failure.meta_code}" if failure.meta_code else failure.code
        if errors is not None:
            errors.record(service, operation, code)
        log.info(
            "aws_call_failed",
            service=service,
            operation=operation,
            code=code,
            kind=failure.kind.value,
        )
        raise to_error(failure) from exc
