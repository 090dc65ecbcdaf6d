"""What every single-bridge benchmark stands on: the sandbox, one bridge process, /proc.

The embedded AWS and the simulator run in this process (threads); the bridge runs as its
own process (`python -m service run`, production defaults unless overridden), so its CPU
time and memory can be read from /proc without counting the harness. The campaigns of
`bench/chaos` run several workers and have their own supervisor.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from service.aws import AwsClientOptions, open_clients
from service.local import constants
from service.local.bootstrap import BootstrapClients, bootstrap
from service.local.embedded_aws import EmbeddedAws
from service.local.ports import free_loopback_ports
from service.local.sim import SimSettings, threaded_sim
from service.resources import resource_plan
from service.settings import ResourceNames, ResourceSettings


@dataclass(frozen=True, slots=True)
class Bench:
    """A running sandbox and its bridge."""

    names: ResourceNames
    sim_url: str
    admin_url: str
    token: str
    bridge: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.bridge.pid


@asynccontextmanager
async def bench_sandbox(
    *,
    prefix: str,
    token: str,
    sim: Mapping[str, Any] | None = None,
    bridge_env: Mapping[str, str] | None = None,
) -> AsyncIterator[Bench]:
    """The embedded AWS bootstrapped, the simulator, and a ready bridge; all stopped after.

    `sim` overrides `SimSettings`; `bridge_env` adds BRIDGE_* settings to the bridge's
    environment (its log level defaults to WARNING, its format to JSON).
    """
    names = ResourceSettings(name_prefix=prefix).resource_names()
    with EmbeddedAws.threaded() as aws:
        os.environ |= {
            "AWS_ENDPOINT_URL": aws.url,
            "AWS_ACCESS_KEY_ID": prefix,
            "AWS_SECRET_ACCESS_KEY": prefix,
            "AWS_DEFAULT_REGION": constants.REGION,
        }
        async with AsyncExitStack() as stack:
            clients = await open_clients(stack, AwsClientOptions(region=constants.REGION))
            created = await bootstrap(
                BootstrapClients(
                    dynamodb=clients.dynamodb,
                    sqs=clients.sqs,
                    sns=clients.sns,
                    s3=clients.s3,
                    ssm=clients.ssm,
                ),
                resource_plan(
                    names,
                    connect_instance_id=constants.CONNECT_INSTANCE_ID,
                    contact_flow_id=constants.CONTACT_FLOW_ID,
                ),
            )
        sim_settings = SimSettings(
            sim_port=0,
            aws_endpoint_url=aws.url,
            inbound_topic_arn=created.topic_arns[names.inbound_topic],
            **dict(sim or {}),
        )
        with threaded_sim(sim_settings) as sim_url:
            port = free_loopback_ports(1)[0]
            env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")} | {
                "AWS_ENDPOINT_URL_CONNECT": sim_url,
                "AWS_ENDPOINT_URL_CONNECTPARTICIPANT": sim_url,
                "AWS_ENDPOINT_URL_SOCIALMESSAGING": sim_url,
                "AWS_ENDPOINT_URL_TRANSCRIBE": sim_url,
                "BRIDGE_NAME_PREFIX": prefix,
                "BRIDGE_ADMIN_TOKEN": token,
                "BRIDGE_OUTBOUND_TOPIC_ARN": created.env["BRIDGE_OUTBOUND_TOPIC_ARN"],
                "BRIDGE_LOG_LEVEL": "WARNING",
                "BRIDGE_LOG_FORMAT": "json",
                "BRIDGE_ADMIN_PORT": str(port),
            }
            env |= dict(bridge_env or {})
            # A plain Popen: the bridge must outlive nothing here but this script.
            bridge = subprocess.Popen([sys.executable, "-m", "service", "run"], env=env)  # noqa: ASYNC220
            try:
                admin_url = f"http://127.0.0.1:{port}"
                await wait_ready(f"{admin_url}/readyz")
                yield Bench(names, sim_url, admin_url, token, bridge)
            finally:
                bridge.terminate()
                bridge.wait(60)


async def wait_ready(url: str, *, timeout_s: float = 30.0) -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(int(timeout_s * 10)):
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"bridge not ready at {url}")


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def status_kb(pid: int, key: str) -> int:
    """A /proc/<pid>/status figure in kB (`VmRSS`, `VmHWM`…); 0 if absent."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return 0


def rss_mb(pid: int) -> float:
    return status_kb(pid, "VmRSS") / 1024


def peak_rss_mb(pid: int) -> float:
    return status_kb(pid, "VmHWM") / 1024
