import json
from typing import Any

import pytest

from service.bridge.events.whatsapp import ButtonPayload, InteractiveReplyPayload
from service.bridge.text.interactive import (
    MalformedInteractiveError,
    interactive_to_whatsapp,
    parse_connect_interactive,
    reply_to_connect,
)

RESPONSE = "application/vnd.amazonaws.connect.message.interactive.response"


def _template(template_type: str, elements: list[dict[str, Any]], **content: Any) -> str:
    return json.dumps(
        {
            "templateType": template_type,
            "version": "1.0",
            "data": {
                "replyMessage": {"title": "Thanks for selecting!"},
                "content": {"title": "How can we help?", **content, "elements": elements},
            },
        }
    )


def _titles(*titles: str) -> list[dict[str, Any]]:
    return [{"title": t} for t in titles]


def test_quick_reply_becomes_reply_buttons():
    content = _template("QuickReply", _titles("Yes", "No"), subtitle="Did we **solve** it?")
    out = interactive_to_whatsapp(content)
    assert out.type == "interactive"
    assert out.message_fields() == {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "How can we help?\nDid we *solve* it?"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "qr:Yes", "title": "Yes"}},
                    {"type": "reply", "reply": {"id": "qr:No", "title": "No"}},
                ]
            },
        },
    }


def test_list_picker_becomes_list_with_descriptions():
    elements = [
        {"title": "Billing", "subtitle": "Invoices and payments"},
        {"title": "New service", "subtitle": "x" * 100},
        {"title": "Cancellation"},
        {"title": "Something else"},
    ]
    out = interactive_to_whatsapp(_template("ListPicker", elements))
    assert out.interactive is not None
    assert out.interactive["type"] == "list"
    action = out.interactive["action"]
    assert action["button"] == "Options"
    (section,) = action["sections"]
    assert "title" not in section
    rows = section["rows"]
    assert [r["id"] for r in rows] == [
        "lp:Billing",
        "lp:New service",
        "lp:Cancellation",
        "lp:Something else",
    ]
    assert rows[0]["description"] == "Invoices and payments"
    assert len(rows[1]["description"]) == 72
    assert rows[1]["description"].endswith("…")
    assert "description" not in rows[2]


def test_small_list_picker_without_descriptions_uses_buttons_with_image():
    content = _template(
        "ListPicker",
        _titles("Apple", "Orange"),
        imageType="URL",
        imageData="https://bucket.s3.amazonaws.com/fruit.jpg",
    )
    out = interactive_to_whatsapp(content)
    assert out.interactive is not None
    assert out.interactive["type"] == "button"
    assert out.interactive["header"] == {
        "type": "image",
        "image": {"link": "https://bucket.s3.amazonaws.com/fruit.jpg"},
    }


def test_quick_reply_with_too_many_options_becomes_list():
    out = interactive_to_whatsapp(_template("QuickReply", _titles(*"ABCDE")))
    assert out.interactive is not None
    assert out.interactive["type"] == "list"
    assert len(out.interactive["action"]["sections"][0]["rows"]) == 5


def test_long_titles_shortened_but_id_keeps_full_title():
    title = "Talk to a human agent please"
    out = interactive_to_whatsapp(_template("QuickReply", _titles(title, "No")))
    assert out.interactive is not None
    button = out.interactive["action"]["buttons"][0]["reply"]
    assert len(button["title"]) == 20
    assert button["title"].endswith("…")
    assert button["id"] == f"qr:{title}"


def test_titles_colliding_after_shortening_fall_back_to_text():
    titles = ["Option with a long common prefix A", "Option with a long common prefix B"]
    out = interactive_to_whatsapp(_template("QuickReply", _titles(*titles)))
    assert out.type == "text"
    assert out.text is not None
    assert "1. Option with a long common prefix A" in out.text
    assert "2. Option with a long common prefix B" in out.text


def test_more_than_ten_options_fall_back_to_text():
    titles = [f"Choice {i}" for i in range(12)]
    out = interactive_to_whatsapp(_template("ListPicker", _titles(*titles)), fallback_hint="Reply!")
    assert out.type == "text"
    assert out.message_fields()["text"]["body"] == "\n".join(
        ["How can we help?", "", *(f"{i + 1}. Choice {i}" for i in range(12)), "", "Reply!"]
    )


