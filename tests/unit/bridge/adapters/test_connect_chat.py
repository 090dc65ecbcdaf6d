"""The pure parts of the Connect adapter: attribute fitting, and how its errors translate.

The calls themselves are tested against the simulator (tests/integration/bridge); these
cover the codes and shapes the simulator does not produce.
"""

from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import assume, given
from hypothesis import strategies as st

from service.aws_errors import classify, to_error
from service.bridge.adapters.connect_chat import (
    ATTRIBUTES_MAX_BYTES,
    DEFAULT_DISPLAY_NAME,
    clamp_display_name,
    fit_attributes,
)
from service.errors import (
    AttachmentRejectedError,
    ConfigurationError,
    ConflictError,
    ConnectQuotaError,
    ContactNotFoundError,
    DependencyUnavailableError,
    InvalidRequestError,
    MessageTooLargeError,
    ParticipantAccessDeniedError,
    PermanentError,
    RetryableError,
    ThrottledError,
)


def _size(attributes: dict[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in attributes.items())


def test_attributes_that_fit_are_untouched():
    attributes = {"Channel": "WHATSAPP", "customerName": "Ana"}
    assert fit_attributes(attributes) == attributes


def test_small_values_stay_whole_and_large_ones_share_the_rest():
    attributes = {"a": "x" * 10, "big": "y" * 100, "huge": "z" * 1000}

    fitted = fit_attributes(attributes, limit_bytes=200)

    assert list(fitted) == ["a", "big", "huge"]
    assert fitted["a"] == "x" * 10
    assert _size(fitted) <= 200
    # 200 - 8 key bytes - 10 = 182 for two values: 91 bytes each, the ellipsis included.
    assert fitted["big"] == "y" * 88 + "…"
    assert fitted["huge"] == "z" * 88 + "…"


def test_truncation_never_splits_a_character():
    fitted = fit_attributes({"k": "ñ" * 100}, limit_bytes=1 + 10)

    # 10 bytes for the value: the ellipsis takes 3, and a 4th "ñ" would need 2 of the 1 left.
    assert fitted["k"] == "ñ" * 3 + "…"
    assert _size(fitted) <= 11


@given(
    st.dictionaries(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-0123456789", min_size=1, max_size=40),
        st.text(max_size=5000),
        max_size=12,
    ),
    st.integers(min_value=64, max_value=20000),
)
def test_fitted_attributes_always_fit_and_keep_every_key(attributes, limit):
    # Keys are never truncated; only when the keys alone overflow may one be dropped.
    assume(sum(len(key.encode()) for key in attributes) <= limit)
    fitted = fit_attributes(attributes, limit_bytes=limit)

    assert _size(fitted) <= limit
    assert list(fitted) == list(attributes)
    for key, value in fitted.items():
        original = attributes[key]
        assert value == original or original.startswith(value.removesuffix("…"))


def test_the_default_limit_is_connects():
    fitted = fit_attributes({"first": "x" * 40000})

    assert _size(fitted) == ATTRIBUTES_MAX_BYTES


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Ana", "Ana"), ("  Ana  ", "Ana"), ("", DEFAULT_DISPLAY_NAME), ("x" * 300, "x" * 256)],
)
def test_display_names_are_clamped_to_connects_rules(name, expected):
    assert clamp_display_name(name) == expected


def _error(code: str, message: str = "boom", status: int = 400, headers=None) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers or {}},
    }
    return ClientError(response, "Operation")


_CONNECT_OPERATIONS = {"StartChatContact", "StartContactStreaming"}


def translate_client_error(exc: ClientError, *, operation: str) -> Exception:
    """The typed error the adapter raises for `exc` (the one table, as the adapter uses it)."""
    service = "connect" if operation in _CONNECT_OPERATIONS else "connectparticipant"
    return to_error(classify(exc, service=service, operation=operation))


@pytest.mark.parametrize(
    ("operation", "code", "message", "status", "expected"),
    [
        ("StartChatContact", "LimitExceededException", "", 429, ConnectQuotaError),
        ("StartContactStreaming", "LimitExceededException", "", 429, ThrottledError),
        ("SendMessage", "ThrottlingException", "", 429, ThrottledError),
        ("StartChatContact", "AccessDeniedException", "", 403, ConfigurationError),
        ("SendMessage", "AccessDeniedException", "", 403, ParticipantAccessDeniedError),
        ("CreateParticipantConnection", "AccessDeniedException", "", 403,
         ParticipantAccessDeniedError),
        ("StartChatContact", "ResourceNotFoundException", "", 404, ConfigurationError),
        ("StartContactStreaming", "ResourceNotFoundException", "", 404, ContactNotFoundError),
        ("StartChatContact", "InvalidParameterException", "bad flow", 400, InvalidRequestError),
        ("StartChatContact", "InvalidRequestException", "Content is too long", 400,
         MessageTooLargeError),
        ("SendMessage", "ValidationException",
         "Member must have length less than or equal to 1024", 400, MessageTooLargeError),
        ("SendEvent", "ValidationException", "Content length", 400, InvalidRequestError),
        ("StartAttachmentUpload", "ValidationException", "Unsupported file type", 400,
         AttachmentRejectedError),
        ("StartAttachmentUpload", "ServiceQuotaExceededException", "", 402,
         AttachmentRejectedError),
        ("SendEvent", "ConflictException", "", 409, ConflictError),
        ("SendMessage", "InternalServerException", "", 500, DependencyUnavailableError),
        ("StartChatContact", "InternalServiceException", "", 500, DependencyUnavailableError),
        ("SendMessage", "SomethingNewException", "", 503, DependencyUnavailableError),
    ],
)  # fmt: skip
def test_codes_translate_to_the_hierarchy(operation, code, message, status, expected):
    error = translate_client_error(_error(code, message, status), operation=operation)

    assert type(error) is expected
    assert operation in str(error)


def test_an_unknown_client_error_is_retried_not_parked():
    # A code nobody has seen yet is more often transient than a bug in the request; the
    # caller's bounded attempts park it if it persists.
    error = translate_client_error(_error("SomethingNewException"), operation="SendMessage")
    assert type(error) is DependencyUnavailableError


def test_retry_after_is_carried_when_the_service_sends_it():
    error = translate_client_error(
        _error("ThrottlingException", status=429, headers={"retry-after": "2.5"}),
        operation="SendMessage",
    )
    assert isinstance(error, ThrottledError)
    assert error.retry_after_s == 2.5
    plain = translate_client_error(_error("ThrottlingException", status=429), operation="X")
    assert isinstance(plain, ThrottledError)
    assert plain.retry_after_s is None


def test_the_hierarchy_splits_retryable_from_permanent():
    assert issubclass(ConnectQuotaError, RetryableError)
    assert issubclass(DependencyUnavailableError, RetryableError)
    assert issubclass(MessageTooLargeError, InvalidRequestError)
    assert issubclass(ContactNotFoundError, PermanentError)
    assert not issubclass(ParticipantAccessDeniedError, RetryableError | PermanentError)


def test_keys_that_alone_overflow_the_limit_drop_the_last_ones():
    fitted = fit_attributes({"aaaa": "", "bbbb": "", "cccc": "x"}, limit_bytes=9)

    assert list(fitted) == ["aaaa", "bbbb"]
