"""The one botocore error table: every kind the service acts on, and the shape fallback."""

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ParamValidationError,
)
from prometheus_client import CollectorRegistry

from service import errors
from service.aws_errors import ErrorKind, classify, meta_code, to_error, translated
from service.call_errors import CallErrors


def client_error(code: str, status: int = 400, message: str = "", **extra: Any) -> ClientError:
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": message or code},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
        **extra,
    }
    return ClientError(response, "Op")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "status", "service", "operation", "kind"),
    [
        ("LimitExceededException", 429, "connect", "StartChatContact", ErrorKind.QUOTA),
        ("LimitExceededException", 429, "connect", "StartContactStreaming", ErrorKind.THROTTLED),
        (
            "AccessDeniedException",
            403,
            "connectparticipant",
            "SendMessage",
            ErrorKind.ACCESS_DENIED,
        ),
        ("AccessDeniedException", 403, "connect", "StartChatContact", ErrorKind.CONFIGURATION),
        ("ResourceNotFoundException", 404, "connect", "StartChatContact", ErrorKind.CONFIGURATION),
        (
            "ResourceNotFoundException",
            404,
            "connect",
            "StartContactStreaming",
            ErrorKind.CONTACT_GONE,
        ),
        (
            "ValidationException",
            400,
            "connectparticipant",
            "StartAttachmentUpload",
            ErrorKind.ATTACHMENT_REJECTED,
        ),
        (
            "ServiceQuotaExceededException",
            402,
            "connectparticipant",
            "StartAttachmentUpload",
            ErrorKind.ATTACHMENT_REJECTED,
        ),
        ("ThrottlingException", 429, "connectparticipant", "SendMessage", ErrorKind.THROTTLED),
        ("ConflictException", 409, "connectparticipant", "SendEvent", ErrorKind.CONFLICT),
        ("InternalServiceException", 500, "connect", "StartChatContact", ErrorKind.UNAVAILABLE),
        ("ValidationException", 400, "socialmessaging", "SendWhatsAppMessage", ErrorKind.REFUSED),
        (
            "ThrottledRequestException",
            429,
            "socialmessaging",
            "SendWhatsAppMessage",
            ErrorKind.THROTTLED,
        ),
        (
            "AccessDeniedByMetaException",
            403,
            "socialmessaging",
            "SendWhatsAppMessage",
            ErrorKind.CONFIGURATION,
        ),
        (
            "DependencyException",
            502,
            "socialmessaging",
            "SendWhatsAppMessage",
            ErrorKind.UNAVAILABLE,
        ),
        ("ConditionalCheckFailedException", 400, "dynamodb", "PutItem", ErrorKind.CONDITION_FAILED),
        ("ProvisionedThroughputExceededException", 400, "dynamodb", "PutItem", ErrorKind.THROTTLED),
        ("ResourceNotFoundException", 400, "dynamodb", "PutItem", ErrorKind.CONFIGURATION),
        ("ValidationException", 400, "dynamodb", "BatchWriteItem", ErrorKind.INVALID),
        (
            "ExpiredIteratorException",
            400,
            "dynamodbstreams",
            "GetRecords",
            ErrorKind.ITERATOR_EXPIRED,
        ),
        (
            "TrimmedDataAccessException",
            400,
            "dynamodbstreams",
            "GetRecords",
            ErrorKind.DATA_TRIMMED,
        ),
        ("LimitExceededException", 400, "dynamodbstreams", "GetRecords", ErrorKind.THROTTLED),
        ("ResourceNotFoundException", 400, "dynamodbstreams", "GetRecords", ErrorKind.NOT_FOUND),
        # Codes nobody listed: judged by their shape.
        ("SlowDown", 503, "s3", "PutObject", ErrorKind.THROTTLED),
        ("BrandNewThrottlingError", 400, "sqs", "ReceiveMessage", ErrorKind.THROTTLED),
        ("Whatever", 503, "connect", "StartChatContact", ErrorKind.UNAVAILABLE),
        ("Whatever", 418, "connect", "StartChatContact", ErrorKind.UNKNOWN),
        ("Whatever", 418, "socialmessaging", "SendWhatsAppMessage", ErrorKind.REFUSED),
    ],
)
def test_the_table(code, status, service, operation, kind):
    assert classify(client_error(code, status), service=service, operation=operation).kind is kind


@pytest.mark.parametrize(
    ("reasons", "kind"),
    [
        (["None", "ConditionalCheckFailed"], ErrorKind.CONDITION_FAILED),
        (["TransactionConflict", "None"], ErrorKind.CONDITION_FAILED),
        # A throttled item makes the whole transaction worth retrying as throttled, never
        # a conflict (that is what the ledger used to get wrong).
        (["ConditionalCheckFailed", "ThrottlingError"], ErrorKind.THROTTLED),
        (["ProvisionedThroughputExceeded"], ErrorKind.THROTTLED),
        ([], ErrorKind.UNAVAILABLE),
    ],
)
def test_transactions_are_judged_by_their_cancellation_reasons(reasons, kind):
    exc = client_error(
        "TransactionCanceledException",
        CancellationReasons=[{"Code": reason} for reason in reasons],
    )
    assert classify(exc, service="dynamodb", operation="TransactWriteItems").kind is kind


def test_a_size_refusal_of_a_text_is_too_large():
    exc = client_error("ValidationException", message="Content is too long")
    failure = classify(exc, service="connectparticipant", operation="SendMessage")
    assert failure.kind is ErrorKind.TOO_LARGE
    assert isinstance(to_error(failure), errors.MessageTooLargeError)


def test_meta_codes_are_read_from_whatsapp_refusals():
    exc = client_error("ValidationException", message="(#131047) Re-engagement message")
    failure = classify(exc, service="socialmessaging", operation="SendWhatsAppMessage")
    assert failure.meta_code == 131047
    error = to_error(failure)
    assert isinstance(error, errors.WhatsAppSendError)
    assert error.meta_code == 131047
    assert meta_code('{"code": 130429}') == 130429


def test_retry_after_is_kept_for_throttling():
    exc = client_error("ThrottlingException", 429)
    exc.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] = "3"
    failure = classify(exc, service="connect", operation="StartChatContact")
    error = to_error(failure)
    assert isinstance(error, errors.ThrottledError)
    assert error.retry_after_s == 3


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (EndpointConnectionError(endpoint_url="http://x"), ErrorKind.UNAVAILABLE),
        (ConnectTimeoutError(endpoint_url="http://x"), ErrorKind.UNAVAILABLE),
        (ParamValidationError(report="bad"), ErrorKind.INVALID),
    ],
)
def test_transport_failures(exc, kind):
    assert classify(exc, service="sqs", operation="ReceiveMessage").kind is kind


def test_every_kind_maps_to_a_typed_error():
    for kind in ErrorKind:
        failure = classify(client_error("X"), service="sqs", operation="Op")
        error = to_error(type(failure)(kind, "X", "Op: X"))
        assert isinstance(error, errors.BridgeError)


def test_translated_raises_the_typed_error_and_counts_it():
    registry = CollectorRegistry()
    with (
        pytest.raises(errors.ParticipantAccessDeniedError) as raised,
        translated("connectparticipant", "SendMessage", CallErrors(registry)),
    ):
        raise client_error("AccessDeniedException", 403)
    assert isinstance(raised.value.__cause__, ClientError)
    labels = {
        "service": "connectparticipant",
        "operation": "SendMessage",
        "code": "AccessDeniedException",
    }
    assert registry.get_sample_value("bridge_aws_call_errors_total", labels) == 1
