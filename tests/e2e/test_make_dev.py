"""`make dev` as a new user runs it: ready, attachable through .sandbox/env, stops on SIGTERM."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest

from service.local.ports import free_loopback_ports

pytestmark = pytest.mark.slow

READY_LINE = "sandbox ready in"


def _read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    return env


class _Output:
    """Collects a process's output in a thread; `closed` is set at EOF (every writer gone)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.closed = threading.Event()
        self._thread = threading.Thread(target=self._pump, args=(process,), daemon=True)
        self._thread.start()

    def _pump(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line)
        self.closed.set()

    def wait_for(self, text: str, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return True
            if self.closed.is_set():
                return False
            time.sleep(0.2)
        return False


def _admin_status(sandbox: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310  loopback http
        f"{sandbox['SANDBOX_ADMIN_URL']}/admin/status",
        headers={"Authorization": f"Bearer {sandbox['BRIDGE_ADMIN_TOKEN']}"},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310  loopback http
        status: dict[str, Any] = json.load(answer)
    return status


@pytest.mark.timeout(240)
def test_make_dev_is_ready_attachable_and_stops_on_sigterm(repo_root: Path, tmp_path: Path):
    aws_port, sim_port, admin_port = free_loopback_ports(3)
    state = tmp_path / "sandbox"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BRIDGE_", "SANDBOX_"))}
    env["SANDBOX_STATE_DIR"] = str(state)
    make = shutil.which("make")
    assert make is not None
    process = subprocess.Popen(
        [
            make,
            "--no-print-directory",
            "dev",
            f"AWS_PORT={aws_port}",
            f"SIM_PORT={sim_port}",
            f"ADMIN_PORT={admin_port}",
            "WORKERS=1",
        ],
        cwd=repo_root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output = _Output(process)
    try:
        started = time.monotonic()
        assert output.wait_for(READY_LINE, 150), "".join(output.lines[-40:])
        took = time.monotonic() - started

        sandbox = _read_env(state / "env")
        for key in (
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_CONNECT",
            "AWS_ENDPOINT_URL_CONNECTPARTICIPANT",
            "AWS_ENDPOINT_URL_SOCIALMESSAGING",
            "AWS_REGION",
            "AWS_ACCESS_KEY_ID",
            "SANDBOX_SIM_URL",
            "SANDBOX_ADMIN_URL",
            "SANDBOX_INBOUND_TOPIC_ARN",
            "SANDBOX_BUSINESS_PHONE_NUMBER_ID",
            "SANDBOX_BUSINESS_PHONE_NUMBER_ARN",
            "BRIDGE_ADMIN_TOKEN",
            "BRIDGE_OUTBOUND_TOPIC_ARN",
            "BRIDGE_RAW_TABLE",
        ):
            assert sandbox.get(key), f"{key} missing from .sandbox/env"
        assert sandbox["SANDBOX_SIM_URL"] == f"http://127.0.0.1:{sim_port}"
        assert sandbox["SANDBOX_ADMIN_URL"] == f"http://127.0.0.1:{admin_port}"

        # Plain boto3, configured only by the file, sees the resources and the simulator.
        session = boto3.Session(
            aws_access_key_id=sandbox["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=sandbox["AWS_SECRET_ACCESS_KEY"],
            region_name=sandbox["AWS_REGION"],
        )
        aws = sandbox["AWS_ENDPOINT_URL"]
        tables = session.client("dynamodb", endpoint_url=aws).list_tables()["TableNames"]
        assert sandbox["BRIDGE_RAW_TABLE"] in tables
        queues = session.client("sqs", endpoint_url=aws).list_queues()["QueueUrls"]
        assert any(url.endswith(sandbox["BRIDGE_INBOUND_QUEUE"]) for url in queues)
        topics = session.client("sns", endpoint_url=aws).list_topics()["Topics"]
        assert {"TopicArn": sandbox["SANDBOX_INBOUND_TOPIC_ARN"]} in topics
        chat = session.client(
            "connect", endpoint_url=sandbox["AWS_ENDPOINT_URL_CONNECT"]
        ).start_chat_contact(
            InstanceId=sandbox["SANDBOX_CONNECT_INSTANCE_ID"],
            ContactFlowId=sandbox["SANDBOX_CONTACT_FLOW_ID"],
            ParticipantDetails={"DisplayName": "Ana"},
        )
        assert chat["ContactId"]
        assert chat["ParticipantToken"]

        readyz = f"{sandbox['SANDBOX_ADMIN_URL']}/readyz"
        with urllib.request.urlopen(readyz, timeout=5) as ready:  # noqa: S310  loopback http
            assert ready.status == 200
        assert _admin_status(sandbox)["event_loop"] == "uvloop", "the bridge runs on uvloop"

        stop_started = time.monotonic()
        os.killpg(process.pid, signal.SIGTERM)
        # EOF on the shared output means every process of the sandbox has exited.
        assert output.closed.wait(10), "sandbox still running 10 s after SIGTERM"
        stopped_in = time.monotonic() - stop_started
        process.wait(timeout=5)
        text = "".join(output.lines)
        assert "sandbox_stopped" in text
        assert "Traceback" not in text
        for port in (aws_port, sim_port, admin_port):
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
        print(f"make dev ready in {took:.1f} s, stopped in {stopped_in:.1f} s")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        output.closed.wait(5)
        assert process.stdout is not None
        process.stdout.close()
