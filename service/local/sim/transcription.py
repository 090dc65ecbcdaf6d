"""What one transcription job does: read the media from S3, analyse it, write the transcript.

Failures are the job's, as Transcribe reports them (`FailureReason`), never errors of the
API call: a missing object, media that is not audio, a MediaFormat or sample rate that does
not match what was detected. A test's expected speech (deterministic mode), matched by the
object's bytes, replaces recognition; the media is still decoded, so a corrupt file fails
either way and the item times follow the real duration.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from service.local.sim.media import MediaStore, Speech
from service.local.sim.transcript_json import (
    LanguageChoice,
    Token,
    identify,
    tokens_of_text,
    tokens_of_words,
    transcript_document,
)
from service.local.speech.audio import MediaError
from service.local.speech.worker import Analysis, analyse

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

_log = structlog.get_logger(__name__)

NO_OBJECT: Final = (
    "The URI that you provided doesn't point to an S3 object. Make sure that the object "
    "exists and try your request again."
)
FORMAT_MISMATCH: Final = (
    "The media format provided does not match the detected media format. Check the media "
    "format of your media file and correct the specified value."
)
RATE_MISMATCH: Final = (
    "The sample rate provided does not match the detected sample rate. Check the sample "
    "rate of your media file and correct the specified value."
)
OUTPUT_NOT_WRITTEN: Final = (
    "The transcript could not be written to the output bucket. Check that the bucket "
    "exists and try your request again."
)
# Transcribe reads both names for the ISO base media family.
_SAME_FORMAT: Final = {"m4a": "mp4"}

Analyser = Callable[..., Awaitable[Analysis]]


@dataclass(frozen=True, slots=True)
class S3Location:
    bucket: str
    key: str


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What a job was asked to do, as its runner needs it."""

    name: str
    media: S3Location
    language_code: str | None
    language_options: tuple[str, ...] | None  # set when the language is to be identified
    media_format: str | None
    sample_rate: int | None
    output: S3Location | None  # None: the service-managed bucket


@dataclass(frozen=True, slots=True)
class Outcome:
    failure: str | None = None
    language: LanguageChoice | None = None
    media_format: str | None = None
    sample_rate: int | None = None
    document: bytes | None = None
    duration_s: float | None = None
    recognition_s: float | None = None


class Transcriber:
    def __init__(
        self,
        *,
        s3: S3Client,
        media: MediaStore,
        account_id: str,
        analyser: Analyser = analyse,
        concurrency: int = 1,
    ) -> None:
        self._s3 = s3
        self._media = media
        self._account_id = account_id
        self._analyse = analyser
        # Recognition is CPU-bound: the simulator's machine runs this many at once; jobs
        # beyond wait IN_PROGRESS, as they would behind Transcribe's own capacity.
        self._slots = asyncio.Semaphore(concurrency)

    async def bucket_exists(self, bucket: str) -> bool:
        try:
            await self._s3.head_bucket(Bucket=bucket)
        except ClientError:
            return False
        return True

    async def _read(self, location: S3Location) -> bytes | None:
        try:
            response = await self._s3.get_object(Bucket=location.bucket, Key=location.key)
            async with response["Body"] as stream:
                return await stream.read()
        except ClientError:
            return None

    async def run(self, spec: JobSpec) -> Outcome:
        data = await self._read(spec.media)
        if data is None:
            return Outcome(failure=NO_OBJECT)
        expected = self._media.speech_in(data)
        try:
            async with self._slots:
                analysis = await self._analyse(data, recognise=expected is None)
        except MediaError as exc:
            return Outcome(failure=str(exc))
        failure = _mismatch(spec, analysis)
        if failure is not None:
            return Outcome(failure=failure)
        language = _language(spec, expected)
        document = transcript_document(
            job_name=spec.name,
            account_id=self._account_id,
            tokens=_tokens(analysis, expected),
            language=language,
        )
        body = json.dumps(document, ensure_ascii=False).encode()
        if spec.output is not None and not await self._write(spec.output, body):
            return Outcome(failure=OUTPUT_NOT_WRITTEN)
        return Outcome(
            language=language,
            media_format=analysis.media_format,
            sample_rate=analysis.sample_rate,
            document=body,
            duration_s=analysis.duration_s,
            recognition_s=analysis.recognition_s,
        )

    async def _write(self, location: S3Location, body: bytes) -> bool:
        try:
            await self._s3.put_object(
                Bucket=location.bucket,
                Key=location.key,
                Body=body,
                ContentType="application/json",
            )
        except (ClientError, BotoCoreError) as exc:
            _log.warning("sim_transcript_write_failed", error=type(exc).__name__)
            return False
        return True


def _mismatch(spec: JobSpec, analysis: Analysis) -> str | None:
    if spec.media_format is not None:
        asked = _SAME_FORMAT.get(spec.media_format, spec.media_format)
        if asked != _SAME_FORMAT.get(analysis.media_format, analysis.media_format):
            return FORMAT_MISMATCH
    if spec.sample_rate is not None and spec.sample_rate != analysis.sample_rate:
        return RATE_MISMATCH
    return None


def _language(spec: JobSpec, expected: Speech | None) -> LanguageChoice | None:
    if spec.language_options is None:
        return None
    return identify(spec.language_options, expected.language if expected else None)


def _tokens(analysis: Analysis, expected: Speech | None) -> list[Token]:
    if expected is not None:
        return tokens_of_text(expected.transcript, analysis.duration_s)
    return tokens_of_words(analysis.words or [])