def test_time_picker_is_text():
    content = json.dumps(
        {
            "templateType": "TimePicker",
            "version": "1.0",
            "data": {
                "content": {
                    "title": "Schedule appointment",
                    "timeslots": [{"date": "2026-10-31T17:00+00:00", "duration": 60}],
                }
            },
        }
    )
    out = interactive_to_whatsapp(content)
    assert out.type == "text"
    assert out.text is not None
    assert "1. 2026-10-31T17:00+00:00 (60 min)" in out.text


def test_whatsapp_list_template_with_sections_and_ids():
    content = {
        "templateType": "WhatsAppInteractiveList",
        "version": "1.0",
        "data": {
            "content": {
                "title": "Choose a topic",
                "footer": "Acme support",
                "buttonText": "See topics",
                "sections": [
                    {
                        "title": "Account",
                        "rows": [{"id": "billing", "title": "Billing", "description": "Pay"}],
                    },
                    {
                        "title": "Orders",
                        "rows": [
                            {"id": "track", "title": "Track"},
                            {"id": "ret", "title": "Return"},
                        ],
                    },
                ],
            }
        },
    }
    out = interactive_to_whatsapp(content)
    assert out.interactive == {
        "type": "list",
        "body": {"text": "Choose a topic"},
        "footer": {"text": "Acme support"},
        "action": {
            "button": "See topics",
            "sections": [
                {
                    "title": "Account",
                    "rows": [{"id": "billing", "title": "Billing", "description": "Pay"}],
                },
                {
                    "title": "Orders",
                    "rows": [{"id": "track", "title": "Track"}, {"id": "ret", "title": "Return"}],
                },
            ],
        },
    }


def test_whatsapp_reply_button_template():
    content = {
        "templateType": "WhatsAppInteractiveReplyButton",
        "version": "1.0",
        "data": {
            "content": {
                "title": "Solved?",
                "elements": [{"id": "y", "title": "Yes"}, {"id": "n", "title": "No"}],
            }
        },
    }
    out = interactive_to_whatsapp(content)
    assert out.interactive is not None
    assert [b["reply"]["id"] for b in out.interactive["action"]["buttons"]] == ["y", "n"]


def test_template_without_choices_is_text():
    content = {
        "templateType": "Carousel",
        "version": "1.0",
        "data": {"content": {"title": "Our offers"}},
    }
    out = interactive_to_whatsapp(content)
    assert out.type == "text"
    assert out.text == "Our offers"


@pytest.mark.parametrize(
    "content",
    ["{nope", "[]", '{"version":"1.0"}', '{"templateType":"ListPicker","data":{}}'],
)
def test_malformed_interactive(content):
    with pytest.raises(MalformedInteractiveError):
        parse_connect_interactive(content)


def test_button_reply_restores_full_title_and_template():
    reply = InteractiveReplyPayload(
        reply_type="button_reply", id="qr:Talk to a human agent please", title="Talk to a human ag…"
    )
    result = reply_to_connect(reply)
    assert result.content_type == RESPONSE
    assert json.loads(result.content) == {
        "templateType": "QuickReply",
        "version": "1.0",
        "data": {
            "content": {
                "title": "Talk to a human agent please",
                "id": "qr:Talk to a human agent please",
            }
        },
    }


def test_list_reply_with_foreign_id_uses_title():
    reply = InteractiveReplyPayload(reply_type="list_reply", id="billing", title="Billing")
    document = json.loads(reply_to_connect(reply).content)
    assert document["templateType"] == "ListPicker"
    assert document["data"]["content"] == {"title": "Billing", "id": "billing"}


def test_plain_text_mode_and_template_buttons():
    reply = InteractiveReplyPayload(reply_type="list_reply", id="lp:Billing", title="Billing")
    plain = reply_to_connect(reply, as_interactive_response=False)
    assert (plain.content_type, plain.content) == ("text/plain", "Billing")
    tapped = reply_to_connect(ButtonPayload(text="Confirm", payload="C"))
    assert (tapped.content_type, tapped.content) == ("text/plain", "Confirm")


def test_round_trip_through_whatsapp_list():
    titles = ["Billing and invoices questions", "Technical support"]
    out = interactive_to_whatsapp(
        _template("ListPicker", [{"title": t, "subtitle": "d"} for t in titles])
    )
    assert out.interactive is not None
    row = out.interactive["action"]["sections"][0]["rows"][0]
    reply = InteractiveReplyPayload(reply_type="list_reply", id=row["id"], title=row["title"])
    document = json.loads(reply_to_connect(reply).content)
    assert document["data"]["content"]["title"] == titles[0]
    assert document["templateType"] == "ListPicker"
