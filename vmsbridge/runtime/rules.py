"""The rule engine beside the core stages, and swapping in new rules while it runs."""

from __future__ import annotations

__all__ = ["apply_rules", "load_rules", "reload_from", "start_rules"]

import logging
from collections.abc import Mapping
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp

from evidence.store import ContentStore
from vmsbridge.capabilities import ALARMS
from vmsbridge.config import SiteConfig, load_site_config
from vmsbridge.config.rules import Rule
from vmsbridge.controls import Controls
from vmsbridge.errors import ConfigError
from vmsbridge.jobs import ClipJobs
from vmsbridge.plugins import ConnectorPlugin, connectors_offering
from vmsbridge.rules.actions import RuleContext
from vmsbridge.rules.engine import RuleEngine
from vmsbridge.rules.templates import active_rules
from vmsbridge.runtime.core import Services
from vmsbridge.runtime.options import BridgeOptions

log = logging.getLogger(__name__)


def load_rules(site: SiteConfig, plugins: Mapping[str, ConnectorPlugin] | None = None) -> list[Rule]:
    """The rules ``site`` runs; templates raise alarms only where a connector's plug-in (installed,
    or in ``plugins``) offers them."""
    return active_rules(site.rules, raises_alarms=bool(connectors_offering(site, ALARMS, plugins)))


def reload_from(engine: RuleEngine, path: Path) -> bool:
    """Re-read the site file and swap in its rules; on any problem keep the rules that run now."""
    try:
        site = load_site_config(path)
    except ConfigError as exc:
        _refused(engine, exc)
        return False
    return apply_rules(engine, site, path)


def apply_rules(engine: RuleEngine, site: SiteConfig, source: Path | str) -> bool:
    """Swap in ``site``'s rules (read from ``source``); refused, with the old rules kept, if the
    rules are bad or anything but ``[rules]`` differs from the site the bridge runs."""
    try:
        rules = load_rules(site)
    except ConfigError as exc:
        _refused(engine, exc)
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
            source,
            "], [".join(changed),
        )
        return False
    engine.reload(rules)
    return True


def _refused(engine: RuleEngine, exc: ConfigError) -> None:
    problems = "; ".join(str(p) for p in exc.problems)  # one log line: a log search finds it whole
    log.error(
        "rules NOT reloaded, the previous %d rule(s) stay active: %s: %s",
        len(engine.rules),
        exc.source,
        problems,
    )


async def start_rules(
    stack: AsyncExitStack,
    core: Services,
    controls: Controls,
    evidence: ContentStore,
    jobs: ClipJobs,
    http: aiohttp.ClientSession,
    work_dir: Path,
    options: BridgeOptions,
) -> RuleEngine:
    """The engine following stored events, supervised; ``stack`` stops it.

    On stop, firings in progress get ``options.rules_drain_seconds`` to finish (a clip being
    hashed, an alarm being raised); what is still running then is cancelled and recorded as such.
    """
    rules = load_rules(core.site)
    ctx = RuleContext(
        directory=core.directory,
        stores=core.stores,
        controls=controls,
        evidence=evidence,
        jobs=jobs,
        work_dir=work_dir,
        http=http,
        bus=core.bus,
    )
    if options.clip_clock is not None:
        ctx.clock = options.clip_clock
    engine = RuleEngine(ctx, rules, core.correlator)

    async def finish_firings() -> None:
        if not await engine.drain(options.rules_drain_seconds):
            log.warning("stopping with rule actions still running; they are cancelled and recorded so")
        await engine.cancel_firings()

    stack.push_async_callback(finish_firings)
    await engine.recall_firings()  # before the first event can reach it
    await engine.locate()  # what is stored once the bridge runs is the engine's, however soon
    core.on_stored.append(engine.notify)
    core.bus.taps.append(engine.tap)

    def unhook() -> None:
        core.on_stored.remove(engine.notify)
        core.bus.taps.remove(engine.tap)

    stack.callback(unhook)
    # A crash in the engine is restarted like any core stage: it resumes from its position.
    core.supervisor.start("rules", engine.run, policy=options.core_restarts, stop=engine.stop)
    stack.push_async_callback(core.supervisor.halt, "rules")
    await engine.resume_interrupted()
    log.info("rules active: %s", ", ".join(r.name for r in rules) or "(none)")
    return engine
