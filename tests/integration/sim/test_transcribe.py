"""The simulated Transcribe batch API on its JSON 1.1 wire protocol: requests, errors, jobs.

Most jobs here run in deterministic mode (the media is uploaded with its expected
transcript), so they only decode the audio; real recognition is in test_transcription.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.support.media import fixture, wait_for_job

VOICE = fixture("voice_en.ogg")
JSON_11 = "application/x-amz-json-1.1"


def _error(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = caught.value.response
    return (
        response["Error"]["Code"],
        int(response["ResponseMetadata"]["HTTPStatusCode"]),
        response["Error"]["Message"],
    )


async def _media(kit, data: bytes = VOICE, key: str = "in/voice.ogg", **speech: str) -> str:
    """The bytes in the `media` bucket; with `transcript=` they are known speech."""
    s3 = kit.clients.s3
    if "media" not in {b["Name"] for b in (await s3.list_buckets())["Buckets"]}:
        await s3.create_bucket(Bucket="media")
    await s3.put_object(Bucket="media", Key=key, Body=data)
    if speech:
        answer = await kit.sandbox.post(
            "/sandbox/customers/5215512345678/media",
            content=data,
            headers={"Content-Type": "audio/ogg; codecs=opus"},
            params=speech,
        )
        assert answer.status_code == 200, answer.text
    return f"s3://media/{key}"


async def _start(transcribe, name: str, uri: str, **extra):
    params = {"TranscriptionJobName": name, "Media": {"MediaFileUri": uri}}
    if "IdentifyLanguage" not in extra:
        params["LanguageCode"] = "en-US"
    params.update(extra)
    return (await transcribe.start_transcription_job(**params))["TranscriptionJob"]


async def _object(kit, bucket: str, key: str) -> dict[str, Any]:
    stored = await kit.clients.s3.get_object(Bucket=bucket, Key=key)
    async with stored["Body"] as body:
        document: dict[str, Any] = json.loads(await body.read())
    return document


async def test_job_runs_to_completion_and_writes_its_transcript_to_the_bucket(kit, transcribe):
    uri = await _media(kit, transcript="Hello there.")
    await kit.clients.s3.create_bucket(Bucket="out")
    started = await _start(
        transcribe, "job-1", uri, OutputBucketName="out", OutputKey="transcripts/"
    )
    assert started["TranscriptionJobStatus"] == "IN_PROGRESS"
    assert started["TranscriptionJobName"] == "job-1"
    assert started["LanguageCode"] == "en-US"
    assert isinstance(started["CreationTime"], datetime)
    assert isinstance(started["StartTime"], datetime)
    assert "Transcript" not in started

    job = await wait_for_job(transcribe, "job-1")
    assert job["TranscriptionJobStatus"] == "COMPLETED"
    assert job["MediaFormat"] == "ogg"
    assert job["MediaSampleRateHertz"] == 48000  # Opus always decodes at 48 kHz
    assert job["Media"] == {"MediaFileUri": uri}
    assert job["CompletionTime"] >= job["StartTime"] >= job["CreationTime"]
    assert (
        job["Transcript"]["TranscriptFileUri"]
        == "https://s3.us-east-1.amazonaws.com/out/transcripts/job-1.json"
    )
    assert job["Settings"] == {"ChannelIdentification": False, "ShowAlternatives": False}
    assert "FailureReason" not in job

    document = await _object(kit, "out", "transcripts/job-1.json")
    assert document["jobName"] == "job-1"
    assert document["accountId"] == "123456789012"
    assert document["status"] == "COMPLETED"
    assert document["results"]["transcripts"] == [{"transcript": "Hello there."}]
    assert "language_identification" not in document["results"]


@pytest.mark.parametrize(
    ("output_key", "stored_at"),
    [(None, "job-k.json"), ("a/b.json", "a/b.json"), ("folder", "folder/job-k.json")],
)
async def test_output_key_is_a_file_or_a_folder(kit, transcribe, output_key, stored_at):
    uri = await _media(kit, transcript="x")
    await kit.clients.s3.create_bucket(Bucket="out")
    extra = {"OutputBucketName": "out"} | ({"OutputKey": output_key} if output_key else {})
    await _start(transcribe, "job-k", uri, **extra)
    job = await wait_for_job(transcribe, "job-k")
    assert job["Transcript"]["TranscriptFileUri"].endswith(f"/out/{stored_at}")
    assert (await _object(kit, "out", stored_at))["jobName"] == "job-k"


async def test_without_an_output_bucket_the_transcript_is_behind_a_temporary_url(kit, transcribe):
    uri = await _media(kit, transcript="Service bucket.")
    await _start(transcribe, "job-s", uri)
    job = await wait_for_job(transcribe, "job-s")
    url = job["Transcript"]["TranscriptFileUri"]
    assert "X-Amz-Expires=900" in url
    async with httpx.AsyncClient() as http:
        fetched = await http.get(url)
        forged = await http.get(url.rsplit("=", 1)[0] + "=forged")
    assert fetched.status_code == 200
    assert fetched.json()["results"]["transcripts"][0]["transcript"] == "Service bucket."
    assert forged.status_code == 403
    summary = (await transcribe.list_transcription_jobs())["TranscriptionJobSummaries"][0]
    assert summary["OutputLocationType"] == "SERVICE_BUCKET"
    await kit.advance_clock(901)
    async with httpx.AsyncClient() as http:
        assert (await http.get(url)).status_code == 403


_NAMED = {"TranscriptionJobName": "j", "Media": {"MediaFileUri": "s3://m/k"}}


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"TranscriptionJobName": "j"}, "Value null at 'media' failed to satisfy constraint"),
        (
            _NAMED | {"TranscriptionJobName": "a/b"},
            (
                "Value 'a/b' at 'transcriptionJobName' failed to satisfy constraint: Member "
                "must satisfy regular expression pattern: ^[0-9a-zA-Z._-]+"
            ),
        ),
        (
            _NAMED | {"MediaFormat": "opus"},
            "at 'mediaFormat' failed to satisfy constraint: Member must satisfy enum value set",
        ),
        (_NAMED | {"LanguageCode": "xx-XX"}, "at 'languageCode' failed to satisfy constraint"),
        (
            _NAMED | {"MediaSampleRateHertz": 4000},
            "Member must have value greater than or equal to 8000",
        ),
    ],
)
async def test_model_violations_are_bad_requests(loose, params, fragment):
    with pytest.raises(loose.transcribe.exceptions.BadRequestException) as caught:
        await loose.transcribe.start_transcription_job(**params)
    code, status, message = _error(caught)
    assert (code, status) == ("BadRequestException", 400)
    assert message.startswith("1 validation error detected: ")
    assert fragment in message


async def _raw(sim: str, target: str, body: bytes | dict[str, Any]) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with httpx.AsyncClient(base_url=sim) as http:
        return await http.post(
            "/",
            content=content,
            headers={"X-Amz-Target": f"Transcribe.{target}", "Content-Type": JSON_11},
        )


async def test_json_protocol_wire_format(sim):
    unknown_field = await _raw(
        sim, "GetTranscriptionJob", {"TranscriptionJobName": "j", "Bogus": 1}
    )
    assert unknown_field.status_code == 400
    assert unknown_field.headers["content-type"] == JSON_11
    assert unknown_field.json()["__type"] == "BadRequestException"
    assert "'bogus'" in unknown_field.json()["Message"]

    nested = await _raw(
        sim,
        "StartTranscriptionJob",
        {"TranscriptionJobName": "j", "Media": {"MediaFileUri": "s3://m/k", "Uri": "x"}},
    )
    assert "'media.uri'" in nested.json()["Message"]

    wrong_type = await _raw(
        sim,
        "StartTranscriptionJob",
        {"TranscriptionJobName": "j", "Media": {"MediaFileUri": 5}, "IdentifyLanguage": "yes"},
    )
    assert wrong_type.json()["Message"].startswith("2 validation errors detected")
    assert "Member must be a string" in wrong_type.json()["Message"]
    assert "Member must be a boolean" in wrong_type.json()["Message"]

    not_json = await _raw(sim, "GetTranscriptionJob", b"{nope")
    assert not_json.status_code == 400
    assert not_json.json()["__type"] == "SerializationException"

    no_such = await _raw(sim, "StartMedicalScribeJob", {})
    assert no_such.status_code == 400  # JSON-protocol services answer 400, not 404
    assert no_such.json()["__type"] == "UnknownOperationException"

    missing = await _raw(sim, "GetTranscriptionJob", {"TranscriptionJobName": "nope"})
    assert missing.status_code == 400
    assert missing.json() == {
        "__type": "NotFoundException",
        "Message": "The requested job couldn't be found. Check the job name and try your "
        "request again.",
    }


async def test_a_job_name_in_use_is_a_conflict(kit, transcribe):
    uri = await _media(kit, transcript="x")
    await _start(transcribe, "same", uri)
    with pytest.raises(transcribe.exceptions.ConflictException) as caught:
        await _start(transcribe, "same", uri)
    assert _error(caught) == (
        "ConflictException",
        400,
        "The requested job name already exists. Use a different job name.",
    )


async def test_an_unknown_job_is_not_found(transcribe):
    with pytest.raises(transcribe.exceptions.NotFoundException):
        await transcribe.get_transcription_job(TranscriptionJobName="never-started")


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"LanguageCode": "en-US", "IdentifyLanguage": True}, "both LanguageCode and"),
        ({"LanguageCode": None}, "must specify LanguageCode, IdentifyLanguage"),
        ({"IdentifyLanguage": True, "LanguageOptions": ["en-US"], "LanguageCode": None}, "two"),
        ({"IdentifyLanguage": True, "LanguageCode": None}, "at least two"),
        ({"LanguageOptions": ["en-US", "es-US"]}, "only be used with IdentifyLanguage"),
        (
            {"IdentifyLanguage": True, "LanguageOptions": ["en-US", "en-US"], "LanguageCode": None},
            "duplicate",
        ),
        ({"IdentifyMultipleLanguages": True, "LanguageCode": None}, "does not support"),
        ({"Settings": {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2}}, "does not support"),
        ({"OutputKey": "x.json"}, "only be used with OutputBucketName"),
        ({"OutputBucketName": "no-such-bucket"}, "does not exist"),
        ({"Media": {"MediaFileUri": "https://example.com/a.ogg"}}, "valid Amazon S3 location"),
        ({"TranscriptionJobName": ".."}, "can't be '.' or '..'"),
        ({"JobExecutionSettings": {"AllowDeferredExecution": True}}, "DataAccessRoleArn"),
    ],
)
async def test_bad_combinations_are_bad_requests(kit, transcribe, extra, fragment):
    params = {
        "TranscriptionJobName": "combo",
        "Media": {"MediaFileUri": "s3://media/in/voice.ogg"},
        "LanguageCode": "en-US",
    } | extra
    params = {key: value for key, value in params.items() if value is not None}
    with pytest.raises(transcribe.exceptions.BadRequestException) as caught:
        await transcribe.start_transcription_job(**params)
    assert fragment in _error(caught)[2]


async def test_https_media_urls_are_read_like_s3_uris(kit, transcribe):
    await _media(kit, transcript="x", key="in/voice note.ogg")
    uri = "https://s3.us-east-1.amazonaws.com/media/in/voice%20note.ogg"
    await _start(transcribe, "https-uri", uri)
    assert (await wait_for_job(transcribe, "https-uri"))["TranscriptionJobStatus"] == "COMPLETED"


async def test_list_filters_pages_newest_first_and_delete_forgets(kit, transcribe):
    uri = await _media(kit, transcript="x")
    for name in ("Alpha-1", "alpha-2", "beta-1"):
        await _start(transcribe, name, uri)
    for name in ("Alpha-1", "alpha-2", "beta-1"):
        await wait_for_job(transcribe, name)

    first = await transcribe.list_transcription_jobs(MaxResults=2)
    assert [s["TranscriptionJobName"] for s in first["TranscriptionJobSummaries"]] == [
        "beta-1",
        "alpha-2",
    ]
    rest = await transcribe.list_transcription_jobs(MaxResults=2, NextToken=first["NextToken"])
    assert [s["TranscriptionJobName"] for s in rest["TranscriptionJobSummaries"]] == ["Alpha-1"]
    assert "NextToken" not in rest

    alphas = await transcribe.list_transcription_jobs(JobNameContains="ALPHA", Status="COMPLETED")
    assert alphas["Status"] == "COMPLETED"
    assert {s["TranscriptionJobName"] for s in alphas["TranscriptionJobSummaries"]} == {
        "Alpha-1",
        "alpha-2",
    }
    summary = alphas["TranscriptionJobSummaries"][0]
    assert summary["OutputLocationType"] == "SERVICE_BUCKET"
    assert summary["LanguageCode"] == "en-US"
    failed = await transcribe.list_transcription_jobs(Status="FAILED")
    assert failed["TranscriptionJobSummaries"] == []

    await transcribe.delete_transcription_job(TranscriptionJobName="beta-1")
    await transcribe.delete_transcription_job(TranscriptionJobName="beta-1")  # no error
    with pytest.raises(transcribe.exceptions.NotFoundException):
        await transcribe.get_transcription_job(TranscriptionJobName="beta-1")

    with pytest.raises(transcribe.exceptions.BadRequestException):
        await transcribe.list_transcription_jobs(NextToken="garbage")


async def test_concurrency_quota_limits_or_queues_jobs(kit, transcribe):
    config = {"transcribe_max_concurrent_jobs": 1, "transcribe_job_min_s": 1.0}
    assert (await kit.sandbox.post("/sandbox/config", json=config)).status_code == 200
    uri = await _media(kit, transcript="x")
    assert (await _start(transcribe, "first", uri))["TranscriptionJobStatus"] == "IN_PROGRESS"
    with pytest.raises(transcribe.exceptions.LimitExceededException) as caught:
        await _start(transcribe, "second", uri)
    assert _error(caught)[1] == 400
    deferred = await _start(
        transcribe,
        "deferred",
        uri,
        JobExecutionSettings={
            "AllowDeferredExecution": True,
            "DataAccessRoleArn": "arn:aws:iam::123456789012:role/transcribe",
        },
    )
    assert deferred["TranscriptionJobStatus"] == "QUEUED"
    assert "StartTime" not in deferred

    assert (await wait_for_job(transcribe, "first"))["TranscriptionJobStatus"] == "COMPLETED"
    job = await wait_for_job(transcribe, "deferred")
    assert job["TranscriptionJobStatus"] == "COMPLETED"
    assert job["StartTime"] >= (await transcribe.get_transcription_job(
        TranscriptionJobName="first"))["TranscriptionJob"]["CompletionTime"]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "extra", "reason"),
    [
        (None, {}, "The URI that you provided doesn't point to an S3 object."),
        (fixture("photo.jpg"), {}, "Unsupported media format"),
        (b"\x00garbage" * 100, {}, "Unsupported media format"),
        (fixture("order.docx"), {}, "Unsupported media format"),
        (VOICE, {"MediaFormat": "mp3"}, "The media format provided does not match"),
        (VOICE, {"MediaSampleRateHertz": 16000}, "The sample rate provided does not match"),
    ],
)
async def test_jobs_fail_with_transcribes_failure_reasons(kit, transcribe, data, extra, reason):
    uri = "s3://media/missing.ogg" if data is None else await _media(kit, data, transcript="x")
    if data is None:
        await kit.clients.s3.create_bucket(Bucket="media")
    await _start(transcribe, "failing", uri, **extra)
    job = await wait_for_job(transcribe, "failing")
    assert job["TranscriptionJobStatus"] == "FAILED"
    assert job["FailureReason"].startswith(reason)
    assert "Transcript" not in job


async def test_matching_format_names_and_rates_are_accepted(kit, transcribe):
    m4a = await _media(kit, fixture("voice_en.m4a"), key="in/v.m4a", transcript="x")
    await _start(transcribe, "as-mp4", m4a, MediaFormat="mp4", MediaSampleRateHertz=16000)
    job = await wait_for_job(transcribe, "as-mp4")
    assert job["TranscriptionJobStatus"] == "COMPLETED", job.get("FailureReason")


async def test_reset_forgets_jobs(kit, transcribe):
    uri = await _media(kit, transcript="x")
    await _start(transcribe, "to-forget", uri)
    await kit.sandbox.post("/sandbox/reset")
    listed = await transcribe.list_transcription_jobs()
    assert listed["TranscriptionJobSummaries"] == []


async def test_injected_faults_answer_in_the_json_protocol(kit, transcribe):
    rule = {"operation": "GetTranscriptionJob", "error": "LimitExceededException", "count": 1}
    assert (await kit.sandbox.post("/sandbox/faults", json=rule)).status_code == 200
    with pytest.raises(transcribe.exceptions.LimitExceededException) as caught:
        await transcribe.get_transcription_job(TranscriptionJobName="any")
    assert _error(caught)[:2] == ("LimitExceededException", 400)
    internal = {"operation": "ListTranscriptionJobs", "error": "InternalFailureException"}
    await kit.sandbox.post("/sandbox/faults", json=internal | {"count": 1})
    with pytest.raises(transcribe.exceptions.InternalFailureException) as failed:
        await transcribe.list_transcription_jobs()
    assert _error(failed)[1] == 500
