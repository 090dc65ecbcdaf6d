"""`python -m bench.chaos [--workers 2|3] [--campaign a|b|c|d|e|all] [--short] [--json F]`.

Prints one line per campaign (see `report`). Exit status: 0 when every campaign ran, 1
when one could not run; loss, duplication and disorder are measurements, not failures of
the harness, so they never change the status (tests assert on the JSON instead).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from bench.chaos.campaigns import CAMPAIGNS, run_campaign
from bench.chaos.profile import FULL, SHORT
from bench.chaos.report import CampaignResult, line, to_json
from service.logs import configure_logging

_SHORT_CAMPAIGN = "a"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos",
        description="Resilience campaigns against the whole sandbox, as processes.",
    )
    parser.add_argument("--workers", type=int, choices=(2, 3), default=2)
    parser.add_argument(
        "--campaign",
        choices=(*CAMPAIGNS, "all"),
        help="which campaign (default: all; with --short: a)",
    )
    parser.add_argument(
        "--short",
        action="store_true",
        help="small and quick: by default one SIGKILL campaign with 2 workers (~90 s), "
        "the run tests/e2e/test_chaos_short.py makes; with --campaign, that one, small",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path("bench/results/chaos"),
        help="per-campaign process logs",
    )
    parser.add_argument("--seed", type=int, default=7)
    return parser


async def _main(args: argparse.Namespace) -> list[CampaignResult]:
    profile = SHORT if args.short else FULL
    chosen = args.campaign or (_SHORT_CAMPAIGN if args.short else "all")
    keys = list(CAMPAIGNS) if chosen == "all" else [chosen]
    workers = args.workers
    results = []
    for key in keys:
        result = await run_campaign(
            CAMPAIGNS[key],
            workers=workers,
            profile=profile,
            work_dir=args.work_dir,
            seed=args.seed,
        )
        print(line(result), flush=True)
        results.append(result)
        if args.json:
            # After every campaign, so an interrupted run keeps what it measured.
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps([to_json(r) for r in results], indent=2) + "\n")
    return results


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # The harness's own logs (bootstrap, clients) go to stderr; stdout is the table.
    configure_logging(level="WARNING", fmt="console", stream=sys.stderr)
    results = asyncio.run(_main(args))
    return 1 if any(r.failure is not None for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
