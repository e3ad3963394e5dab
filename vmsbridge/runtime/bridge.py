"""The one place the bridge is built: every store, stage, connector and task, started in order and
stopped in the exact reverse order.

``vmsbridge run``, ``vmsbridge demo``, the rules tests and the call-up bench all call
:func:`build_bridge`; they differ only in the site, the database and :class:`BridgeOptions`.

Start order (each step's teardown is registered as it starts, so the stop order is its mirror):

1. the stores (schema upgraded), then the core stages (:func:`~vmsbridge.runtime.core.start_core`):
   heartbeat, ingest, correlator, health monitor, daily digest, and the watch for events other
   processes commit;
2. the scheduled evidence audit;
3. clip jobs and the HTTP session the rule actions use;
4. the connectors' controls (PTZ, VMS alarms, clips);
5. the rule engine (its firings recalled and interrupted ones resumed);
6. the notification deliverer, and the SIGHUP handler that reloads the rules;
7. the event sources (connectors, and any extra ones).

Every long-lived task runs under one :class:`~vmsbridge.runtime.supervisor.Supervisor`: one that
dies is restarted with capped backoff; :attr:`Bridge.failed` is set only when a core task has
spent its restart budget.
"""

from __future__ import annotations

__all__ = ["Bridge", "build_bridge", "work_dir_for"]

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from evidence.store import ContentStore
from vmsbridge.bus import InProcessBus
from vmsbridge.clery.delivery import Deliverer, sinks_for
from vmsbridge.config import SiteConfig, SiteDirectory
from vmsbridge.controls import Controls
from vmsbridge.correlate import Correlator
from vmsbridge.evidence_audit import ScheduledAudit, parse_every
from vmsbridge.evidence_service import open_content_store
from vmsbridge.health.monitor import BridgeHeartbeat, DailyDigest, HealthMonitor
from vmsbridge.ingest import IngestStage
from vmsbridge.jobs import ClipJobs
from vmsbridge.plugins import build_connectors
from vmsbridge.prerolls import PrerollRecorders, cameras_to_record, clips_from_buffers
from vmsbridge.rules.engine import RuleEngine
from vmsbridge.runtime.core import Services, start_core
from vmsbridge.runtime.options import BridgeOptions
from vmsbridge.runtime.rules import apply_rules, load_rules, reload_from, start_rules
from vmsbridge.runtime.supervisor import Supervisor
from vmsbridge.sources import EventSource, RemembersAcrossRestarts
from vmsbridge.store.commit_watch import CommitWatch
from vmsbridge.store.database import default_data_dir
from vmsbridge.store.stores import Stores, open_store

log = logging.getLogger(__name__)


def work_dir_for(site: SiteConfig) -> Path:
    return (site.storage.data_dir or default_data_dir()) / "work"


@dataclass(frozen=True)
class Bridge:
    site: SiteConfig
    directory: SiteDirectory
    stores: Stores
    bus: InProcessBus
    ingest: IngestStage
    correlator: Correlator
    monitor: HealthMonitor
    heartbeat: BridgeHeartbeat
    digest: DailyDigest | None
    commits: CommitWatch
    audit: ScheduledAudit | None
    evidence: ContentStore
    controls: Controls
    engine: RuleEngine
    deliverer: Deliverer
    sources: tuple[EventSource, ...]
    supervisor: Supervisor
    components: tuple[str, ...]  # what runs without a task of its own (stores, bus, sighup, ...)

    @property
    def failed(self) -> asyncio.Event:
        """Set only when a task kept dying and was given up: the bridge must stop (exit 1)."""
        return self.supervisor.failed

    def graph(self) -> frozenset[str]:
        """The names of the supervised tasks and the components: what this bridge is made of."""
        return frozenset(self.supervisor.started) | frozenset(self.components)

    def reload_rules(self, site: SiteConfig, source: Path | str = "<site>") -> bool:
        """Swap in ``site``'s rules; False (old rules kept, logged) if they are bad or more than
        ``[rules]`` changed."""
        return apply_rules(self.engine, site, source)


@asynccontextmanager
async def build_bridge(site: SiteConfig, options: BridgeOptions) -> AsyncIterator[Bridge]:
    """The whole bridge running for the duration of the block; see the module docstring."""
    async with AsyncExitStack() as stack:
        yield await _assemble(stack, site, options)


