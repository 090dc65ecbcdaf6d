"""The app factory, settings and the `run_sim` coroutine the CLI uses."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest

from service.local import constants
from service.local.sim import SimSettings, run_sim


def test_settings_come_from_sandbox_variables(monkeypatch):
    monkeypatch.setenv("SANDBOX_SIM_PORT", "9911")
    monkeypatch.setenv("SANDBOX_CONNECTION_TOKEN_TTL_S", "60")
    monkeypatch.setenv("SANDBOX_INBOUND_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:in")
    settings = SimSettings()
    assert settings.sim_port == 9911
    assert settings.public_url == "http://127.0.0.1:9911"
    assert settings.connection_token_ttl_s == 60
    assert settings.inbound_topic_arn.endswith(":in")
    assert settings.connect_instance_id == constants.CONNECT_INSTANCE_ID


def test_public_url_can_be_set(monkeypatch):
    monkeypatch.setenv("SANDBOX_SIM_URL", "http://sim.local:8081/")
    assert SimSettings().public_url == "http://sim.local:8081"


async def test_run_sim_serves_until_cancelled(moto_url):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = SimSettings(sim_port=port, aws_endpoint_url=moto_url)
    task = asyncio.create_task(run_sim(settings, sockets=[sock]))
    url = f"http://127.0.0.1:{port}/sandbox/health"
    try:
        async with httpx.AsyncClient() as http:
            deadline = time.monotonic() + 10
            while True:
                try:
                    answer = await http.get(url)
                    break
                except httpx.ConnectError:
                    assert time.monotonic() < deadline, "the simulator did not start"
                    await asyncio.sleep(0.05)
            assert answer.status_code == 200
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        sock.close()
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(url, timeout=2)
