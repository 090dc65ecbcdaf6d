"""The `transcribe` batch operations: Start/Get/List/DeleteTranscriptionJob.

A job runs in a background task: QUEUED (only with deferred execution, past the quota of
concurrent jobs), IN_PROGRESS from the start answer on, then COMPLETED or FAILED. The
request checks the model cannot express are made here with Transcribe's error codes:
BadRequestException for a bad combination, ConflictException for a name in use,
NotFoundException for an unknown job, LimitExceededException past the concurrency quota.
Features the simulator does not implement are refused rather than silently ignored.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import botocore.session
import structlog

from service.local.sim.clock import Clock
from service.local.sim.config import SimConfig
from service.local.sim.errors import AwsError, SandboxError
from service.local.sim.paging import decode_offset, encode_offset
from service.local.sim.transcription import JobSpec, Outcome, S3Location, Transcriber

_log = structlog.get_logger(__name__)

_BAD_REQUEST: Final = "BadRequestException"
QUEUED, IN_PROGRESS, COMPLETED, FAILED = "QUEUED", "IN_PROGRESS", "COMPLETED", "FAILED"
_ACTIVE: Final = frozenset({QUEUED, IN_PROGRESS})
_DEFAULT_PAGE: Final = 5
# Service-managed transcripts are reached through presigned URLs valid this long.
_SERVICE_URL_TTL_S: Final = 900
_UNSUPPORTED: Final = (
    "IdentifyMultipleLanguages",
    "ContentRedaction",
    "Subtitles",
    "ToxicityDetection",
    "ModelSettings",
    "LanguageIdSettings",
    "OutputEncryptionKMSKeyId",
    "KMSEncryptionContext",
)
_UNSUPPORTED_SETTINGS: Final = (
    "VocabularyName",
    "VocabularyFilterName",
    "ShowSpeakerLabels",
    "ChannelIdentification",
    "ShowAlternatives",
)
_INTERNAL: Final = "Internal failure. Try your request again."


@functools.cache
def language_codes() -> frozenset[str]:
    """Transcribe's LanguageCode values, from the service model."""
    model = botocore.session.get_session().get_service_model("transcribe")
    return frozenset(model.shape_for("LanguageCode").metadata["enum"])


def _time(epoch_s: float | None) -> datetime | None:
    return None if epoch_s is None else datetime.fromtimestamp(epoch_s, tz=UTC)


@dataclass(slots=True)
class Job:
    spec: JobSpec
    request: dict[str, Any]
    created_at: float
    status: str = QUEUED
    started_at: float | None = None
    completed_at: float | None = None
    outcome: Outcome | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def failure(self) -> str | None:
        return None if self.outcome is None else self.outcome.failure

    def language_code(self) -> str | None:
        language = self.outcome.language if self.outcome else None
        return language.code if language else self.spec.language_code

    def summary(self) -> dict[str, Any]:
        score = self.outcome.language.score if self.outcome and self.outcome.language else None
        return {
            "TranscriptionJobName": self.spec.name,
            "CreationTime": _time(self.created_at),
            "StartTime": _time(self.started_at),
            "CompletionTime": _time(self.completed_at),
            "LanguageCode": self.language_code(),
            "TranscriptionJobStatus": self.status,
            "FailureReason": self.failure,
            "OutputLocationType": "SERVICE_BUCKET"
            if self.spec.output is None
            else "CUSTOMER_BUCKET",
            "IdentifyLanguage": self.spec.language_options is not None or None,
            "IdentifiedLanguageScore": score,
        }

    def describe(self) -> dict[str, Any]:
        """The sandbox's view: the wire summary plus what the simulator measured."""
        outcome = self.outcome or Outcome()
        return {
            "name": self.spec.name,
            "status": self.status,
            "mediaUri": f"s3://{self.spec.media.bucket}/{self.spec.media.key}",
            "languageCode": self.language_code(),
            "failureReason": self.failure,
            "durationS": outcome.duration_s,
            "recognitionS": outcome.recognition_s,
            "runS": None
            if self.completed_at is None or self.started_at is None
            else round(self.completed_at - self.started_at, 3),
        }


def _s3_location(uri: str) -> S3Location:
    """`s3://bucket/key` or an https S3 URL (path or virtual-hosted style)."""
    parts = urlsplit(uri)
    if parts.scheme == "s3" and parts.netloc and parts.path.strip("/"):
        return S3Location(parts.netloc, parts.path.lstrip("/"))
    host = parts.hostname or ""
    if parts.scheme == "https" and host.endswith(".amazonaws.com"):
        path = unquote(parts.path.lstrip("/"))
        if host.startswith(("s3.", "s3-")):
            bucket, _, key = path.partition("/")
        else:
            bucket, key = host.split(".s3", 1)[0], path
        if bucket and key:
            return S3Location(bucket, key)
    raise AwsError(
        _BAD_REQUEST,
        "The URI that you provided isn't a valid Amazon S3 location. Use an s3://bucket/key "
        "URI and try your request again.",
    )


