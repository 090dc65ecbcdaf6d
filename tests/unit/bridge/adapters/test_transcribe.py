"""The Transcribe adapter against a fake client: the request, a resumed job, the endings."""

from __future__ import annotations

import json
import random
from typing import Any, Self, cast

import pytest
from botocore.exceptions import ClientError

from service.bridge.adapters.transcribe import (
    TranscriptionFailedError,
    VoiceTranscriber,
)
from tests.support.clock import FakeClock


class FakeTranscribe:
    def __init__(self, statuses: list[str], *, conflict: bool = False) -> None:
        self.statuses = statuses
        self.conflict = conflict
        self.started: list[dict[str, Any]] = []
        self.polls = 0

    async def start_transcription_job(self, **request: Any) -> dict[str, Any]:
        self.started.append(request)
        if self.conflict:
            raise ClientError(
                {"Error": {"Code": "ConflictException", "Message": "exists"}},
                "StartTranscriptionJob",
            )
        return {}

    async def get_transcription_job(self, **_: Any) -> dict[str, Any]:
        status = self.statuses[min(self.polls, len(self.statuses) - 1)]
        self.polls += 1
        return {"TranscriptionJob": {"TranscriptionJobStatus": status}}


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None

    async def read(self) -> bytes:
        return self.data


class FakeS3:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.read_keys: list[str] = []

    async def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        del Bucket
        self.read_keys.append(Key)
        return {"Body": _Body(json.dumps(self.document).encode())}


DOCUMENT = {
    "results": {
        "language_code": "es-US",
        "transcripts": [{"transcript": "Hola, buenos días."}],
        "items": [
            {"type": "pronunciation", "start_time": "0.1", "end_time": "0.5"},
            {"type": "punctuation"},
            {"type": "pronunciation", "start_time": "0.6", "end_time": "1.75"},
        ],
    }
}


def transcriber(client: FakeTranscribe, languages: list[str], s3: FakeS3 | None = None):
    return VoiceTranscriber(
        transcribe=cast("Any", client),
        s3=cast("Any", s3 or FakeS3(DOCUMENT)),
        bucket="media",
        languages=languages,
        clock=cast("Any", FakeClock(auto_advance=True)),
        rng=random.Random(1),
    )


async def test_identification_among_the_configured_languages_and_the_output_read_back():
    client, s3 = FakeTranscribe(["IN_PROGRESS", "IN_PROGRESS", "COMPLETED"]), FakeS3(DOCUMENT)
    result = await transcriber(client, ["en-US", "es-US", "en-US"], s3).transcribe(
        key="inbound/m1/m1.ogg", token="in-abc-p1", timeout_s=60
    )
    [request] = client.started
    assert request["TranscriptionJobName"] == "bridge-in-abc-p1"
    assert request["Media"] == {"MediaFileUri": "s3://media/inbound/m1/m1.ogg"}
    assert request["IdentifyLanguage"] is True
    assert request["LanguageOptions"] == ["en-US", "es-US"]
    assert "LanguageCode" not in request
    assert s3.read_keys == [request["OutputKey"]] == ["transcripts/bridge-in-abc-p1.json"]
    assert (result.text, result.language, result.end_s) == ("Hola, buenos días.", "es-US", 1.75)


async def test_one_language_is_given_rather_than_identified():
    client = FakeTranscribe(["COMPLETED"])
    await transcriber(client, ["pt-BR"]).transcribe(key="k", token="t", timeout_s=60)
    [request] = client.started
    assert request["LanguageCode"] == "pt-BR"
    assert "IdentifyLanguage" not in request


async def test_a_replay_waits_for_the_job_it_already_started():
    client = FakeTranscribe(["COMPLETED"], conflict=True)
    result = await transcriber(client, ["en-US", "es-US"]).transcribe(
        key="k", token="t", timeout_s=60
    )
    assert result.text == "Hola, buenos días."


async def test_a_failed_job_and_a_slow_one_are_failures_for_the_agent():
    with pytest.raises(TranscriptionFailedError, match="could not transcribe"):
        await transcriber(FakeTranscribe(["FAILED"]), ["en-US", "es-US"]).transcribe(
            key="k", token="t", timeout_s=60
        )
    with pytest.raises(TranscriptionFailedError, match="too long"):
        await transcriber(FakeTranscribe(["IN_PROGRESS"]), ["en-US", "es-US"]).transcribe(
            key="k", token="t", timeout_s=10
        )
