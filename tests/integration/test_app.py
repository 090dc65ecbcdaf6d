"""The production process: admin API up, readiness from real dependencies, clean shutdown."""

import asyncio
import json

import httpx
import pytest

from service.app import run_bridge
from service.settings import Settings
from tests.support.bridge import TOKEN, RunningBridge
from tests.support.waiting import eventually


def _settings(resources, **overrides) -> Settings:
    values = {
        "name_prefix": resources.names.raw_table.removesuffix("-raw-messages"),
        "admin_token": TOKEN,
        "admin_port": 0,
        "outbound_topic_arn": resources.outbound_topic_arn,
        "drain_timeout_s": 2.0,
        "sqs_wait_time_s": 1,
        "readiness_interval_s": 0.5,
        "task_id": "test-worker",
    }
    return Settings(**(values | overrides))


async def test_healthy_and_ready_against_bootstrapped_resources(resources):
    async with RunningBridge(_settings(resources)) as http:
        health = await http.get("/healthz")
        assert health.status_code == 200
        assert health.json()["alive"] is True
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert set(ready.json()["checked"]) == {"dynamodb", "sqs", "sns", "connect_config"}


async def test_readiness_names_each_failing_dependency(resources, aws_clients):
    async with RunningBridge(_settings(resources)) as http:
        await aws_clients.dynamodb.delete_table(TableName=resources.names.leases_table)
        await aws_clients.sqs.delete_queue(
            QueueUrl=resources.queue_url(resources.names.outbound_queue)
        )
        await aws_clients.sns.delete_topic(TopicArn=resources.outbound_topic_arn)

        async def not_ready() -> httpx.Response | None:
            answer = await http.get("/readyz")
            # A probe may run between the deletions: wait for one that saw all three.
            return answer if len(answer.json()["failing"]) == 3 else None

        ready = await eventually(not_ready, timeout_s=10)
        failing = ready.json()["failing"]
        assert set(failing) == {"dynamodb", "sqs", "sns"}
        assert "ResourceNotFoundException" in failing["dynamodb"]


async def test_a_frozen_dependency_makes_the_task_unready_and_readyz_still_answers(
    resources, monkeypatch
):
    """SNS accepts connections and never answers (a stopped process, a black-holed route)."""
    silent: list[asyncio.StreamWriter] = []

    async def accept_and_ignore(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        silent.append(writer)

    server = await asyncio.start_server(accept_and_ignore, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", f"http://127.0.0.1:{port}")
    # A long probe timeout: answering at once (from the last probe) is then clearly told
    # apart from answering after probing (which would take the whole timeout).
    settings = _settings(resources, readiness_timeout_s=3.0, readiness_interval_s=0.5)
    try:
        async with RunningBridge(settings) as http:

            async def sns_reported() -> bool:
                answer = await http.get("/readyz", timeout=10)
                return "sns" in answer.json()["failing"]

            await eventually(sns_reported, timeout_s=20)
            started = asyncio.get_running_loop().time()
            ready = await http.get("/readyz", timeout=10)
            assert asyncio.get_running_loop().time() - started < 1.5
            assert ready.status_code == 503
            assert ready.json()["failing"] == {"sns": "no answer within 3 s"}
            # Liveness stays up: restarting a task would not bring SNS back.
            assert (await http.get("/healthz")).status_code == 200
    finally:
        for writer in silent:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_startup_without_the_resources_fails_with_a_clear_reason(aws):
    settings = Settings(
        name_prefix="nothing-here",
        admin_token=TOKEN,
        admin_port=0,
        outbound_topic_arn="arn:aws:sns:us-east-1:123456789012:none",
    )
    with pytest.raises(Exception, match=r"NonExistentQueue|QueueDoesNotExist"):
        await run_bridge(settings, install_signals=False)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN}],
)
async def test_admin_routes_refuse_without_the_token(resources, headers):
    async with (
        RunningBridge(_settings(resources)) as http,
        httpx.AsyncClient(base_url=str(http.base_url)) as anonymous,
    ):
        response = await anonymous.get("/admin/status", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


async def test_admin_status_shows_the_configuration_in_force(resources):
    async with RunningBridge(_settings(resources)) as http:
        response = await http.get("/admin/status", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        body = response.json()
        assert body["worker_id"] == "test-worker"
        assert (
            body["connect_config"]["instance_id"]
            == json.loads(resources.plan.connect_config.initial_value)["instance_id"]
        )
        assert body["resources"]["raw_table"] == resources.names.raw_table


async def test_metrics_and_openapi_are_served(resources):
    async with RunningBridge(_settings(resources)) as http:
        metrics = await http.get("/metrics")
        assert metrics.status_code == 200
        assert "bridge_build_info{version=" in metrics.text
        spec = (await http.get("/openapi.json")).json()
        assert {"/healthz", "/readyz", "/metrics", "/admin/status"} <= set(spec["paths"])


async def test_stop_event_shuts_down_within_the_drain_deadline(resources):
    bridge = RunningBridge(_settings(resources, drain_timeout_s=1.0))
    await bridge.__aenter__()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await bridge.__aexit__(None, None, None)
    assert loop.time() - started < 5
    assert bridge.task is not None
    assert bridge.task.done()
    assert bridge.task.exception() is None


async def test_cloudwatch_metric_lines_report_the_stream_iterator_age(resources, capsys):
    """The composition root runs the EMF reporter the deployment's alarms rely on."""
    settings = _settings(resources, cloudwatch_metrics_interval_s=0.2)
    seen: list[dict[str, object]] = []
    async with RunningBridge(settings):
        async with asyncio.timeout(20):
            while not any("StreamIteratorAgeSeconds" in line for line in seen):
                out = capsys.readouterr().out.splitlines()
                seen.extend(json.loads(line) for line in out if '"_aws"' in line)
                await asyncio.sleep(0.1)
    document = next(line for line in seen if "StreamIteratorAgeSeconds" in line)
    assert document["NamePrefix"] == settings.name_prefix
    assert document["StreamIteratorAgeSeconds"] == 0.0  # an idle shard, read to its tip
