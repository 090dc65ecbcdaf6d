"""SNS envelopes and raw deliveries look the same to handlers."""

import json

import pytest

from service.consumers.sqs.message import from_sqs


def _sqs(body: str, **extra):
    return {
        "MessageId": "m-1",
        "ReceiptHandle": "r-1",
        "Body": body,
        "Attributes": {"ApproximateReceiveCount": "3"},
    } | extra


def test_sns_envelope_is_unwrapped_with_its_attributes():
    envelope = {
        "Type": "Notification",
        "MessageId": "sns-1",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
        "Message": '{"hello": 1}',
        "MessageAttributes": {"ContactId": {"Type": "String", "Value": "c-1"}},
    }
    message = from_sqs(_sqs(json.dumps(envelope)), received_at=1.0)
    assert message.payload == '{"hello": 1}'
    assert message.attributes == {"ContactId": "c-1"}
    assert message.sns_message_id == "sns-1"
    assert message.dedup_key == "sns-1"
    assert message.receive_count == 3


def test_raw_delivery_keeps_the_body_and_sqs_attributes():
    raw = _sqs(
        '{"hello": 1}',
        MessageAttributes={"ContactId": {"DataType": "String", "StringValue": "c-1"}},
    )
    message = from_sqs(raw, received_at=1.0)
    assert message.payload == '{"hello": 1}'
    assert message.attributes == {"ContactId": "c-1"}
    assert message.sns_message_id is None
    assert message.dedup_key == "m-1"


def test_json_that_only_looks_like_an_envelope_is_raw():
    body = json.dumps({"Type": "Notification", "Message": {"not": "a string"}})
    assert from_sqs(_sqs(body), received_at=0).payload == body
    assert from_sqs(_sqs("not json {"), received_at=0).payload == "not json {"


@pytest.mark.parametrize(
    "body",
    [
        '{"a":' * 5000 + "1" + "}" * 5000,  # deeper than the interpreter's recursion limit
        "[" * 20000 + "]" * 20000,
        "{" + "x" * 100,
        "{}",
    ],
)
def test_a_hostile_body_is_passed_on_as_it_is(body):
    message = from_sqs(_sqs(body), received_at=0.0)
    assert message.payload == body
    assert message.sns_message_id is None
