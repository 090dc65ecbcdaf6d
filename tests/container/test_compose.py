"""The shipped artefacts, as a user runs them: the image built on a Debian-made base, the
compose sandbox started from it, one customer burst and one agent reply through it, and a
SIGTERM that stops a bridge inside its drain deadline.

Skipped, with the reason, only when no Docker engine can be started on this machine; a
failing build or stack is a failure.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from service.local.ports import free_loopback_ports

pytestmark = [pytest.mark.container, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
IMAGE = "whatsapp-connect-bridge:local"
SANDBOX_IMAGE = "whatsapp-connect-bridge:sandbox"
LOCAL_BASE = "whatsapp-connect-bridge-base:bookworm"
CUSTOMER = "15557654321"
LATE_CUSTOMER = "15557650000"
DRAIN_DEADLINE_S = 10.0  # BRIDGE_DRAIN_TIMEOUT_S in docker-compose.yml
STOP_GRACE_S = 20.0  # stop_grace_period in docker-compose.yml: then Docker sends SIGKILL
BUILD_TIMEOUT_S = 900


def _run(args: list[str], *, timeout: float = 120, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-3000:]}\n"
            f"{done.stderr[-3000:]}"
        )
    return done.stdout


def _compose_command() -> list[str]:
    plugin = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, text=True, check=False
    )
    if plugin.returncode == 0:
        return ["docker", "compose"]
    standalone = shutil.which("docker-compose")
    if standalone is None:
        pytest.fail("a Docker engine runs but neither `docker compose` nor docker-compose exists")
    return [standalone]


def _http(url: str, *, body: Any = None, token: str | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310  loopback URL built by this test
        url, data=data, headers=headers
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


def _eventually(check: Callable[[], Any], *, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.5)
    pytest.fail(f"{what}: not within {timeout_s} s (last: {last!r})")


@pytest.fixture(scope="module")
def engine() -> Iterator[None]:
    started = subprocess.run(
        [str(REPO / "docker" / "engine.sh")], capture_output=True, text=True, check=False
    )
    if started.returncode != 0:
        pytest.skip(f"no Docker engine can be started here: {started.stderr.strip()}")
    yield
    # An engine this test started is stopped again, so nothing outlives the test run.
    if started.stdout.strip():
        pid = int(started.stdout.strip())
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.2)


@dataclass(frozen=True)
class Images:
    base: str | None
    size_mb: float


@pytest.fixture(scope="module")
def images(engine: None) -> Images:
    env = dict(os.environ)
    base: str | None = None
    if shutil.which("debootstrap") and os.geteuid() == 0:
        _run([str(REPO / "docker" / "base-image.sh")], timeout=BUILD_TIMEOUT_S)
        base = LOCAL_BASE
        env["BASE_IMAGE"] = base
    _run([str(REPO / "docker" / "image.sh")], timeout=BUILD_TIMEOUT_S, env=env)
    _run(
        [str(REPO / "docker" / "image.sh")],
        timeout=BUILD_TIMEOUT_S,
        env=env | {"TARGET": "sandbox", "IMAGE": SANDBOX_IMAGE},
    )
    size = int(_run(["docker", "image", "inspect", "--format", "{{.Size}}", IMAGE]).strip())
    return Images(base=base, size_mb=size / 1e6)


@dataclass(frozen=True)
class Stack:
    compose: list[str]
    env: dict[str, str]
    sim_url: str
    admin_urls: tuple[str, str]
    admin_token: str
    started_in_s: float

    def container(self, service: str) -> str:
        return _run([*self.compose, "ps", "-q", service], env=self.env).strip()

    def logs(self, service: str) -> list[str]:
        done = subprocess.run(
            ["docker", "logs", self.container(service)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


@pytest.fixture(scope="module")
def stack(images: Images) -> Iterator[Stack]:
    aws_port, sim_port, admin_port, admin_port_2 = free_loopback_ports(4)
    token = secrets.token_urlsafe(24)
    project = f"wabridge-test-{secrets.token_hex(3)}"
    env = dict(os.environ) | {
        "AWS_PORT": str(aws_port),
        "SIM_PORT": str(sim_port),
        "ADMIN_PORT": str(admin_port),
        "ADMIN_PORT_2": str(admin_port_2),
        "BRIDGE_ADMIN_TOKEN": token,
    }
    if images.base:
        env["BASE_IMAGE"] = images.base
    compose = [*_compose_command(), "-p", project, "-f", str(REPO / "docker-compose.yml")]
    admin_urls = (f"http://127.0.0.1:{admin_port}", f"http://127.0.0.1:{admin_port_2}")
    started = time.monotonic()
    try:
        _run([*compose, "up", "-d", "--no-build"], env=env, timeout=300)

        def ready() -> bool:
            return all(_http(f"{url}/readyz") is not None for url in admin_urls)

        _eventually(ready, timeout_s=180, what="both bridges ready")
        yield Stack(
            compose=compose,
            env=env,
            sim_url=f"http://127.0.0.1:{sim_port}",
            admin_urls=admin_urls,
            admin_token=token,
            started_in_s=time.monotonic() - started,
        )
    finally:
        logs = subprocess.run(
            [*compose, "logs", "--no-color", "--tail", "40"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        print(logs.stdout[-6000:])
        subprocess.run(
            [*compose, "down", "-v", "--remove-orphans", "-t", "5"],
            cwd=REPO,
            env=env,
            capture_output=True,
            check=False,
            timeout=120,
        )


def _customer_texts(sim_url: str) -> list[str]:
    contacts = _http(f"{sim_url}/sandbox/contacts")["contacts"]
    return [
        item["content"]
        for contact in contacts
        for item in contact["transcript"]
        if item["participantRole"] == "CUSTOMER" and item["contentType"] == "text/plain"
    ]


def _token_values(document: Any) -> set[str]:
    """Every string under a key that names a token, anywhere in a JSON document."""
    found: set[str] = set()
    if isinstance(document, dict):
        for key, value in document.items():
            if "token" in key.lower() and isinstance(value, str) and len(value) >= 12:
                found.add(value)
            found |= _token_values(value)
    elif isinstance(document, list):
        for value in document:
            found |= _token_values(value)
    return found


@pytest.mark.timeout(BUILD_TIMEOUT_S + 600)
def test_compose_sandbox_end_to_end(stack: Stack, images: Images):
    # The bridges run as the image's non-root user, on a read-only root filesystem.
    for service in ("bridge-1", "bridge-2"):
        container = stack.container(service)
        uid = _run(["docker", "exec", container, "id", "-u"]).strip()
        assert uid == "10001"
        read_only = _run(
            ["docker", "inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", container]
        )
        assert read_only.strip() == "true"

    # One customer burst becomes one Connect message.
    burst = ["Hi", "my order 1042 has not arrived", "can you check?"]
    _http(
        f"{stack.sim_url}/sandbox/customers/{CUSTOMER}/messages",
        body=[{"type": "text", "text": {"body": body}} for body in burst],
    )
    texts = _eventually(
        lambda: _customer_texts(stack.sim_url), timeout_s=60, what="burst delivered to Connect"
    )
    assert texts == ["\n".join(burst)]

    # The agent's reply reaches the customer on WhatsApp.
    contact = _http(f"{stack.sim_url}/sandbox/contacts")["contacts"][0]
    reply = "Thanks, checking order 1042 now."
    _http(
        f"{stack.sim_url}/sandbox/contacts/{contact['contactId']}/agent/messages",
        body={"text": reply},
    )

    def replied() -> list[dict[str, Any]]:
        outbox = _http(f"{stack.sim_url}/sandbox/whatsapp/outbox")["messages"]
        return [m for m in outbox if m["type"] == "text"]

    [sent] = _eventually(replied, timeout_s=60, what="agent reply sent to WhatsApp")
    assert sent["recipient"] == CUSTOMER
    assert sent["message"]["text"]["body"] == reply

    # Logs: one JSON object per line, the customer only as a keyed hash, no tokens.
    secrets_in_play = {stack.admin_token, CUSTOMER} | _token_values(
        _http(f"{stack.sim_url}/sandbox/contacts")
    )
    lines = stack.logs("bridge-1") + stack.logs("bridge-2")
    events = [json.loads(line) for line in lines]  # a non-JSON line fails here
    assert any(e["event"] == "burst_delivered" for e in events)
    assert any(str(e.get("customer", "")).startswith("h:") for e in events)
    leaked = [line for line in lines if any(value in line for value in secrets_in_play)]
    assert leaked == []

    # SIGTERM, while a bridge holds a customer's burst in memory: the bridge delivers it
    # while draining (well before the 5 s quiet window would have) and stops inside its
    # drain deadline.
    _http(
        f"{stack.sim_url}/sandbox/customers/{LATE_CUSTOMER}/messages",
        body={"type": "text", "text": {"body": "one more thing"}},
    )

    def holder() -> str | None:
        for service, url in zip(("bridge-1", "bridge-2"), stack.admin_urls, strict=True):
            if _http(f"{url}/admin/buffers", token=stack.admin_token)["customers"]:
                return service
        return None

    service = _eventually(holder, timeout_s=30, what="late burst buffered on a bridge")
    container = stack.container(service)
    stopping = time.monotonic()
    _run(["docker", "kill", "--signal", "SIGTERM", container])
    exit_code = _run(["docker", "wait", container], timeout=DRAIN_DEADLINE_S + 20).strip()
    stopped_in = time.monotonic() - stopping
    assert exit_code == "0"
    # The drain keeps its deadline (an idle long poll in flight may use all of it: it is
    # let return rather than cut, so SQS hands nothing out that then waits invisible), and
    # the process is gone well before Docker would SIGKILL it.
    events = [json.loads(line) for line in stack.logs(service)]
    [drain] = [e for e in events if e["event"] == "drain_finished"]
    assert drain["took_s"] <= DRAIN_DEADLINE_S + 0.5
    assert stopped_in < STOP_GRACE_S
    assert "one more thing" in _customer_texts(stack.sim_url)
    assert events[-1]["event"] == "bridge_stopped"

    print(
        f"image {IMAGE}: {images.size_mb:.0f} MB on base {images.base or 'python slim'}; "
        f"compose stack ready in {stack.started_in_s:.1f} s; "
        f"SIGTERM stop with a buffered burst in {stopped_in:.2f} s "
        f"(deadline {DRAIN_DEADLINE_S:.0f} s)"
    )
