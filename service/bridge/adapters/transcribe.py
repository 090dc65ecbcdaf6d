"""Amazon Transcribe batch jobs for voice notes (docs/TRANSCRIPTION.md: why batch).

A job reads the note the bridge already staged in the media bucket and writes its JSON
output next to it. The job name is derived from the delivery part, so a replay after a
crash finds the job it started (ConflictException) and waits for that one instead of
paying for a second. Polling backs off with the service's one backoff policy.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import structlog

from service.aws_errors import translated
from service.backoff import Backoff
from service.clock import SYSTEM_CLOCK, Clock
from service.errors import ConflictError

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_transcribe import TranscribeServiceClient
    from types_aiobotocore_transcribe.type_defs import StartTranscriptionJobRequestTypeDef

log = structlog.get_logger(__name__)

_SERVICE: Final = "transcribe"
_OUTPUT_PREFIX: Final = "transcripts/"
_JOB_NAME_UNSAFE: Final = re.compile(r"[^0-9a-zA-Z._-]")
_POLL: Final = Backoff(base_s=0.25, max_s=5.0)


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str  # empty: no speech
    language: str | None
    end_s: float | None  # end of the last word


class TranscriptionFailedError(Exception):
    """The job ended FAILED or did not end in time; `reason` is for the agent."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def job_name(token: str) -> str:
    return _JOB_NAME_UNSAFE.sub("-", f"bridge-{token}")[:200]


class VoiceTranscriber:
    def __init__(
        self,
        *,
        transcribe: TranscribeServiceClient,
        s3: S3Client,
        bucket: str,
        languages: Sequence[str],
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        if not languages:
            raise ValueError("at least one transcription language")
        self._transcribe = transcribe
        self._s3 = s3
        self._bucket = bucket
        self._languages = list(dict.fromkeys(languages))
        self._clock = clock
        self._rng = rng or random.Random()

    async def transcribe(self, *, key: str, token: str, timeout_s: float) -> Transcript:
        name = job_name(token)
        output_key = f"{_OUTPUT_PREFIX}{name}.json"
        await self._start(name, key, output_key)
        deadline = self._clock.monotonic() + timeout_s
        attempt = 0
        while True:
            with translated(_SERVICE, "GetTranscriptionJob"):
                job = (await self._transcribe.get_transcription_job(TranscriptionJobName=name))[
                    "TranscriptionJob"
                ]
            status = job.get("TranscriptionJobStatus")
            if status == "COMPLETED":
                return await self._read(output_key)
            if status == "FAILED":
                log.info("transcription_failed", job=name)
                raise TranscriptionFailedError("Amazon Transcribe could not transcribe it")
            if self._clock.monotonic() >= deadline:
                raise TranscriptionFailedError("the transcription took too long")
            attempt += 1
            await self._clock.sleep(_POLL.delay(attempt, self._rng))

    async def _start(self, name: str, key: str, output_key: str) -> None:
        request: StartTranscriptionJobRequestTypeDef = {
            "TranscriptionJobName": name,
            "Media": {"MediaFileUri": f"s3://{self._bucket}/{key}"},
            "OutputBucketName": self._bucket,
            "OutputKey": output_key,
        }
        # Identification needs at least two options; one configured language is just used.
        if len(self._languages) > 1:
            request["IdentifyLanguage"] = True
            request["LanguageOptions"] = self._languages  # type: ignore[typeddict-item]
        else:
            request["LanguageCode"] = self._languages[0]  # type: ignore[typeddict-item]
        try:
            with translated(_SERVICE, "StartTranscriptionJob"):
                await self._transcribe.start_transcription_job(**request)
        except ConflictError:
            # Our own job from before a crash: wait for it rather than start another.
            log.info("transcription_job_resumed", job=name)

    async def _read(self, output_key: str) -> Transcript:
        with translated("s3", "GetObject"):
            response = await self._s3.get_object(Bucket=self._bucket, Key=output_key)
            async with response["Body"] as body:
                document: dict[str, Any] = json.loads(await body.read())
        results = document.get("results", {})
        transcripts = results.get("transcripts") or [{}]
        ends = [
            float(item["end_time"])
            for item in results.get("items", [])
            if item.get("type") == "pronunciation" and "end_time" in item
        ]
        return Transcript(
            text=str(transcripts[0].get("transcript", "")).strip(),
            language=results.get("language_code"),
            end_s=max(ends) if ends else None,
        )
