"""Command line: `python -m service run | dev | sim | bootstrap | healthcheck`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# Each command imports what it needs when it runs: Docker runs `healthcheck` every few
# seconds in every container, and importing the settings (pydantic) and asyncio for it
# cost 0.2 s of CPU a check; it needs only urllib.


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def _parser() -> argparse.ArgumentParser:
    from service.local import constants

    parser = argparse.ArgumentParser(
        prog="python -m service",
        description="WhatsApp (AWS End User Messaging Social) ⇄ Amazon Connect Chat bridge.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser(
        "run",
        help="the production process: consumers + admin API, configured by BRIDGE_* "
        "environment variables, against real AWS or any AWS_ENDPOINT_URL",
    )
    dev = sub.add_parser(
        "dev", help="the local sandbox: embedded AWS, bootstrap, simulator and bridge workers"
    )
    dev.add_argument("--workers", type=int, default=_env_int("WORKERS", 1))
    dev.add_argument(
        "--aws-port", type=int, default=_env_int("AWS_PORT", constants.DEFAULT_AWS_PORT)
    )
    dev.add_argument(
        "--sim-port", type=int, default=_env_int("SIM_PORT", constants.DEFAULT_SIM_PORT)
    )
    dev.add_argument(
        "--admin-port", type=int, default=_env_int("ADMIN_PORT", constants.DEFAULT_ADMIN_PORT)
    )
    dev.add_argument(
        "--state-dir", type=Path, default=Path(os.environ.get("SANDBOX_STATE_DIR", ".sandbox"))
    )
    sub.add_parser("sim", help="the Connect / WhatsApp simulator alone (SANDBOX_* settings)")
    health = sub.add_parser(
        "healthcheck",
        help="exit 0 when the bridge in this container answers /healthz on BRIDGE_ADMIN_PORT "
        "(the Docker and ECS health check; needs no curl in the image)",
    )
    health.add_argument(
        "--url", help="check this URL instead (the sandbox's embedded AWS and simulator)"
    )
    outreach = sub.add_parser(
        "outreach",
        help="send an approved WhatsApp template to a customer through a running bridge "
        "(POST /admin/outreach with BRIDGE_ADMIN_TOKEN); their reply opens a chat naming it",
    )
    outreach.add_argument("--business", required=True, help="EUM phone-number-id-… or its ARN")
    outreach.add_argument("--to", required=True, help="phone number (E.164) or BSUID")
    outreach.add_argument("--template", required=True)
    outreach.add_argument("--language")
    outreach.add_argument(
        "--param", action="append", default=[], help="a parameter, header first (repeat)"
    )
    outreach.add_argument("--id", dest="outreach_id", help="idempotency key")
    outreach.add_argument("--requested-by")
    outreach.add_argument(
        "--url",
        help="the bridge's admin API (default http://127.0.0.1:$BRIDGE_ADMIN_PORT)",
    )
    boot = sub.add_parser(
        "bootstrap",
        help="create every resource against the configured endpoint (idempotent)",
    )
    boot.add_argument("--connect-instance-id", default="INSTANCE_ID")
    boot.add_argument("--contact-flow-id", default="CONTACT_FLOW_ID")
    boot.add_argument(
        "--print-env", action="store_true", help="print the created ARNs/URLs as KEY=value"
    )
    return parser


def _run() -> int:
    from service import event_loop
    from service.app import run_bridge
    from service.logs import configure_logging
    from service.settings import Settings, load_settings

    settings = load_settings(Settings)
    configure_logging(
        level=settings.log_level,
        fmt=settings.log_format,
        salt=settings.log_hash_salt.get_secret_value().encode(),
    )
    event_loop.run(run_bridge(settings), settings.event_loop)
    return 0


def _dev(args: argparse.Namespace) -> int:
    import asyncio

    from service.local.sandbox import SandboxOptions, run_sandbox
    from service.logs import configure_logging

    configure_logging(level="INFO", fmt="auto")
    options = SandboxOptions(
        workers=args.workers,
        aws_port=args.aws_port,
        sim_port=args.sim_port,
        admin_port=args.admin_port,
        state_dir=args.state_dir,
    )
    return asyncio.run(run_sandbox(options))


def _sim() -> int:
    import asyncio

    from service.local.sim.app import run_sim
    from service.local.sim.settings import SimSettings
    from service.logs import configure_logging

    configure_logging(level="INFO", fmt="auto")
    asyncio.run(run_sim(SimSettings()))
    return 0


def _healthcheck(args: argparse.Namespace) -> int:
    import urllib.error
    import urllib.request

    url = args.url or f"http://127.0.0.1:{_env_int('BRIDGE_ADMIN_PORT', 8080)}/healthz"
    if not url.startswith(("http://", "https://")):
        print(f"healthcheck: not an http(s) URL: {url}", file=sys.stderr)
        return 2
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310  scheme checked above
            healthy = response.status == 200  # noqa: PLR2004  HTTP OK
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    return 0 if healthy else 1


def _outreach(args: argparse.Namespace) -> int:
    import json
    import urllib.error
    import urllib.request

    base = args.url or f"http://127.0.0.1:{_env_int('BRIDGE_ADMIN_PORT', 8080)}"
    if not base.startswith(("http://", "https://")):
        print(f"outreach: not an http(s) URL: {base}", file=sys.stderr)
        return 2
    token = os.environ.get("BRIDGE_ADMIN_TOKEN", "")
    body = {
        "business": args.business,
        "to": args.to,
        "template": args.template,
        "language": args.language,
        "parameters": args.param,
        "outreach_id": args.outreach_id,
        "requested_by": args.requested_by,
    }
    request = urllib.request.Request(  # noqa: S310  scheme checked above
        base.rstrip("/") + "/admin/outreach",
        data=json.dumps({k: v for k, v in body.items() if v is not None}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            print(response.read().decode())
    except urllib.error.HTTPError as exc:
        print(f"outreach refused ({exc.code}): {exc.read().decode()}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"outreach: {base}: {exc}", file=sys.stderr)
        return 1
    return 0


def _bootstrap(args: argparse.Namespace) -> int:
    import asyncio
    from contextlib import AsyncExitStack

    from service.aws import AwsClientOptions, open_clients
    from service.local.bootstrap import BootstrapClients, bootstrap
    from service.logs import configure_logging
    from service.resources import resource_plan
    from service.settings import ResourceSettings, load_settings

    configure_logging(level="INFO", fmt="auto", stream=sys.stderr)
    names = load_settings(ResourceSettings).resource_names()
    plan = resource_plan(
        names, connect_instance_id=args.connect_instance_id, contact_flow_id=args.contact_flow_id
    )

    async def _go() -> dict[str, str]:
        async with AsyncExitStack() as stack:
            c = await open_clients(stack, AwsClientOptions())
            result = await bootstrap(
                BootstrapClients(dynamodb=c.dynamodb, sqs=c.sqs, sns=c.sns, s3=c.s3, ssm=c.ssm),
                plan,
            )
            return result.env

    env = asyncio.run(_go())
    if args.print_env:
        for key, value in sorted(env.items()):
            print(f"{key}={value}")
    return 0


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.command == "healthcheck":
        sys.exit(_healthcheck(args))
    from service.settings import SettingsError

    try:
        if args.command == "run":
            code = _run()
        elif args.command == "dev":
            code = _dev(args)
        elif args.command == "sim":
            code = _sim()
        elif args.command == "outreach":
            code = _outreach(args)
        else:
            code = _bootstrap(args)
    except SettingsError as exc:
        print(f"python -m service {args.command}: {exc}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