async def _assemble(stack: AsyncExitStack, site: SiteConfig, options: BridgeOptions) -> Bridge:
    directory = SiteDirectory(site)
    work_dir = options.work_dir or work_dir_for(site)
    supervisor = Supervisor(options.core_restarts)
    components: list[str] = []

    stores = await stack.enter_async_context(open_store(options.db_url, migrate=options.migrate))
    components.append("stores")
    core = await start_core(stack, site, directory, stores, supervisor, options)
    components.append("bus")

    evidence = await open_content_store(site)
    audit = _start_audit(stack, core, evidence, options)

    await asyncio.to_thread(work_dir.mkdir, parents=True, exist_ok=True)
    jobs = await stack.enter_async_context(ClipJobs(workers=options.clip_workers))
    components.append("clip-jobs")
    http = await stack.enter_async_context(aiohttp.ClientSession())
    components.append("http")

    connectors = build_connectors(site, directory, work_dir)
    controls = connectors.controls
    stack.push_async_callback(controls.close)
    components.append("controls")

    recorders = _prerolls(site, controls, work_dir)
    if recorders is not None:
        components.append("prerolls")

    engine = await start_rules(stack, core, controls, evidence, jobs, http, work_dir, options)

    # Approved notifications whose delivery failed are retried here until delivered.
    deliverer = Deliverer(stores, sinks_for(site))
    supervisor.start("notifications", deliverer.run, policy=options.core_restarts)
    stack.push_async_callback(supervisor.halt, "notifications")

    if _reload_on_sighup(stack, engine, options.reload_from):
        components.append("sighup")

    sources = (*connectors.sources, *([recorders] if recorders else []), *options.extra_sources)
    for source in sources:
        if isinstance(source, RemembersAcrossRestarts):
            source.remember_with(stores.source_memory.for_source(source.name))
    names = [_start_source(supervisor, source, core.bus, options) for source in sources]
    # Sources stop together: each may be waiting on its own device.
    stack.push_async_callback(supervisor.halt_together, names[::-1])
    log.info("running with %d source(s); database %s", len(sources), stores.db.display_url)
    return Bridge(
        site=site,
        directory=directory,
        stores=stores,
        bus=core.bus,
        ingest=core.ingest,
        correlator=core.correlator,
        monitor=core.monitor,
        heartbeat=core.heartbeat,
        digest=core.digest,
        commits=core.commits,
        audit=audit,
        evidence=evidence,
        controls=controls,
        engine=engine,
        deliverer=deliverer,
        sources=sources,
        supervisor=supervisor,
        components=tuple(components),
    )


def _start_audit(
    stack: AsyncExitStack, core: Services, evidence: ContentStore, options: BridgeOptions
) -> ScheduledAudit | None:
    every = parse_every(core.site.evidence.audit_every)
    if every is None:
        return None
    audit = ScheduledAudit(
        core.stores, evidence, every, mib_per_second=core.site.evidence.audit_mib_per_second
    )
    core.supervisor.start("evidence-audit", audit.run, policy=options.core_restarts, stop=audit.stop)
    stack.push_async_callback(core.supervisor.halt, "evidence-audit")
    return audit


def _prerolls(site: SiteConfig, controls: Controls, work_dir: Path) -> PrerollRecorders | None:
    """Recorders for the cameras that keep a pre-roll buffer; their clips then come from it."""
    cameras = cameras_to_record(site, load_rules(site), controls)
    if not cameras:
        return None
    recorders = PrerollRecorders(cameras, site.storage.data_dir or default_data_dir())
    clips_from_buffers(site, controls, recorders.stores, work_dir)
    return recorders


def _start_source(
    supervisor: Supervisor, source: EventSource, bus: InProcessBus, options: BridgeOptions
) -> str:
    name = f"source:{source.name}"

    async def run() -> None:
        await source.run(bus)

    supervisor.start(name, run, policy=options.source_restarts)
    return name


def _reload_on_sighup(stack: AsyncExitStack, engine: RuleEngine, path: Path | None) -> bool:
    """Install the SIGHUP handler (removed on stop); False where signals cannot be handled."""
    loop = asyncio.get_running_loop()

    def reload() -> None:
        if path is None:
            log.warning("SIGHUP: this bridge was not started from a site file; nothing to re-read")
            return
        reload_from(engine, path)

    try:
        loop.add_signal_handler(signal.SIGHUP, reload)
    except (NotImplementedError, AttributeError, ValueError, RuntimeError) as exc:
        # Not on Windows, and only in the main thread.
        log.info("SIGHUP cannot reload the rules here: %s", exc)
        return False
    stack.callback(loop.remove_signal_handler, signal.SIGHUP)
    if path is not None:
        log.info("SIGHUP re-reads the rules from %s", path)
    return True
