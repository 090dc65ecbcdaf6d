"""Factories of realistic wire payloads (EUM webhooks, Connect streaming records).

All ids, numbers and names are invented for these tests.
"""

import json
from typing import Any

import pytest

PHONE_NUMBER_ID = "200000000000002"
PHONE_ARN = "arn:aws:social-messaging:us-east-1:123456789012:phone-number-id/bbbb2222"
WABA_ID = "100000000000001"
WA_ID = "5215512345678"
BSUID = "MX.1234567890"


class EumFactory:
    phone_number_id = PHONE_NUMBER_ID
    arn = PHONE_ARN
    wa_id = WA_ID
    bsuid = BSUID

    def message(
        self, type_: str, *, id_: str = "wamid.M1", timestamp: str = "1772360130", **fields: Any
    ) -> dict[str, Any]:
        return {
            "from": WA_ID,
            "from_user_id": BSUID,
            "id": id_,
            "timestamp": timestamp,
            "type": type_,
            **fields,
        }

    def text(self, body: str, **kwargs: Any) -> dict[str, Any]:
        return self.message("text", text={"body": body}, **kwargs)

    def value(
        self,
        *,
        messages: list[dict[str, Any]] | None = None,
        statuses: list[dict[str, Any]] | None = None,
        contacts: list[dict[str, Any]] | None = None,
        phone_number_id: str = PHONE_NUMBER_ID,
    ) -> dict[str, Any]:
        value: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_number_id},
        }
        if messages is not None:
            value["messages"] = messages
            value["contacts"] = (
                contacts
                if contacts is not None
                else [{"profile": {"name": "Ana"}, "wa_id": WA_ID, "user_id": BSUID}]
            )
        if statuses is not None:
            value["statuses"] = statuses
        return value

    def envelope(self, *values: dict[str, Any], field: str = "messages") -> dict[str, Any]:
        entry = {"id": WABA_ID, "changes": [{"field": field, "value": v} for v in values]}
        return {
            "context": {
                "MetaWabaIds": [
                    {
                        "wabaId": WABA_ID,
                        "arn": "arn:aws:social-messaging:us-east-1:123456789012:waba/aaaa1111",
                    }
                ],
                "MetaPhoneNumberIds": [{"metaPhoneNumberId": PHONE_NUMBER_ID, "arn": PHONE_ARN}],
            },
            "whatsAppWebhookEntry": json.dumps(entry),
            "aws_account_id": "123456789012",
            "message_timestamp": "2026-03-01T10:15:30.123456789Z",
            "messageId": "0f1e2d3c-0000-4000-8000-123456789abc",
        }

    def sns_message(self, *messages: dict[str, Any]) -> str:
        """The SNS `Message` string EUM publishes for these inbound messages."""
        return json.dumps(self.envelope(self.value(messages=list(messages))))


class ConnectFactory:
    initial_contact_id = "1111aaaa-0000-4000-8000-000000000001"
    contact_id = "2222bbbb-0000-4000-8000-000000000002"

    def item(self, **fields: Any) -> dict[str, Any]:
        return {
            "AbsoluteTime": "2026-03-01T10:16:02.511Z",
            "Id": "5c1d0000-0000-4000-8000-000000000003",
            "InitialContactId": self.initial_contact_id,
            "ContactId": self.contact_id,
            **fields,
        }

    def message(
        self, content: str, *, role: str = "AGENT", content_type: str = "text/plain"
    ) -> dict[str, Any]:
        return self.item(
            Type="MESSAGE",
            Content=content,
            ContentType=content_type,
            ParticipantId="9a8b0000",
            DisplayName="Luis",
            ParticipantRole=role,
        )

    def event(self, suffix: str, **fields: Any) -> dict[str, Any]:
        return self.item(
            Type="EVENT", ContentType=f"application/vnd.amazonaws.connect.{suffix}", **fields
        )

    def sns(self, body: dict[str, Any], *, visibility: str = "ALL") -> str:
        """SQS body of an SNS notification without raw delivery."""
        attributes = {
            "InitialContactId": self.initial_contact_id,
            "ContactId": self.contact_id,
            "MessageVisibility": visibility,
            "Type": body.get("Type", "MESSAGE"),
            "InstanceId": "dddd0000",
            "AccountId": "123456789012",
        }
        if "ParticipantRole" in body:
            attributes["ParticipantRole"] = body["ParticipantRole"]
        if "ContentType" in body:
            attributes["ContentType"] = body["ContentType"]
        return json.dumps(
            {
                "Type": "Notification",
                "MessageId": "6b1f0000-0000-4000-8000-000000000004",
                "TopicArn": "arn:aws:sns:us-east-1:123456789012:connect-out",
                "Message": json.dumps(body),
                "MessageAttributes": {
                    k: {"Type": "String", "Value": v} for k, v in attributes.items()
                },
            }
        )


@pytest.fixture
def eum() -> EumFactory:
    return EumFactory()


@pytest.fixture
def connect() -> ConnectFactory:
    return ConnectFactory()
