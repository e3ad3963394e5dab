"""Starting and stopping the rule engine beside the running services, and reloading its rules."""

from __future__ import annotations

__all__ = ["RULES_DRAIN_SECONDS", "load_rules", "running_rules"]

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import aiohttp

from vmsbridge.app import Services
from vmsbridge.config import SiteConfig, load_site_config
from vmsbridge.config.rules import Rule
from vmsbridge.controls import Controls
from vmsbridge.errors import ConfigError
from vmsbridge.evidence_service import content_store
from vmsbridge.jobs import ClipJobs
from vmsbridge.rules.actions import RuleContext
from vmsbridge.rules.engine import RuleEngine
from vmsbridge.rules.templates import active_rules

log = logging.getLogger(__name__)

RULES_DRAIN_SECONDS = 30.0


def load_rules(site: SiteConfig) -> list[Rule]:
    return active_rules(site.rules, has_xprotect=bool(site.connectors.xprotect))


def reload_from(engine: RuleEngine, path: Path) -> bool:
    """Re-read the site file and swap in its rules; on any problem keep the rules that run now."""
    try:
        site = load_site_config(path)
        rules = load_rules(site)
    except ConfigError as exc:
        problems = "; ".join(str(p) for p in exc.problems)  # one log line: a log search finds it whole
        log.error(
            "rules NOT reloaded, the previous %d rule(s) stay active: %s: %s",
            len(engine.rules),
            exc.source,
            problems,
        )
        return False
    # The running connectors, cameras and locations are the ones the bridge started with: rules
    # checked against a different site would run against this one. Those changes need a restart.
    running = engine.ctx.directory.site
    changed = [
        key
        for key in type(site).model_fields
        if key != "rules" and getattr(site, key) != getattr(running, key)
    ]
    if changed:
        log.error(
            "rules NOT reloaded, the previous %d rule(s) stay active: %s: [%s] changed too; a reload "
            "applies [rules] only, restart the bridge to apply the rest",
            len(engine.rules),
            path,
            "], [".join(changed),
        )
        return False
    engine.reload(rules)
    return True


@asynccontextmanager
async def running_rules(
    services: Services,
    controls: Controls,
    work_dir: Path,
    *,
    workers: int = 2,
    drain_seconds: float = RULES_DRAIN_SECONDS,
    clock: Callable[[], datetime] | None = None,
) -> AsyncIterator[RuleEngine]:
    """The engine following stored events for the duration of the block.

    On exit, firings in progress get ``drain_seconds`` to finish (a clip being hashed, an alarm
    being raised); what is still running then is cancelled and recorded as such. ``clock`` is
    what clip capture believes the time is (tests and the bench move it ahead, so that footage
    after the event is available at once).
    """
    rules = load_rules(services.site)
    await asyncio.to_thread(work_dir.mkdir, parents=True, exist_ok=True)
    async with ClipJobs(workers=workers) as jobs, aiohttp.ClientSession() as http:
        ctx = RuleContext(
            directory=services.directory,
            stores=services.stores,
            controls=controls,
            evidence=content_store(services.site),
            jobs=jobs,
            work_dir=work_dir,
            http=http,
            bus=services.bus,
        )
        if clock is not None:
            ctx.clock = clock
        engine = RuleEngine(ctx, rules, services.correlator)
        await engine.recall_firings()  # before the first event can reach it
        services.on_stored.append(engine.notify)
        services.bus.taps.append(engine.tap)
        task = asyncio.create_task(engine.run(), name="rules")
        await engine.resume_interrupted()
        log.info("rules active: %s", ", ".join(r.name for r in rules) or "(none)")
        try:
            yield engine
        finally:
            services.on_stored.remove(engine.notify)
            services.bus.taps.remove(engine.tap)
            engine.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if not await engine.drain(drain_seconds):
                log.warning("stopping with rule actions still running; they are cancelled and recorded so")
            await engine.cancel_firings()
