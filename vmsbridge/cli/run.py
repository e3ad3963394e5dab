"""``vmsbridge run``: the long-running service."""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from vmsbridge.cli.common import add_common_options, add_duration_option, db_url_for, load_site, until_stopped

if TYPE_CHECKING:
    from vmsbridge.config import SiteConfig
    from vmsbridge.runtime import BridgeOptions
    from vmsbridge.sources import EventSource

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "run",
        help="run the bridge: connectors -> durable ingest -> correlation and alarm rules, until stopped",
        description="Start every connector in the site configuration, store and correlate what they "
        "send, run the alarm rules ([rules] in the site file), and keep going until SIGINT/SIGTERM. "
        "The schema is upgraded on start. SIGHUP re-reads the site file's rules: a bad rule is "
        "reported and the rules already running stay active.",
    )
    add_common_options(parser)
    parser.set_defaults(log_level="INFO")
    add_duration_option(parser)
    parser.add_argument(
        "--scenario",
        action="store_true",
        help="also play the demo's scripted events (a smoke test of a new install)",
    )
    parser.set_defaults(handler=run)


def bridge_options(args: argparse.Namespace, site: SiteConfig) -> BridgeOptions:
    """The service's bridge: the database of ``--db``/``--config``, rules re-read from the site file."""
    from vmsbridge.config import SiteDirectory, default_config_path
    from vmsbridge.runtime import BridgeOptions
    from vmsbridge.scenario import ScenarioSource

    extra: tuple[EventSource, ...] = ()
    if getattr(args, "scenario", False):
        now = datetime.now(UTC)
        extra = (ScenarioSource(SiteDirectory(site), now, run_tag=f"run-{now:%Y%m%dT%H%M%S}"),)
    return BridgeOptions(
        db_url=db_url_for(args, site),
        reload_from=Path(args.config) if args.config else default_config_path(),
        extra_sources=extra,
    )


async def serve(site: SiteConfig, options: BridgeOptions, *, duration: float | None) -> bool:
    """Run until stopped; False if a stage kept dying and was given up (the exit code says so)."""
    from vmsbridge.runtime import build_bridge

    async with build_bridge(site, options) as bridge:
        await until_stopped(duration, bridge.failed)
    stats = bridge.ingest.stats
    log.info(
        "stopping: %d stored, %d duplicates, %d rejected", stats.stored, stats.duplicates, stats.rejected
    )
    if restarts := bridge.supervisor.restarts:
        log.warning("stages restarted after dying: %s", ", ".join(f"{n} {c}x" for n, c in restarts.items()))
    return not bridge.failed.is_set()


def run(args: argparse.Namespace) -> int:
    import asyncio

    site = load_site(args)
    healthy = asyncio.run(serve(site, bridge_options(args, site), duration=args.duration))
    return 0 if healthy else 1
