"""Sandbox housekeeping: health, clock, config, reset, lookups."""

from __future__ import annotations


async def test_health(sandbox):
    answer = await sandbox.get("/sandbox/health")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"


async def test_clock_advances_and_never_goes_back(sandbox):
    advanced = await sandbox.post("/sandbox/clock", json={"advance_s": 3600})
    assert advanced.json()["offsetS"] == 3600
    assert (await sandbox.post("/sandbox/clock", json={"advance_s": -1})).status_code == 422
    assert (await sandbox.get("/sandbox/clock")).json()["offsetS"] == 3600


async def test_config_rejects_unknown_keys(sandbox):
    answer = await sandbox.post("/sandbox/config", json={"connect_txt_limit": 5})
    assert answer.status_code == 422


async def test_reset_forgets_everything(kit):
    chat = await kit.start_chat()
    await kit.sandbox.post("/sandbox/config", json={"connect_text_limit": 5})
    await kit.sandbox.post("/sandbox/clock", json={"advance_s": 10})
    await kit.sandbox.post(
        "/sandbox/faults",
        json={"operation": "SendMessage", "error": "ThrottlingException", "count": 1},
    )

    assert (await kit.sandbox.post("/sandbox/reset")).json() == {"reset": True}

    assert (await kit.sandbox.get("/sandbox/contacts")).json() == {"contacts": []}
    assert (await kit.sandbox.get(f"/sandbox/contacts/{chat['ContactId']}")).status_code == 404
    assert (await kit.sandbox.get("/sandbox/faults")).json() == {"faults": []}
    assert (await kit.sandbox.get("/sandbox/config")).json()["connect_text_limit"] is None
    assert (await kit.sandbox.get("/sandbox/clock")).json()["offsetS"] == 0
    # The old participant token is gone with its chat.
    with_token = await kit.sandbox.post(
        "/participant/connection",
        json={"Type": ["CONNECTION_CREDENTIALS"]},
        headers={"X-Amz-Bearer": chat["ParticipantToken"]},
    )
    assert with_token.status_code == 403


async def test_contacts_are_found_by_any_of_their_contact_ids(kit):
    chat = await kit.start_chat()
    moved = (await kit.sandbox.post(f"/sandbox/contacts/{chat['ContactId']}/transfer")).json()
    by_initial = await kit.contact(chat["ContactId"])
    by_current = await kit.contact(moved["contactId"])
    assert by_initial == by_current
    assert by_current["contactId"] == moved["contactId"]
    assert by_current["initialContactId"] == chat["ContactId"]


async def test_sandbox_api_is_described_for_humans(sandbox):
    schema = (await sandbox.get("/sandbox/openapi.json")).json()
    assert "/sandbox/customers/{wa_id}/messages" in schema["paths"]
    assert not any(path.startswith("/{") for path in schema["paths"])  # AWS catch-all hidden
