"""Inbound benchmark: bursty customers through the whole sandbox, measured at Connect.

Runs the embedded AWS and the simulator in this process (threads) and the bridge as its
own process (`python -m service run`, production defaults unless overridden), so the
bridge's CPU time can be read from /proc. Simulated customers send bursts of 2-5 texts
with human-like gaps below the quiet window, pausing longer between bursts.

Prints, per run:
- Connect messages per burst (the target is exactly 1) and WhatsApp messages per Connect
  message;
- added latency: from a burst's last message (its publication to SNS) to the Connect
  transcript item, minus the quiet window (p50 / p90 / p99 / max);
- bridge CPU-ms per WhatsApp message and its peak RSS;
- the old sample's policy as a baseline, computed from the same send times: 20 s
  tumbling windows aligned on the clock (reference limits.md §a), split bursts counted.

Usage: python bench/inbound_bursts.py [--customers 20] [--bursts 3] [--quiet 5] [--json F]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
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
from service.settings import ResourceSettings

PREFIX = "bench"
TOKEN = "bench-admin-token-0123456789"  # noqa: S105  the sandbox bridge's fixed token
TUMBLING_WINDOW_S = 20.0


@dataclass
class Burst:
    customer: str
    texts: list[str]
    sent_at: list[float] = field(default_factory=list)

    @property
    def last_sent_at(self) -> float:
        return self.sent_at[-1]


@dataclass
class Run:
    bursts: list[Burst] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def customer(
    http: httpx.AsyncClient,
    run: Run,
    index: int,
    *,
    bursts: int,
    quiet_s: float,
    rng: random.Random,
) -> None:
    wa_id = f"52155{index:08d}"
    await asyncio.sleep(rng.uniform(0, 3))
    for number in range(bursts):
        burst = Burst(wa_id, [f"c{index}-b{number}-m{i}" for i in range(rng.randint(2, 5))])
        for position, body in enumerate(burst.texts):
            if position:
                # Typing the next short message: well under the quiet window.
                await asyncio.sleep(rng.uniform(0.3, min(2.0, quiet_s * 0.4)))
            response = await http.post(
                f"/sandbox/customers/{wa_id}/messages",
                json={"type": "text", "text": {"body": body}},
            )
            response.raise_for_status()
            burst.sent_at.append(time.time())
        run.bursts.append(burst)
        await asyncio.sleep(quiet_s + rng.uniform(3.0, 6.0))


async def _wait_ready(url: str) -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(300):
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"bridge not ready at {url}")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tumbling_baseline(run: Run) -> tuple[float, list[float]]:
    """Connect messages per burst and per-burst latency under aligned 20 s windows."""
    splits: list[int] = []
    latencies: list[float] = []
    for burst in run.bursts:
        windows = {int(t // TUMBLING_WINDOW_S) for t in burst.sent_at}
        splits.append(len(windows))
        window_end = (int(burst.last_sent_at // TUMBLING_WINDOW_S) + 1) * TUMBLING_WINDOW_S
        latencies.append(window_end - burst.last_sent_at)
    return statistics.mean(splits), latencies


async def main() -> None:  # noqa: PLR0915  a linear script: setup, load, measure, report
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--bursts", type=int, default=3)
    parser.add_argument("--quiet", type=float, default=5.0)
    parser.add_argument("--max-wait", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    names = ResourceSettings(name_prefix=PREFIX).resource_names()

    with EmbeddedAws.threaded() as aws:
        os.environ |= {
            "AWS_ENDPOINT_URL": aws.url,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": constants.REGION,
        }
        async with AsyncExitStack() as stack:
            c = await open_clients(stack, AwsClientOptions(region=constants.REGION))
            created = await bootstrap(
                BootstrapClients(dynamodb=c.dynamodb, sqs=c.sqs, sns=c.sns, s3=c.s3, ssm=c.ssm),
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
        )
        with threaded_sim(sim_settings) as sim_url:
            env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")} | {
                "AWS_ENDPOINT_URL_CONNECT": sim_url,
                "AWS_ENDPOINT_URL_CONNECTPARTICIPANT": sim_url,
                "AWS_ENDPOINT_URL_SOCIALMESSAGING": sim_url,
                "BRIDGE_NAME_PREFIX": PREFIX,
                "BRIDGE_ADMIN_TOKEN": TOKEN,
                "BRIDGE_OUTBOUND_TOPIC_ARN": created.env["BRIDGE_OUTBOUND_TOPIC_ARN"],
                "BRIDGE_BUFFER_QUIET_S": str(args.quiet),
                "BRIDGE_BUFFER_MAX_WAIT_S": str(args.max_wait),
                "BRIDGE_LOG_LEVEL": "WARNING",
                "BRIDGE_LOG_FORMAT": "json",
            }
            env["BRIDGE_ADMIN_PORT"] = str(free_loopback_ports(1)[0])
            # A plain Popen: the bridge must outlive nothing here but this script.
            bridge = subprocess.Popen([sys.executable, "-m", "service", "run"], env=env)  # noqa: ASYNC220
            try:
                async with httpx.AsyncClient(base_url=sim_url, timeout=30) as http:
                    await _wait_ready(f"http://127.0.0.1:{env['BRIDGE_ADMIN_PORT']}/readyz")
                    cpu_before = _cpu_seconds(bridge.pid)
                    run = Run()
                    started = time.time()
                    await asyncio.gather(
                        *(
                            customer(http, run, i, bursts=args.bursts, quiet_s=args.quiet, rng=rng)
                            for i in range(args.customers)
                        )
                    )
                    expected = sum(len(b.texts) for b in run.bursts)
                    deadline = time.time() + args.max_wait + 30
                    items: list[dict[str, Any]] = []
                    while time.time() < deadline:
                        contacts = (await http.get("/sandbox/contacts")).json()["contacts"]
                        items = [
                            i
                            for contact in contacts
                            for i in contact["transcript"]
                            if i["participantRole"] == "CUSTOMER"
                            and i["contentType"] == "text/plain"
                        ]
                        if sum(len(i["content"].split("\n")) for i in items) >= expected:
                            break
                        await asyncio.sleep(0.5)
                    cpu = _cpu_seconds(bridge.pid) - cpu_before
                    rss = _peak_rss_mb(bridge.pid)
                    took = time.time() - started
            finally:
                bridge.terminate()
                bridge.wait(30)

    by_text = {line: item for item in items for line in item["content"].split("\n")}
    delivered = sum(1 for b in run.bursts for t in b.texts if t in by_text)
    per_burst = [len({by_text[t]["id"] for t in b.texts if t in by_text}) for b in run.bursts]
    latencies = [
        datetime.fromisoformat(by_text[b.texts[-1]]["time"]).timestamp()
        - b.last_sent_at
        - args.quiet
        for b in run.bursts
        if b.texts[-1] in by_text
    ]
    base_split, base_latency = tumbling_baseline(run)
    report = {
        "customers": args.customers,
        "bursts": len(run.bursts),
        "whatsapp_messages": expected,
        "delivered_messages": delivered,
        "connect_messages": len(items),
        "connect_messages_per_burst_mean": statistics.mean(per_burst),
        "connect_messages_per_burst_max": max(per_burst),
        "whatsapp_messages_per_connect_message": expected / max(1, len(items)),
        "added_latency_s": {
            "p50": percentile(latencies, 0.5),
            "p90": percentile(latencies, 0.9),
            "p99": percentile(latencies, 0.99),
            "max": max(latencies),
        },
        "bridge_cpu_ms_per_message": 1000 * cpu / max(1, expected),
        "bridge_peak_rss_mb": rss,
        "run_s": took,
        "baseline_tumbling_20s": {
            "connect_messages_per_burst_mean": base_split,
            "latency_after_last_message_s": {
                "p50": percentile(base_latency, 0.5),
                "p99": percentile(base_latency, 0.99),
            },
        },
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
