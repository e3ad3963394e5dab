"""``vmsbridge run``: the long-running service."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from vmsbridge.backoff import Backoff
from vmsbridge.cli.common import add_common_options, add_duration_option, db_url_for, load_site, until_stopped

if TYPE_CHECKING:
    from vmsbridge.bus import EventSink
    from vmsbridge.config import SiteConfig
    from vmsbridge.rules.engine import RuleEngine
    from vmsbridge.sources import EventSource

log = logging.getLogger(__name__)

HEALTHY_RUN_SECONDS = 300.0


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


async def supervise(source: EventSource, bus: EventSink) -> None:
    """Keep a source running: a crash is logged and the source restarts after a capped backoff."""
    import asyncio

    backoff = Backoff(initial=1.0, maximum=60.0)
    while True:
        started = time.monotonic()
        try:
            await source.run(bus)
            return
        except asyncio.CancelledError:
            raise
        except Exception:  # the edge of the process: log everything, keep the others running
            if time.monotonic() - started > HEALTHY_RUN_SECONDS:
                backoff.reset()  # it had been working: this is a new failure, not the same one
            delay = backoff.next()
            log.exception("source %s failed; restarting in %.0f s", source.name, delay)
        await asyncio.sleep(delay)


def work_dir_for(site: SiteConfig) -> Path:
    from vmsbridge.store.database import default_data_dir

    return (site.storage.data_dir or default_data_dir()) / "work"


async def serve(
    site: SiteConfig,
    db_url: str,
    *,
    duration: float | None,
    scenario: bool,
    config_path: Path | None = None,
) -> bool:
    """Run until stopped; False if a core stage kept dying and was given up (the exit code says so)."""
    import asyncio

    from vmsbridge.app import running_services
    from vmsbridge.clery.delivery import Deliverer, sinks_for
    from vmsbridge.evidence_audit import ScheduledAudit, parse_every
    from vmsbridge.evidence_service import content_store
    from vmsbridge.plugins import build_connectors
    from vmsbridge.rules.runtime import running_rules
    from vmsbridge.scenario import ScenarioSource

    async with running_services(site, db_url) as services:
        connectors = build_connectors(site, services.directory, work_dir_for(site))
        sources, controls = connectors.sources, connectors.controls
        if scenario:
            now = datetime.now(UTC)
            sources.append(ScenarioSource(services.directory, now, run_tag=f"run-{now:%Y%m%dT%H%M%S}"))
        try:
            async with running_rules(services, controls, work_dir_for(site)) as engine:
                if config_path is not None:
                    _reload_on_sighup(engine, config_path)
                tasks = [asyncio.create_task(supervise(s, services.bus), name=s.name) for s in sources]
                # Approved notifications whose delivery failed are retried here until delivered.
                deliverer = Deliverer(services.stores, sinks_for(site))
                tasks.append(asyncio.create_task(deliverer.run(), name="notifications"))
                if (every := parse_every(site.evidence.audit_every)) is not None:
                    audit = ScheduledAudit(services.stores, content_store(site), every)
                    tasks.append(asyncio.create_task(audit.run(), name="evidence-audit"))
                log.info(
                    "running with %d source(s); database %s", len(sources), services.stores.db.display_url
                )
                await until_stopped(duration, services.failed)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await controls.close()
        stats = services.ingest.stats
        log.info(
            "stopping: %d stored, %d duplicates, %d rejected", stats.stored, stats.duplicates, stats.rejected
        )
        if restarts := services.supervisor.restarts:
            log.warning(
                "stages restarted after dying: %s", ", ".join(f"{n} {c}x" for n, c in restarts.items())
            )
        return not services.failed.is_set()


def _reload_on_sighup(engine: RuleEngine, config_path: Path) -> None:
    import asyncio

    from vmsbridge.rules.runtime import reload_from

    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, AttributeError):  # not on Windows
        loop.add_signal_handler(signal.SIGHUP, reload_from, engine, config_path)
        log.info("SIGHUP re-reads the rules from %s", config_path)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from vmsbridge.config import default_config_path

    site = load_site(args)
    config_path = Path(args.config) if args.config else default_config_path()
    healthy = asyncio.run(
        serve(
            site,
            db_url_for(args, site),
            duration=args.duration,
            scenario=args.scenario,
            config_path=config_path,
        )
    )
    return 0 if healthy else 1
