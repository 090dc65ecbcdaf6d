"""One campaign, start to end: a fresh sandbox, load, one fault, settle, check, report.

Each campaign gets its own sandbox (processes, ports, resources), so nothing one campaign
left in a queue or a DLQ is counted by the next. The load runs before, during and after
the fault; it stops `post_s` after the fault ends (and not before the agents' last
planned round). Then the harness waits until nothing is in flight (or says it never got
there), reads the transcripts and the outbox, and drains both DLQs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import traceback
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from bench.chaos.checker import Sent, check
from bench.chaos.cluster import Cluster
from bench.chaos.faults import (
    Fault,
    FaultContext,
    hostile_flood,
    outage,
    sigkill_each,
    sigterm_one,
    throttle,
)
from bench.chaos.flood import FloodTargets
from bench.chaos.latency import by_phase
from bench.chaos.observe import Snapshot, inbound_arrivals, outbound_arrivals, snapshot
from bench.chaos.profile import QUIET_S, WORKER_ENV, Profile, agent_rounds_at
from bench.chaos.queues import drain_dead_letters, visibility_timeout_s
from bench.chaos.recovery import recovery
from bench.chaos.report import CampaignResult
from bench.chaos.settle import Probes, settle
from bench.chaos.traffic import Ledger, Traffic, TrafficPlan
from service.aws import AwsClientOptions, AwsClients, open_clients
from service.local import constants
from service.settings import ResourceNames, ResourceSettings

# The sandbox API blocks while the embedded AWS is stopped (the simulator publishes to
# SNS); a timeout shorter than the outage would turn every such send into "unknown".
_SIM_TIMEOUT_S = 120.0
# Rough length of each fault, to spread the agents' rounds over the load.
_RESTART_S = 6.0
_DRAIN_S = 5.0
# Hostile events the flood gets accepted per second, roughly (only spreads the agents'
# rounds; with today's crashing workers the embedded AWS accepts far fewer).
_FLOOD_EVENTS_PER_S = 20.0


@dataclass(frozen=True, slots=True)
class Campaign:
    key: str
    title: str
    fault: Fault
    # Roughly how long the fault lasts (profile, workers), to spread the agents' rounds.
    planned_s: Callable[[Profile, int], float]


def _kills_s(profile: Profile, workers: int) -> float:
    kills = profile.kills or workers
    return (kills - 1) * profile.kill_interval_s + kills * _RESTART_S


def _flood_s(profile: Profile, _workers: int) -> float:
    events = profile.hostile_inbound + profile.hostile_outbound
    return min(profile.flood_budget_s, events / _FLOOD_EVENTS_PER_S)


CAMPAIGNS: dict[str, Campaign] = {
    c.key: c
    for c in (
        Campaign("a", "SIGKILL each worker", sigkill_each, _kills_s),
        Campaign("b", "SIGTERM a worker", sigterm_one, lambda _p, _w: _RESTART_S + _DRAIN_S),
        Campaign("c", "Connect/WA throttle+5xx", throttle, lambda p, _w: p.throttle_s),
        Campaign("d", "AWS outage (SIGSTOP)", outage, lambda p, _w: p.outage_s),
        Campaign("e", "hostile flood", hostile_flood, _flood_s),
    )
}


@dataclass(frozen=True, slots=True)
class _Queues:
    inbound: str
    outbound: str
    inbound_dlq: str
    outbound_dlq: str


async def _queues(clients: AwsClients, names: ResourceNames) -> _Queues:
    async def url(name: str) -> str:
        return (await clients.sqs.get_queue_url(QueueName=name))["QueueUrl"]

    return _Queues(
        inbound=await url(names.inbound_queue),
        outbound=await url(names.outbound_queue),
        inbound_dlq=await url(names.inbound_dlq),
        outbound_dlq=await url(names.outbound_dlq),
    )


async def _cancel(task: asyncio.Task[None]) -> None:
    """Cancel `task`; an error it already failed with (a restart that failed) is raised."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _save_evidence(run_dir: Path, seen: Snapshot, ledger: Ledger) -> None:
    """What the checker judged, kept next to the logs, so any number can be traced back."""
    evidence = {
        "sent": [asdict(message) for message in ledger.sent],
        "contacts": seen.contacts,
        "outbox": seen.outbox,
    }
    (run_dir / "evidence.json").write_text(json.dumps(evidence))


async def _prepare(
    sim: httpx.AsyncClient,
    clients: AwsClients,
    queues: _Queues,
    profile: Profile,
    result: CampaignResult,
) -> None:
    # WhatsApp reports `sent` for every message, as the real one does: the bridge settles
    # from it a send whose task was killed before it could record it.
    answer = await sim.post("/sandbox/config", json={"whatsapp_sent_statuses": True})
    answer.raise_for_status()
    if profile.visibility_timeout_s is not None:
        for url in (queues.inbound, queues.outbound):
            await clients.sqs.set_queue_attributes(
                QueueUrl=url,
                Attributes={"VisibilityTimeout": str(profile.visibility_timeout_s)},
            )
        result.notes.append(f"queue visibility {profile.visibility_timeout_s}s (short)")


def _split(sent: list[Sent]) -> tuple[list[Sent], list[Sent]]:
    inbound = [m for m in sent if m.stream.startswith("in:")]
    outbound = [m for m in sent if m.stream.startswith("out:")]
    return inbound, outbound


