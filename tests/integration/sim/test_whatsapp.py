"""`socialmessaging` operations: Meta message checks, the outbox, media to and from S3."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from service.local import constants

ORIGINATION = "phone-number-id-" + constants.EUM_PHONE_NUMBER_HEX
TO = "+5215512345678"


def _code(error: ClientError) -> tuple[str, int]:
    return (
        error.response["Error"]["Code"],
        int(error.response["ResponseMetadata"]["HTTPStatusCode"]),
    )


async def _send(kit, message: object, *, origination: str = ORIGINATION, version: str = "v20.0"):
    blob = message if isinstance(message, bytes) else json.dumps(message).encode()
    return await kit.clients.social.send_whatsapp_message(
        originationPhoneNumberId=origination, message=blob, metaApiVersion=version
    )


async def _outbox(kit):
    return (await kit.sandbox.get("/sandbox/whatsapp/outbox")).json()["messages"]


async def _customer_media(kit, data: bytes, mime: str, filename: str | None = None) -> str:
    answer = await kit.sandbox.post(
        "/sandbox/customers/5215512345678/media",
        content=data,
        headers={"Content-Type": mime},
        params={} if filename is None else {"filename": filename},
    )
    assert answer.status_code == 200, answer.text
    media_id: str = answer.json()["mediaId"]
    return media_id


async def test_text_send_is_recorded_in_the_outbox(kit):
    message = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": "text",
        "text": {"preview_url": False, "body": "Hola Ana"},
    }
    answer = await _send(kit, message)

    assert answer["messageId"].startswith("wamid.")
    [entry] = await _outbox(kit)
    assert entry["messageId"] == answer["messageId"]
    assert entry["businessPhoneNumberId"] == constants.BUSINESS_PHONE_NUMBER_ID
    assert entry["originationPhoneNumberId"] == ORIGINATION
    assert entry["recipient"] == TO
    assert entry["type"] == "text"
    assert entry["message"] == message
    assert entry["metaApiVersion"] == "v20.0"


async def test_origination_may_be_the_phone_number_arn(kit):
    await _send(
        kit,
        {"messaging_product": "whatsapp", "to": TO, "text": {"body": "x"}},
        origination=constants.BUSINESS_PHONE_NUMBER_ARN,
    )
    assert len(await _outbox(kit)) == 1


async def test_message_ids_are_unique(kit):
    message = {"messaging_product": "whatsapp", "to": TO, "type": "text", "text": {"body": "x"}}
    ids = {(await _send(kit, message))["messageId"] for _ in range(3)}
    assert len(ids) == 3


def _interactive_button(count: int = 2, title: str = "Sí", ids: list[str] | None = None):
    ids = ids or [f"b{index}" for index in range(count)]
    return {
        "messaging_product": "whatsapp",
        "to": TO,
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "¿Resolvimos tu problema?"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": button_id, "title": f"{title}{index}"}}
                    for index, button_id in enumerate(ids)
                ]
            },
        },
    }


def _interactive_list(rows_per_section: list[int], *, titles: bool = True, **row_extra):
    return {
        "messaging_product": "whatsapp",
        "to": TO,
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": "Elige un tema"},
            "action": {
                "button": "Ver opciones",
                "sections": [
                    {
                        **({"title": f"Sección {section}"} if titles else {}),
                        "rows": [
                            {"id": f"r{section}-{row}", "title": f"Fila {row}", **row_extra}
                            for row in range(rows)
                        ],
                    }
                    for section, rows in enumerate(rows_per_section)
                ],
            },
        },
    }


def _long_row_title():
    message = _interactive_list([1])
    message["interactive"]["action"]["sections"][0]["rows"][0]["title"] = "x" * 25
    return message


VALID_MESSAGES = {
    "text": {"messaging_product": "whatsapp", "to": TO, "type": "text", "text": {"body": "hola"}},
    "image_link": {
        "messaging_product": "whatsapp",
        "to": TO,
        "type": "image",
        "image": {"link": "https://example.com/a.jpg", "caption": "Tu recibo"},
    },
    "document_link": {
        "messaging_product": "whatsapp",
        "to": TO,
        "type": "document",
        "document": {"link": "https://example.com/f.pdf", "filename": "factura.pdf"},
    },
    "reaction": {
        "messaging_product": "whatsapp",
        "to": TO,
        "type": "reaction",
        "reaction": {"message_id": "wamid.HBgAAA==", "emoji": "👀"},
    },
    "reaction_removed": {
        "messaging_product": "whatsapp",
        "to": TO,
        "type": "reaction",
        "reaction": {"message_id": "wamid.HBgAAA==", "emoji": ""},
    },
    "read_with_typing": {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.HBgAAA==",
        "typing_indicator": {"type": "text"},
    },
    "buttons": _interactive_button(3),
    "list": _interactive_list([4, 6]),
    "list_one_untitled_section": _interactive_list([3], titles=False, description="x" * 72),
    "template": {
        "messaging_product": "whatsapp",
        "to": TO,
        "type": "template",
        "template": {
            "name": "order_update",
            "language": {"code": "en_US"},
            "components": [
                {"type": "header", "parameters": [{"type": "text", "text": "A-7"}]},
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "A-7"},
                        {"type": "text", "text": "shipped"},
                    ],
                },
            ],
        },
    },
    "bsuid_recipient": {
        "messaging_product": "whatsapp",
        "recipient": "US.13491208655302741918",
        "type": "text",
        "text": {"body": "hola"},
    },
    "reply_context": {
        "messaging_product": "whatsapp",
        "to": TO,
        "type": "text",
        "text": {"body": "hola"},
        "context": {"message_id": "wamid.PREVIOUS=="},
    },
}


@pytest.mark.parametrize("name", VALID_MESSAGES)
async def test_accepted_meta_messages(kit, name):
    answer = await _send(kit, VALID_MESSAGES[name])
    [entry] = await _outbox(kit)
    assert entry["messageId"] == answer["messageId"]
    assert entry["message"] == VALID_MESSAGES[name]


def _template_send(components: list[dict[str, object]]) -> dict[str, object]:
    return {
        "messaging_product": "whatsapp",
        "to": TO,
        "type": "template",
        "template": {"name": "welcome", "language": {"code": "en_US"}, "components": components},
    }


INVALID_MESSAGES = {
    "not_json": (b"{not json", "message is not JSON"),
    "no_product": ({"to": TO, "text": {"body": "x"}}, "(#131008) Required parameter is missing"),
    "no_recipient": ({"messaging_product": "whatsapp", "text": {"body": "x"}}, "missing: to"),
    "bad_phone": (
        {"messaging_product": "whatsapp", "to": "ana", "text": {"body": "x"}},
        "to must be a phone number",
    ),
    "bad_type": (
        {"messaging_product": "whatsapp", "to": TO, "type": "poll", "poll": {}},
        "type must be one of",
    ),
    "text_too_long": (
        {"messaging_product": "whatsapp", "to": TO, "text": {"body": "x" * 4097}},
        "text.body must be 1 to 4096",
    ),
    "empty_text": (
        {"messaging_product": "whatsapp", "to": TO, "text": {"body": ""}},
        "(#131009) Parameter value is not valid",
    ),
    "media_id_and_link": (
        {
            "messaging_product": "whatsapp",
            "to": TO,
            "type": "image",
            "image": {"id": "123", "link": "https://x/y.jpg"},
        },
        "exactly one of id or link",
    ),
    "unknown_media_id": (
        {"messaging_product": "whatsapp", "to": TO, "type": "audio", "audio": {"id": "999"}},
        "not a known media id",
    ),
    "reaction_without_message": (
        {"messaging_product": "whatsapp", "to": TO, "type": "reaction", "reaction": {"emoji": "x"}},
        "reaction.message_id",
    ),
    "read_without_message_id": (
        {"messaging_product": "whatsapp", "status": "read"},
        "message_id",
    ),
    "typing_not_text": (
        {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": "wamid.X",
            "typing_indicator": {"type": "audio"},
        },
        "typing_indicator.type",
    ),
    "four_buttons": (_interactive_button(4), "1 to 3 entries"),
    "duplicate_button_ids": (_interactive_button(ids=["a", "a"]), "button ids must be unique"),
    "long_button_title": (_interactive_button(2, title="x" * 20), "must be 1 to 20"),
    "eleven_rows": (_interactive_list([5, 6]), "at most 10 rows"),
    "untitled_sections": (_interactive_list([2, 2], titles=False), "title"),
    "long_row_title": (_long_row_title(), "rows[0].title must be 1 to 24"),
    "long_description": (_interactive_list([1], description="x" * 73), "description"),
    "template_without_language": (
        {"messaging_product": "whatsapp", "to": TO, "type": "template", "template": {"name": "t"}},
        "template.language",
    ),
    "template_component_of_unknown_type": (
        _template_send([{"type": "footer", "parameters": []}]),
        "template.components[0].type must be header, body or button",
    ),
    "template_text_parameter_without_text": (
        _template_send([{"type": "body", "parameters": [{"type": "text"}]}]),
        "missing: template.components[0].parameters[0].text",
    ),
    "template_button_without_index": (
        _template_send([{"type": "button", "sub_type": "quick_reply", "parameters": []}]),
        "template.components[0].index",
    ),
}


@pytest.mark.parametrize("name", INVALID_MESSAGES)
async def test_rejected_meta_messages(kit, name):
    message, expected = INVALID_MESSAGES[name]
    with pytest.raises(kit.clients.social.exceptions.ValidationException) as caught:
        await _send(kit, message)
    assert _code(caught.value) == ("ValidationException", 400)
    assert expected in caught.value.response["Error"]["Message"]
    assert await _outbox(kit) == []


async def test_bad_meta_api_version_is_rejected(kit):
    with pytest.raises(kit.clients.social.exceptions.ValidationException):
        await _send(kit, VALID_MESSAGES["text"], version="latest")


async def test_unknown_business_number_is_not_found(kit):
    with pytest.raises(kit.clients.social.exceptions.ResourceNotFoundException) as caught:
        await _send(kit, VALID_MESSAGES["text"], origination="phone-number-id-ffff")
    assert _code(caught.value) == ("ResourceNotFoundException", 404)


async def test_media_posted_from_s3_can_be_sent_by_id(kit):
    s3 = kit.clients.s3
    await s3.create_bucket(Bucket="media")
    await s3.put_object(
        Bucket="media", Key="out/recibo.png", Body=b"\x89PNG", ContentType="image/png"
    )
    posted = await kit.clients.social.post_whatsapp_message_media(
        originationPhoneNumberId=ORIGINATION,
        sourceS3File={"bucketName": "media", "key": "out/recibo.png"},
    )
    media_id = posted["mediaId"]
    assert media_id.isdigit()

    await _send(
        kit,
        {"messaging_product": "whatsapp", "to": TO, "type": "image", "image": {"id": media_id}},
    )
    media = (await kit.sandbox.get("/sandbox/whatsapp/media")).json()["media"]
    assert media == [
        {
            "mediaId": media_id,
            "mimeType": "image/png",
            "sha256": media[0]["sha256"],
            "fileSize": 4,
            "filename": "recibo.png",
            "origin": "business",
        }
    ]


async def test_post_media_rejects_missing_objects_and_unsendable_types(kit):
    s3 = kit.clients.s3
    social = kit.clients.social
    await s3.create_bucket(Bucket="media")
    with pytest.raises(social.exceptions.ResourceNotFoundException):
        await social.post_whatsapp_message_media(
            originationPhoneNumberId=ORIGINATION,
            sourceS3File={"bucketName": "media", "key": "missing.png"},
        )
    await s3.put_object(Bucket="media", Key="voice.wav", Body=b"RIFF", ContentType="audio/wav")
    with pytest.raises(social.exceptions.InvalidParametersException) as caught:
        await social.post_whatsapp_message_media(
            originationPhoneNumberId=ORIGINATION,
            sourceS3File={"bucketName": "media", "key": "voice.wav"},
        )
    assert "(#131053)" in caught.value.response["Error"]["Message"]


async def test_get_media_writes_the_customer_file_into_s3(kit):
    data = b"\xff\xd8\xff jpeg bytes"
    media_id = await _customer_media(kit, data, "image/jpeg")
    await kit.clients.s3.create_bucket(Bucket="media")

    answer = await kit.clients.social.get_whatsapp_message_media(
        mediaId=media_id,
        originationPhoneNumberId=ORIGINATION,
        destinationS3File={"bucketName": "media", "key": "in/"},
    )

    assert answer["mimeType"] == "image/jpeg"
    assert answer["fileSize"] == len(data)
    stored = await kit.clients.s3.get_object(Bucket="media", Key=f"in/{media_id}.jpeg")
    async with stored["Body"] as body:
        assert await body.read() == data
    assert stored["ContentType"] == "image/jpeg"


async def test_get_media_metadata_only_writes_nothing(kit):
    media_id = await _customer_media(kit, b"OggS voice", "audio/ogg; codecs=opus")
    await kit.clients.s3.create_bucket(Bucket="media")
    answer = await kit.clients.social.get_whatsapp_message_media(
        mediaId=media_id,
        originationPhoneNumberId=ORIGINATION,
        metadataOnly=True,
        destinationS3File={"bucketName": "media", "key": "in/"},
    )
    assert answer["mimeType"] == "audio/ogg; codecs=opus"
    listed = await kit.clients.s3.list_objects_v2(Bucket="media")
    assert listed.get("KeyCount", 0) == 0


async def test_get_media_errors(kit):
    social = kit.clients.social
    with pytest.raises(social.exceptions.ResourceNotFoundException):
        await social.get_whatsapp_message_media(
            mediaId="12345",
            originationPhoneNumberId=ORIGINATION,
            destinationS3File={"bucketName": "media", "key": "in/"},
        )
    media_id = await _customer_media(kit, b"data", "application/pdf", "f.pdf")
    with pytest.raises(social.exceptions.InvalidParametersException):
        await social.get_whatsapp_message_media(  # the bucket does not exist
            mediaId=media_id,
            originationPhoneNumberId=ORIGINATION,
            destinationS3File={"bucketName": "no-such-bucket", "key": "in/"},
        )


async def test_delete_media(kit):
    media_id = await _customer_media(kit, b"data", "image/png")
    social = kit.clients.social
    answer = await social.delete_whatsapp_message_media(
        mediaId=media_id, originationPhoneNumberId=ORIGINATION
    )
    assert answer["success"] is True
    with pytest.raises(social.exceptions.ResourceNotFoundException):
        await social.delete_whatsapp_message_media(
            mediaId=media_id, originationPhoneNumberId=ORIGINATION
        )
    with pytest.raises(social.exceptions.ResourceNotFoundException):
        await social.get_whatsapp_message_media(
            mediaId=media_id, originationPhoneNumberId=ORIGINATION, metadataOnly=True
        )


@pytest.mark.parametrize(("media_id", "origination"), [("!!!", ORIGINATION), ("123", "bogus")])
async def test_patterns_are_checked(kit, media_id, origination):
    with pytest.raises(kit.clients.social.exceptions.ValidationException) as caught:
        await kit.clients.social.delete_whatsapp_message_media(
            mediaId=media_id, originationPhoneNumberId=origination
        )
    assert "regular expression pattern" in caught.value.response["Error"]["Message"]


async def test_patterns_are_searched_not_anchored_as_in_smithy(kit):
    # `[A-Za-z0-9]+` is found inside "media-1", so the request passes validation and fails
    # only on the lookup.
    with pytest.raises(kit.clients.social.exceptions.ResourceNotFoundException):
        await kit.clients.social.delete_whatsapp_message_media(
            mediaId="media-1", originationPhoneNumberId=ORIGINATION
        )