def _output_key(name: str, key: str | None) -> str:
    """Transcribe's rule: a key ending in .json is the file, any other key a folder."""
    if key is None:
        return f"{name}.json"
    if key.endswith(".json"):
        return key
    return f"{key.rstrip('/')}/{name}.json"


def _check_language(params: dict[str, Any]) -> tuple[str | None, tuple[str, ...] | None]:
    code: str | None = params.get("LanguageCode")
    identify = bool(params.get("IdentifyLanguage"))
    options: list[str] | None = params.get("LanguageOptions")
    if code is not None and identify:
        raise AwsError(
            _BAD_REQUEST,
            "You can't specify both LanguageCode and IdentifyLanguage. Remove one and try "
            "your request again.",
        )
    if code is None and not identify:
        raise AwsError(
            _BAD_REQUEST,
            "You must specify LanguageCode, IdentifyLanguage or IdentifyMultipleLanguages. "
            "Add one and try your request again.",
        )
    if options is not None and not identify:
        raise AwsError(_BAD_REQUEST, "LanguageOptions can only be used with IdentifyLanguage.")
    if not identify:
        return code, None
    if options is None or len(options) < 2:  # noqa: PLR2004  Transcribe's minimum
        raise AwsError(
            _BAD_REQUEST,
            "LanguageOptions must include at least two language codes when IdentifyLanguage "
            "is enabled. (The simulator needs the options it can choose among.)",
        )
    if len(set(options)) != len(options):
        raise AwsError(_BAD_REQUEST, "LanguageOptions contains duplicate language codes.")
    return None, tuple(options)


def _check_supported(params: dict[str, Any]) -> None:
    asked = [name for name in _UNSUPPORTED if params.get(name) not in (None, False)]
    settings: dict[str, Any] = params.get("Settings") or {}
    asked += [f"Settings.{name}" for name in _UNSUPPORTED_SETTINGS if settings.get(name)]
    if asked:
        raise AwsError(
            _BAD_REQUEST, f"The sandbox's Transcribe does not support {', '.join(asked)}."
        )
    execution: dict[str, Any] = params.get("JobExecutionSettings") or {}
    if execution.get("AllowDeferredExecution") and not execution.get("DataAccessRoleArn"):
        raise AwsError(
            _BAD_REQUEST,
            "AllowDeferredExecution requires DataAccessRoleArn. Add a role and try your "
            "request again.",
        )


@dataclass(frozen=True, slots=True)
class _Grant:
    job_name: str
    expires_at: float