async def run_campaign(
    campaign: Campaign, *, workers: int, profile: Profile, work_dir: Path, seed: int
) -> CampaignResult:
    """Run one campaign; never raises: a campaign that cannot run reports why."""
    result = CampaignResult(campaign.key, campaign.title, workers)
    started = time.monotonic()
    run_dir = work_dir / f"{campaign.key}-w{workers}"
    try:
        await _run(campaign, result, profile=profile, run_dir=run_dir, seed=seed)
    except Exception as exc:  # noqa: BLE001  the harness reports every failure as a result
        result.failure = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "failure.txt").write_text(traceback.format_exc())
    result.took_s = time.monotonic() - started
    result.extra["logs"] = str(run_dir / "logs")
    return result


async def _run(
    campaign: Campaign, result: CampaignResult, *, profile: Profile, run_dir: Path, seed: int
) -> None:
    names = ResourceSettings(name_prefix="chaos").resource_names()
    async with AsyncExitStack() as stack:
        cluster = await stack.enter_async_context(
            Cluster(workers=result.workers, work_dir=run_dir, worker_env=WORKER_ENV)
        )
        clients = await open_clients(stack, AwsClientOptions(region=constants.REGION))
        sim = await stack.enter_async_context(
            httpx.AsyncClient(
                base_url=cluster.sim_url,
                timeout=_SIM_TIMEOUT_S,
                limits=httpx.Limits(max_connections=200),
            )
        )
        queues = await _queues(clients, names)
        await _prepare(sim, clients, queues, profile, result)
        longest_visibility = max(
            await visibility_timeout_s(clients.sqs, queues.inbound),
            await visibility_timeout_s(clients.sqs, queues.outbound),
        )
        planned_load = profile.pre_s + campaign.planned_s(profile, result.workers) + profile.post_s
        ledger = Ledger()
        traffic = Traffic(
            sim,
            TrafficPlan(
                customers=profile.customers,
                quiet_s=QUIET_S,
                agent_rounds_at_s=agent_rounds_at(profile, planned_load),
                agent_replies_per_round=profile.agent_replies_per_round,
                agent_jitter_s=profile.agent_jitter_s,
                seed=seed,
            ),
            ledger,
        )
        ctx = FaultContext(
            cluster=cluster,
            sim=sim,
            profile=profile,
            traffic=traffic,
            ledger=ledger,
            flood_targets=FloodTargets(
                sns=clients.sns,
                sqs=clients.sqs,
                inbound_topic_arn=cluster.env["SANDBOX_INBOUND_TOPIC_ARN"],
                inbound_queue_url=queues.inbound,
                outbound_topic_arn=cluster.env["BRIDGE_OUTBOUND_TOPIC_ARN"],
                outbound_queue_url=queues.outbound,
            ),
            seed=seed,
            notes=result.notes,  # shared, so a campaign that fails later still shows them
        )
        supervisor = asyncio.create_task(cluster.supervise())
        stack.push_async_callback(_cancel, supervisor)
        stop = asyncio.Event()
        load_started = time.monotonic()
        load = asyncio.create_task(traffic.run(stop))
        try:
            await asyncio.sleep(profile.pre_s)
            window = await campaign.fault(ctx)
            result.fault_s = window.end - window.start
            await asyncio.sleep(max(profile.post_s, load_started + planned_load - time.monotonic()))
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await load
        load.result()  # a traffic failure is the campaign's failure, not a quiet zero

        probes = Probes(
            sim=sim,
            sqs=clients.sqs,
            queue_urls={"inbound": queues.inbound, "outbound": queues.outbound},
            admin_urls=[cluster.admin_url(i) for i in range(cluster.workers)],
            token=cluster.token,
        )
        result.settled = await settle(
            probes,
            ledger.sent,
            deadline=time.monotonic() + longest_visibility + profile.settle_margin_s,
            grace_s=profile.grace_s,
        )
        seen = await snapshot(sim)
        _save_evidence(run_dir, seen, ledger)
        arrivals_in = inbound_arrivals(seen.contacts)
        arrivals_out = outbound_arrivals(seen.outbox)
        sent_in, sent_out = _split(ledger.sent)
        result.inbound = check(sent_in, arrivals_in)
        result.outbound = check(sent_out, arrivals_out)
        result.uncertain = (
            sum(1 for m in sent_in if not m.certain),
            sum(1 for m in sent_out if not m.certain),
        )
        result.recovery = recovery(ledger.sent, arrivals_in + arrivals_out, window.end)
        result.recovery_by_direction = {
            "in": recovery(sent_in, arrivals_in, window.end),
            "out": recovery(sent_out, arrivals_out, window.end),
        }
        result.extra["latency_s"] = {
            "in": by_phase(sent_in, arrivals_in, window.start, window.end),
            "out": by_phase(sent_out, arrivals_out, window.start, window.end),
        }
        result.dlq = {
            "in": await drain_dead_letters(clients.sqs, queues.inbound_dlq),
            "out": await drain_dead_letters(clients.sqs, queues.outbound_dlq),
        }
        result.crashes = cluster.crashes()
        result.aws_errors = cluster.embedded_aws_errors()
        result.leases_lost = dict(cluster.worker_log_events("stream_lease_lost"))
        result.send_errors = dict(ledger.errors)
        result.extra |= ctx.extra
