"""`python -m service dev`: the whole local sandbox, supervised by one process.

Starts, in order: the embedded AWS (its own process), the resource bootstrap (in this
process), the simulator (its own process) and N bridge workers (`python -m service run`,
each its own process with its own admin port), then writes `.sandbox/env` so any other
process can attach. Children run in their own sessions, so Ctrl-C reaches only this
supervisor, which stops them in dependency order: workers first (they drain against a
living AWS), then the simulator, then the embedded AWS. A worker can be killed and
restarted by hand without touching the rest.

The parts (`start_embedded_aws`, `start_simulator`, `start_worker`, `stop_children`) are
also what the resilience harness (`python -m bench.chaos`) drives, so it kills, stops and
restarts exactly the processes `make dev` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import secrets
import shlex
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

import structlog

from service.aws import AwsClientOptions, open_clients
from service.local import constants
from service.local.bootstrap import BootstrapClients, bootstrap
from service.resources import resource_plan
from service.settings import ResourceSettings

log = structlog.get_logger(__name__)

LOOPBACK = "127.0.0.1"
# Within the 10 s the sandbox promises for Ctrl-C: workers drain first, then the rest.
WORKER_DRAIN_S = 5.0
WORKER_STOP_WAIT_S = 6.0
OTHER_STOP_WAIT_S = 1.5


class SandboxError(Exception):
    """The sandbox could not start; the message says which part and why."""


@dataclass(frozen=True, slots=True)
class SandboxOptions:
    workers: int = 1
    aws_port: int = constants.DEFAULT_AWS_PORT
    sim_port: int = constants.DEFAULT_SIM_PORT
    admin_port: int = constants.DEFAULT_ADMIN_PORT
    state_dir: Path = Path(".sandbox")
    name_prefix: str = "wa-bridge"
    ready_timeout_s: float = 60.0
    # Each worker's admin port, when the caller chose them (else `admin_port` and the next
    # numbers not taken by the sandbox itself).
    admin_ports: tuple[int, ...] = ()
    # Extra environment for every worker (a harness shortens the buffer and lease windows).
    worker_env: Mapping[str, str] = field(default_factory=dict)
    # When set, each process writes its output to `<log_dir>/<name>.log` (appended across
    # restarts) instead of this terminal.
    log_dir: Path | None = None


@dataclass(slots=True)
class Child:
    name: str
    process: asyncio.subprocess.Process
    essential: bool


@dataclass(slots=True)
class Sandbox:
    options: SandboxOptions
    env: dict[str, str] = field(default_factory=dict)
    children: list[Child] = field(default_factory=list)

    @property
    def aws_url(self) -> str:
        return f"http://{LOOPBACK}:{self.options.aws_port}"

    @property
    def sim_url(self) -> str:
        return f"http://{LOOPBACK}:{self.options.sim_port}"

    def worker_ports(self) -> list[int]:
        if self.options.admin_ports:
            return list(self.options.admin_ports[: self.options.workers])
        taken = {self.options.sim_port, self.options.aws_port}
        ports: list[int] = []
        port = self.options.admin_port
        while len(ports) < self.options.workers:
            if port not in taken:
                ports.append(port)
            port += 1
        return ports


def _die_with_parent() -> None:
    # If the supervisor is SIGKILLed, Linux sends the children SIGTERM instead of leaving
    # an orphaned embedded AWS holding port 4566.
    if sys.platform == "linux":
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


async def _spawn(
    sandbox: Sandbox, name: str, args: list[str], env: dict[str, str], *, essential: bool
) -> Child:
    log_dir = sandbox.options.log_dir
    output = None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        output = (log_dir / f"{name}.log").open("ab")
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            env=env,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT if output is not None else None,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    finally:
        if output is not None:
            output.close()  # the child holds its own descriptor
    child = Child(name, process, essential)
    sandbox.children.append(child)
    log.info("sandbox_process_started", process=name, pid=process.pid)
    return child


def _http_ok(url: str, headers: dict[str, str] | None = None) -> bool:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310  loopback URL we built
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
            return 200 <= int(response.status) < 300  # noqa: PLR2004
    except (urllib.error.URLError, OSError):
        return False


async def wait_http(child: Child, url: str, deadline: float) -> None:
    while not await asyncio.to_thread(_http_ok, url):
        if child.process.returncode is not None:
            raise SandboxError(
                f"{child.name} exited with code {child.process.returncode} before it was "
                f"ready (is its port already in use?)"
            )
        if time.monotonic() > deadline:
            raise SandboxError(f"{child.name} not ready at {url} in time")
        await asyncio.sleep(0.2)


def sandbox_environment(sandbox: Sandbox, token: str) -> dict[str, str]:
    names = ResourceSettings(name_prefix=sandbox.options.name_prefix).resource_names()
    admin_ports = sandbox.worker_ports() or [sandbox.options.admin_port]
    env = {
        "AWS_ENDPOINT_URL": sandbox.aws_url,
        "AWS_ENDPOINT_URL_CONNECT": sandbox.sim_url,
        "AWS_ENDPOINT_URL_CONNECTPARTICIPANT": sandbox.sim_url,
        "AWS_ENDPOINT_URL_SOCIALMESSAGING": sandbox.sim_url,
        "AWS_ENDPOINT_URL_TRANSCRIBE": sandbox.sim_url,
        "AWS_REGION": constants.REGION,
        "AWS_DEFAULT_REGION": constants.REGION,
        "AWS_ACCESS_KEY_ID": constants.DUMMY_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": constants.DUMMY_SECRET_KEY,
        "BRIDGE_NAME_PREFIX": sandbox.options.name_prefix,
        "BRIDGE_ADMIN_TOKEN": token,
        "BRIDGE_AWS_VALIDATE_REQUESTS": "true",
        "SANDBOX_AWS_URL": sandbox.aws_url,
        "SANDBOX_SIM_URL": sandbox.sim_url,
        "SANDBOX_ADMIN_URL": f"http://{LOOPBACK}:{admin_ports[0]}",
        "SANDBOX_ADMIN_URLS": " ".join(f"http://{LOOPBACK}:{p}" for p in admin_ports),
        "SANDBOX_SIM_HOST": LOOPBACK,
        "SANDBOX_SIM_PORT": str(sandbox.options.sim_port),
        "SANDBOX_AWS_ENDPOINT_URL": sandbox.aws_url,
        "SANDBOX_REGION": constants.REGION,
        "SANDBOX_ACCOUNT_ID": constants.ACCOUNT_ID,
        "SANDBOX_WABA_ID": constants.WABA_ID,
        "SANDBOX_WABA_ARN": constants.WABA_ARN,
        "SANDBOX_BUSINESS_PHONE_NUMBER_ID": constants.BUSINESS_PHONE_NUMBER_ID,
        "SANDBOX_BUSINESS_PHONE_NUMBER_ARN": constants.BUSINESS_PHONE_NUMBER_ARN,
        "SANDBOX_BUSINESS_DISPLAY_NUMBER": constants.BUSINESS_DISPLAY_NUMBER,
        "SANDBOX_CONNECT_INSTANCE_ID": constants.CONNECT_INSTANCE_ID,
        "SANDBOX_CONTACT_FLOW_ID": constants.CONTACT_FLOW_ID,
    }
    for key, value in asdict(names).items():
        env[f"BRIDGE_{key.upper()}"] = str(value)
    return env


def write_env_file(path: Path, env: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Written by `make dev`. Attach with: set -a; . .sandbox/env; set +a",
        *(f"{key}={shlex.quote(value)}" for key, value in sorted(env.items())),
    ]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.chmod(0o600)  # it holds the admin token
    tmp.replace(path)


async def _bootstrap(sandbox: Sandbox) -> dict[str, str]:
    os.environ.update({k: v for k, v in sandbox.env.items() if k.startswith("AWS_")})
    names = ResourceSettings(name_prefix=sandbox.options.name_prefix).resource_names()
    plan = resource_plan(
        names,
        connect_instance_id=constants.CONNECT_INSTANCE_ID,
        contact_flow_id=constants.CONTACT_FLOW_ID,
    )
    async with AsyncExitStack() as stack:
        c = await open_clients(stack, AwsClientOptions(region=constants.REGION))
        result = await bootstrap(
            BootstrapClients(dynamodb=c.dynamodb, sqs=c.sqs, sns=c.sns, s3=c.s3, ssm=c.ssm), plan
        )
    return result.env


def _base_environment() -> dict[str, str]:
    # The sandbox's own AWS_/BRIDGE_/SANDBOX_ values replace the caller's, never mix with them.
    return {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BRIDGE_", "SANDBOX_"))
    }


async def start_embedded_aws(sandbox: Sandbox, deadline: float) -> Child:
    """The embedded AWS in its own process, then every resource bootstrapped in it."""
    aws = await _spawn(
        sandbox,
        "embedded-aws",
        [
            "-m",
            "service.local.embedded_aws",
            "--host",
            LOOPBACK,
            "--port",
            str(sandbox.options.aws_port),
        ],
        _base_environment(),
        essential=True,
    )
    await wait_http(aws, f"{sandbox.aws_url}/moto-api/", deadline)
    sandbox.env.update(await _bootstrap(sandbox))
    write_env_file(sandbox.options.state_dir / "env", sandbox.env)
    return aws


async def start_simulator(sandbox: Sandbox, deadline: float) -> Child:
    # The simulator reads the workers' buffers for the playground's clock with the token
    # (given to it alone; .sandbox/env already holds it as BRIDGE_ADMIN_TOKEN).
    token = {"SANDBOX_ADMIN_TOKEN": sandbox.env["BRIDGE_ADMIN_TOKEN"]}
    sim = await _spawn(
        sandbox,
        "simulator",
        ["-m", "service", "sim"],
        _base_environment() | sandbox.env | token,
        essential=True,
    )
    await wait_http(sim, f"{sandbox.sim_url}/sandbox/health", deadline)
    return sim


def worker_name(index: int) -> str:
    return f"bridge-{index + 1}"


async def start_worker(
    sandbox: Sandbox, index: int, *, wait_until: float | None, task_id: str | None = None
) -> Child:
    """Bridge worker `index` (0-based) on its admin port; ready when `wait_until` is given.

    Starting an index again after its process died is a restart on the same port; pass a
    new `task_id` to make it a new worker in the lease table (as a replacement ECS task).
    """
    port = sandbox.worker_ports()[index]
    env = (
        _base_environment()
        | sandbox.env
        | {
            "BRIDGE_ADMIN_PORT": str(port),
            "BRIDGE_TASK_ID": task_id or f"dev-worker-{index + 1}",
            "BRIDGE_DRAIN_TIMEOUT_S": str(WORKER_DRAIN_S),
        }
        | dict(sandbox.options.worker_env)
    )
    child = await _spawn(
        sandbox, worker_name(index), ["-m", "service", "run"], env, essential=False
    )
    if wait_until is not None:
        await wait_http(child, f"http://{LOOPBACK}:{port}/readyz", wait_until)
    return child


async def _start(sandbox: Sandbox) -> None:
    deadline = time.monotonic() + sandbox.options.ready_timeout_s
    await start_embedded_aws(sandbox, deadline)
    await start_simulator(sandbox, deadline)
    workers = [
        await start_worker(sandbox, index, wait_until=None)
        for index in range(len(sandbox.worker_ports()))
    ]
    for index, child in enumerate(workers):
        port = sandbox.worker_ports()[index]
        await wait_http(child, f"http://{LOOPBACK}:{port}/readyz", deadline)


def _banner(sandbox: Sandbox, took_s: float) -> str:
    env_file = sandbox.options.state_dir / "env"
    workers = sandbox.worker_ports()
    lines = [
        "",
        f"WhatsApp ⇄ Connect sandbox ready in {took_s:.1f} s",
        f"  playground     {sandbox.sim_url}/   (open it: a customer's phone, an agent's desk)",
    ]
    if workers:
        # The token rides in the fragment, which browsers never send: the console moves it
        # into the tab's sessionStorage and out of the address bar.
        token = sandbox.env["BRIDGE_ADMIN_TOKEN"]
        lines.append(f"  console        http://{LOOPBACK}:{workers[0]}/console#token={token}")
    lines += [
        f"  embedded AWS   {sandbox.aws_url}",
        f"  simulator      {sandbox.sim_url}   (sandbox API under /sandbox, docs at /docs)",
    ]
    lines += [
        f"  bridge {i + 1}       http://{LOOPBACK}:{p}   (/healthz /readyz /metrics /admin /docs)"
        for i, p in enumerate(workers)
    ]
    if not workers:
        lines.append("  no bridge workers (WORKERS=0): start one with `python -m service run`")
    lines += [
        f"  environment    {env_file}   (attach: set -a; . {env_file}; set +a)",
        "Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)


async def stop_children(sandbox: Sandbox) -> None:
    """Stop every process still running, workers first (they drain against a living AWS)."""
    order = [
        ([c for c in sandbox.children if c.name.startswith("bridge-")], WORKER_STOP_WAIT_S),
        ([c for c in sandbox.children if c.name == "simulator"], OTHER_STOP_WAIT_S),
        ([c for c in sandbox.children if c.name == "embedded-aws"], OTHER_STOP_WAIT_S),
    ]
    for group, wait_s in order:
        for child in group:
            if child.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(signal.SIGTERM)
        for child in group:
            try:
                async with asyncio.timeout(wait_s):
                    await child.process.wait()
            except TimeoutError:
                log.warning("sandbox_process_killed", process=child.name)
                with contextlib.suppress(ProcessLookupError):
                    child.process.kill()
                await child.process.wait()


async def _watch(sandbox: Sandbox, stop: asyncio.Event) -> None:
    reported: set[str] = set()
    while not stop.is_set():
        for child in sandbox.children:
            code = child.process.returncode
            if code is None or child.name in reported:
                continue
            reported.add(child.name)
            if child.essential:
                log.error("sandbox_part_died", process=child.name, exit_code=code)
                stop.set()
            else:
                log.warning("sandbox_worker_exited", process=child.name, exit_code=code)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                await stop.wait()


async def run_sandbox(options: SandboxOptions) -> int:
    started = time.monotonic()
    sandbox = Sandbox(options)
    sandbox.env = sandbox_environment(sandbox, secrets.token_urlsafe(24))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    code = 0
    try:
        starting = asyncio.create_task(_start(sandbox))
        stopping = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if starting in done:
            stopping.cancel()
            starting.result()
            sys.stdout.write(_banner(sandbox, time.monotonic() - started) + "\n")
            sys.stdout.flush()
            log.info("sandbox_ready", took_s=round(time.monotonic() - started, 2))
            await _watch(sandbox, stop)
        else:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
    except SandboxError as exc:
        log.error("sandbox_failed", reason=str(exc))  # noqa: TRY400  the reason is the message; no traceback needed
        code = 1
    finally:
        stop_started = time.monotonic()
        await stop_children(sandbox)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        log.info("sandbox_stopped", took_s=round(time.monotonic() - stop_started, 2))
    return code