class TranscribeApi:
    def __init__(
        self,
        *,
        transcriber: Transcriber,
        clock: Clock,
        config: SimConfig,
        region: str,
    ) -> None:
        self._transcriber = transcriber
        self._clock = clock
        self._config = config
        self._region = region
        self._jobs: dict[str, Job] = {}
        self._grants: dict[str, _Grant] = {}

    # ------------------------------------------------------------ operations

    async def start_transcription_job(self, params: dict[str, Any]) -> dict[str, Any]:
        name: str = params["TranscriptionJobName"]
        if name in {".", ".."}:
            raise AwsError(_BAD_REQUEST, "The job name can't be '.' or '..'.")
        _check_supported(params)
        language_code, options = _check_language(params)
        media = _s3_location(params["Media"].get("MediaFileUri") or "")
        bucket: str | None = params.get("OutputBucketName")
        if params.get("OutputKey") is not None and bucket is None:
            raise AwsError(_BAD_REQUEST, "OutputKey can only be used with OutputBucketName.")
        if bucket is not None and not await self._transcriber.bucket_exists(bucket):
            raise AwsError(
                _BAD_REQUEST,
                f"The specified S3 bucket {bucket} does not exist or Amazon Transcribe can't "
                "write to it. Check the bucket name and try your request again.",
            )
        if name in self._jobs:
            raise AwsError(
                "ConflictException",
                "The requested job name already exists. Use a different job name.",
            )
        deferred = bool((params.get("JobExecutionSettings") or {}).get("AllowDeferredExecution"))
        if not deferred and self._running() >= self._config.transcribe_max_concurrent_jobs:
            raise AwsError(
                "LimitExceededException",
                "You have reached the maximum number of concurrent transcription jobs "
                f"({self._config.transcribe_max_concurrent_jobs}). Wait for a job to finish, "
                "or allow deferred execution, and try your request again.",
            )
        spec = JobSpec(
            name=name,
            media=media,
            language_code=language_code,
            language_options=options,
            media_format=params.get("MediaFormat"),
            sample_rate=params.get("MediaSampleRateHertz"),
            output=None
            if bucket is None
            else S3Location(bucket, _output_key(name, params.get("OutputKey"))),
        )
        job = Job(spec=spec, request=params, created_at=self._clock.now())
        self._jobs[name] = job
        self._pump()
        return {"TranscriptionJob": self._wire(job, with_transcript=False)}

    async def get_transcription_job(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"TranscriptionJob": self._wire(self._job(params["TranscriptionJobName"]))}

    async def list_transcription_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        status: str | None = params.get("Status")
        contains: str = (params.get("JobNameContains") or "").lower()
        jobs = sorted(self._jobs.values(), key=lambda job: job.created_at, reverse=True)
        matching = [
            job
            for job in jobs
            if (status is None or job.status == status) and contains in job.spec.name.lower()
        ]
        offset = decode_offset(params.get("NextToken"), error_code=_BAD_REQUEST)
        size: int = params.get("MaxResults", _DEFAULT_PAGE)
        page = matching[offset : offset + size]
        more = offset + size < len(matching)
        return {
            "Status": status,
            "NextToken": encode_offset(offset + size) if more else None,
            "TranscriptionJobSummaries": [job.summary() for job in page],
        }

    async def delete_transcription_job(self, params: dict[str, Any]) -> dict[str, Any]:
        job = self._jobs.pop(params["TranscriptionJobName"], None)
        if job is not None and job.task is not None:
            job.task.cancel()
        return {}

    # ------------------------------------------------------------ running jobs

    def _running(self) -> int:
        return sum(1 for job in self._jobs.values() if job.status == IN_PROGRESS)

    def _pump(self) -> None:
        """Start queued jobs, oldest first, while the concurrency quota allows."""
        queued = sorted(
            (job for job in self._jobs.values() if job.status == QUEUED),
            key=lambda job: job.created_at,
        )
        for job in queued:
            if self._running() >= self._config.transcribe_max_concurrent_jobs:
                return
            job.status = IN_PROGRESS
            job.started_at = self._clock.now()
            job.task = asyncio.create_task(self._run(job), name=f"transcribe-{job.spec.name}")

    async def _run(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            outcome = await self._transcriber.run(job.spec)
        except Exception:  # noqa: BLE001  a simulator bug fails the job, as an AWS fault would
            _log.exception("sim_transcription_failed", job=job.spec.name)
            outcome = Outcome(failure=_INTERNAL)
        # The configured minimum makes jobs take as long as real ones when a demo wants it.
        await asyncio.sleep(max(self._config.transcribe_job_min_s - (loop.time() - began), 0))
        job.outcome = outcome
        job.status = FAILED if outcome.failure else COMPLETED
        job.completed_at = self._clock.now()
        job.task = None
        _log.info("sim_transcription_done", job=job.spec.name, status=job.status)
        self._pump()

    # ------------------------------------------------------------ answers

    def _job(self, name: str) -> Job:
        job = self._jobs.get(name)
        if job is None:
            raise AwsError(
                "NotFoundException",
                "The requested job couldn't be found. Check the job name and try your "
                "request again.",
            )
        return job

    def _transcript_uri(self, job: Job) -> str:
        output = job.spec.output
        if output is not None:
            return f"https://s3.{self._region}.amazonaws.com/{output.bucket}/{output.key}"
        token = secrets.token_urlsafe(24)
        self._grants[token] = _Grant(job.spec.name, self._clock.now() + _SERVICE_URL_TTL_S)
        return (
            f"{self._config.public_url}/transcribe/output/{job.spec.name}.json"
            f"?X-Amz-Expires={_SERVICE_URL_TTL_S}&X-Amz-Signature={token}"
        )

    def _wire(self, job: Job, *, with_transcript: bool = True) -> dict[str, Any]:
        request = job.request
        outcome = job.outcome or Outcome()
        completed = job.status == COMPLETED
        wire = job.summary() | {
            "MediaFormat": outcome.media_format or job.spec.media_format,
            "MediaSampleRateHertz": outcome.sample_rate or job.spec.sample_rate,
            "Media": {"MediaFileUri": request["Media"]["MediaFileUri"]},
            "Transcript": {"TranscriptFileUri": self._transcript_uri(job)}
            if completed and with_transcript
            else None,
            "Settings": {"ChannelIdentification": False, "ShowAlternatives": False}
            | (request.get("Settings") or {}),
            "JobExecutionSettings": request.get("JobExecutionSettings"),
            "LanguageOptions": list(job.spec.language_options or []) or None,
            "Tags": request.get("Tags"),
        }
        wire.pop("OutputLocationType")
        return wire

    # ------------------------------------------------------------ sandbox

    def service_output(self, job_name: str, token: str) -> bytes:
        """A service-managed transcript, through the URL GetTranscriptionJob handed out."""
        grant = self._grants.get(token)
        if grant is None or grant.job_name != job_name:
            raise SandboxError(403, "SignatureDoesNotMatch")
        if self._clock.now() > grant.expires_at:
            raise SandboxError(403, "AccessDenied: Request has expired")
        job = self._jobs.get(job_name)
        if job is None or job.outcome is None or job.outcome.document is None:
            raise SandboxError(404, "NoSuchKey")
        return job.outcome.document

    def jobs(self) -> list[Job]:
        return sorted(self._jobs.values(), key=lambda job: job.created_at)

    def reset(self) -> None:
        for job in self._jobs.values():
            if job.task is not None:
                job.task.cancel()
        self._jobs.clear()
        self._grants.clear()

    async def aclose(self) -> None:
        tasks = [job.task for job in self._jobs.values() if job.task is not None]
        self.reset()
        await asyncio.gather(*tasks, return_exceptions=True)
