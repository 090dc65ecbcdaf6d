"""A delivery's parts are recorded as they were rendered: texts and customer files."""

import json

from service.bridge.adapters.ledger import AttachmentPart, _from_item


def test_attachment_parts_survive_the_record_and_old_records_still_read():
    part = AttachmentPart(
        message_id="w2", media_id="m1", kind="audio", mime_type="audio/ogg", voice=True
    )
    item = {
        "token": "in-1",
        "customer": "c",
        "message_ids": ["w1", "w2"],
        "parts": '["hello\\n[Voice note]", ' + json.dumps(part.to_json()) + "]",
        "progress": 1,
        "status": "INPROGRESS",
    }
    delivery = _from_item(item)
    assert delivery.parts == ("hello\n[Voice note]", part)
    # A record written before attachments existed holds texts only.
    assert _from_item(item | {"parts": '["just text"]'}).parts == ("just text",)
