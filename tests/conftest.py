"""Fixtures shared by every test: an isolated AWS environment and the embedded AWS.

The embedded AWS is one moto server per test session (threaded, on loopback, port 0),
reset between the tests that use it. Tests reach it with the production client factory
(`service.aws.open_clients`) through `AWS_ENDPOINT_URL`, exactly as the service does.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, settings

from service.aws import AwsClientOptions, AwsClients, open_clients
from service.local import constants
from service.local.bootstrap import BootstrapClients, BootstrapResult, bootstrap
from service.local.embedded_aws import EmbeddedAws
from service.local.sim import SimSettings, threaded_sim
from service.resources import ResourcePlan, resource_plan
from service.settings import ResourceNames, ResourceSettings

TEST_PREFIX = "test"
SIM_ENDPOINT_VARIABLES = (
    "AWS_ENDPOINT_URL_CONNECT",
    "AWS_ENDPOINT_URL_CONNECTPARTICIPANT",
    "AWS_ENDPOINT_URL_SOCIALMESSAGING",
    "AWS_ENDPOINT_URL_TRANSCRIBE",
)


# Hypothesis judges by the wall clock whether generating an input is "too slow" and
# whether an example overran its deadline (200 ms). `make test` runs six workers on as few
# as two cores, so a draw can wait seconds for a core: a failure of the machine's load, not
# of the code (seen: one draw of 2.5 s). Speed is measured where it is the point (the
# Markdown converter's linear-time test), not by these checks.
settings.register_profile(
    "suite", suppress_health_check=[HealthCheck.too_slow], deadline=None, parent=settings.default
)
settings.load_profile("suite")

# The order `make test` hands tests to its xdist workers: the longest first, so none is
# left running alone at the end (the container test alone takes a minute or more), and
# the many short unit tests fill the gaps last.
_RUN_ORDER = (
    "tests/container/",
    "tests/e2e/test_chaos_short.py",
    "tests/e2e/",
    "tests/integration/",
    "tests/deploy/",
    "tests/unit/",
)


def _run_rank(item: pytest.Item) -> int:
    path = item.nodeid
    return next((rank for rank, prefix in enumerate(_RUN_ORDER) if path.startswith(prefix)), 0)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_run_rank)  # stable: file order within each part
    for item in items:
        if item.nodeid.startswith("tests/deploy/"):
            # One worker synthesizes the CDK app (seconds, and a Node.js process) for all
            # of them, instead of every worker that draws one of its tests.
            item.add_marker(pytest.mark.xdist_group("cdk"))


@pytest.fixture(autouse=True)
def _isolated_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """A developer's ~/.aws or AWS_* variables must never change what a test sees."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "BRIDGE_", "SANDBOX_")):
            monkeypatch.delenv(name)
    empty = tmp_path_factory.mktemp("aws-config") / "empty"
    empty.touch()
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", constants.REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    with EmbeddedAws.threaded() as embedded:
        yield embedded.url


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The embedded AWS, emptied, and the environment pointing at it."""
    EmbeddedAws.reset(moto_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    return moto_url


@pytest.fixture
async def aws_clients(aws: str) -> AsyncIterator[AwsClients]:
    async with AsyncExitStack() as stack:
        yield await open_clients(stack, AwsClientOptions(max_attempts=2))


@dataclass(frozen=True, slots=True)
class Resources:
    names: ResourceNames
    plan: ResourcePlan
    created: BootstrapResult

    @property
    def inbound_topic_arn(self) -> str:
        return self.created.topic_arns[self.plan.inbound_topic]

    @property
    def outbound_topic_arn(self) -> str:
        return self.created.topic_arns[self.plan.outbound_topic]

    def queue_url(self, name: str) -> str:
        return self.created.queue_urls[name]


@pytest.fixture
def resource_names() -> ResourceNames:
    return ResourceSettings(name_prefix=TEST_PREFIX).resource_names()


@pytest.fixture
async def resources(aws_clients: AwsClients, resource_names: ResourceNames) -> Resources:
    """Every resource of the bridge, created in the (freshly reset) embedded AWS."""
    plan = resource_plan(
        resource_names,
        connect_instance_id=constants.CONNECT_INSTANCE_ID,
        contact_flow_id=constants.CONTACT_FLOW_ID,
    )
    c = aws_clients
    created = await bootstrap(
        BootstrapClients(dynamodb=c.dynamodb, sqs=c.sqs, sns=c.sns, s3=c.s3, ssm=c.ssm), plan
    )
    return Resources(names=resource_names, plan=plan, created=created)


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def sim_url(moto_url: str) -> Iterator[str]:
    """The Connect / WhatsApp simulator, once per session (thread, port 0), on moto."""
    inbound = ResourceSettings(name_prefix=TEST_PREFIX).resource_names().inbound_topic
    with pytest.MonkeyPatch.context() as patch:
        # A developer's SANDBOX_* variables must not change the session's simulator.
        for name in list(os.environ):
            if name.startswith("SANDBOX_"):
                patch.delenv(name)
        settings = SimSettings(
            sim_port=0,
            aws_endpoint_url=moto_url,
            inbound_topic_arn=f"arn:aws:sns:{constants.REGION}:{constants.ACCOUNT_ID}:{inbound}",
        )
    with threaded_sim(settings) as url:
        yield url


@pytest.fixture
def sim(sim_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh simulated world, and the Connect / EUM endpoint variables pointing at it.

    Request it before any client fixture: clients read the endpoints when created.
    """
    httpx.post(f"{sim_url}/sandbox/reset", timeout=10).raise_for_status()
    for name in SIM_ENDPOINT_VARIABLES:
        monkeypatch.setenv(name, sim_url)
    return sim_url


@pytest.fixture
async def sandbox(sim: str) -> AsyncIterator[httpx.AsyncClient]:
    """The simulator's sandbox API."""
    async with httpx.AsyncClient(base_url=sim, timeout=10) as client:
        yield client
