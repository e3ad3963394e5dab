"""The bridge's core stages over one database: bus, ingest, correlation, camera health, heartbeat, digest,
and the watch that wakes the log followers for events other processes commit.

:func:`start_core` starts them on a cleanup stack, so they stop in the reverse order; the bridge
(:mod:`vmsbridge.runtime.bridge`) builds on it, and :func:`running_services` runs the core alone.

:func:`running_import` is the smaller assembly ``events import`` runs: the storing path alone (bus,
ingest, correlation; :func:`start_storing`, which the core starts too). An import watches no
camera, so it records no run session (camera health would count its minutes as observed, where
nothing was watching), raises no camera alerts, writes no digest and fires no rules.
"""

from __future__ import annotations

__all__ = [
    "ImportServices",
    "Services",
    "Storing",
    "running_import",
    "running_services",
    "start_core",
    "start_storing",
]

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from vmsbridge.bus import InProcessBus
from vmsbridge.config import CorrelationConfig, SiteConfig, SiteDirectory
from vmsbridge.correlate import Correlator
from vmsbridge.health.monitor import BridgeHeartbeat, DailyDigest, HealthMonitor
from vmsbridge.ingest import IngestStage
from vmsbridge.runtime.options import BridgeOptions
from vmsbridge.runtime.supervisor import Supervisor
from vmsbridge.store.commit_watch import CommitWatch
from vmsbridge.store.stores import Stores, open_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Storing:
    """The storing path: what is submitted to the bus is validated, stored and correlated."""

    bus: InProcessBus
    ingest: IngestStage
    correlator: Correlator
    # Called after each batch of new events is stored (the correlator's, and e.g. the rule engine's).
    on_stored: list[Callable[[], None]]
    wake: Callable[[], None]  # calls them all: for events stored by another process too


@dataclass(frozen=True)
class ImportServices:
    """What ``events import`` runs: the storing path over the stores, nothing that watches cameras."""

    stores: Stores
    bus: InProcessBus
    ingest: IngestStage
    correlator: Correlator


@dataclass(frozen=True)
class Services:
    site: SiteConfig
    directory: SiteDirectory
    stores: Stores
    bus: InProcessBus
    ingest: IngestStage
    correlator: Correlator
    monitor: HealthMonitor  # camera.offline/online alerts
    heartbeat: BridgeHeartbeat  # records this run session (camera health's "unknown")
    digest: DailyDigest | None  # the daily digest files ([health] digest_at; None when off)
    supervisor: Supervisor  # restarts a stage that dies
    commits: CommitWatch  # wakes the followers for events another process stored
    # Called after each batch of new events is stored (the correlator's, and e.g. the rule engine's).
    on_stored: list[Callable[[], None]] = field(default_factory=list)

    @property
    def failed(self) -> asyncio.Event:
        """Set when a core stage kept dying and was given up: the service must stop (exit 1)."""
        return self.supervisor.failed


async def start_storing(
    stack: AsyncExitStack,
    directory: SiteDirectory,
    stores: Stores,
    supervisor: Supervisor,
    options: BridgeOptions,
    correlation: CorrelationConfig,
) -> Storing:
    """Start ingest and the correlator; ``stack`` stops them, and on stop whatever was submitted to
    the bus is given time to be stored, then the correlator catches up with what was stored."""
    bus = InProcessBus(capacity=options.bus_capacity)
    correlator = Correlator(stores.incidents, directory, correlation)
    listeners: list[Callable[[], None]] = [correlator.notify]

    def stored() -> None:
        for listener in listeners:
            listener()

    ingest = IngestStage(bus, stores.events, directory, on_stored=stored)
    policy = options.core_restarts
    stack.push_async_callback(correlator.catch_up)  # what ingest stored last is correlated too

    # A bus whose ingest was given up refuses at once: its publishers are told, not left waiting.
    supervisor.start("ingest", ingest.run, policy=policy, on_give_up=bus.close)

    async def stop_ingest() -> None:
        if "ingest" in supervisor.given_up:
            log.error("ingest is down: what is still queued is not stored, and its publishers are told")
        elif not await bus.drain(options.bus_drain_seconds):
            log.error("stopping with events still unstored; their publishers were not acknowledged")
        bus.close()
        # Ingest is idle once the bus is drained, so cancelling it interrupts no write.
        await supervisor.halt("ingest")

    stack.push_async_callback(stop_ingest)
    # The correlator is asked to stop between batches: cancelling a database transaction half-way
    # can leave SQLite's write lock with a connection nobody will release.
    supervisor.start("correlator", correlator.run, policy=policy, stop=correlator.stop)
    stack.push_async_callback(supervisor.halt, "correlator")
    return Storing(bus, ingest, correlator, listeners, stored)


async def start_core(
    stack: AsyncExitStack,
    site: SiteConfig,
    directory: SiteDirectory,
    stores: Stores,
    supervisor: Supervisor,
    options: BridgeOptions,
) -> Services:
    """Start the core stages; ``stack`` stops them, the last started first.

    On stop, the health monitor's last alerts are stored, whatever was submitted to the bus is
    given time to be stored before ingest stops, the correlator catches up with what was stored,
    and the run session's clean stop is recorded last.
    """
    heartbeat = BridgeHeartbeat(stores.health, site.health)
    digest = DailyDigest.for_site(stores.health, db=stores.db, site=site)
    policy = options.core_restarts
    # The run session is on record before any source runs, and its clean stop is recorded last.
    await heartbeat.begin()
    supervisor.start("heartbeat", heartbeat.run, policy=policy, stop=heartbeat.stop)
    stack.push_async_callback(supervisor.halt, "heartbeat")
    storing = await start_storing(stack, directory, stores, supervisor, options, site.correlation)
    bus, listeners = storing.bus, storing.on_stored
    monitor = HealthMonitor(stores.health, bus, directory, site.health)
    listeners.append(monitor.notify)
    # The monitor starts at the end of the log: a restarted bridge's connectors re-report whatever
    # is still wrong. Its last alerts are published (and stored) when it stops.
    await monitor.start()
    supervisor.start("health-monitor", monitor.run, policy=policy, stop=monitor.stop)
    stack.push_async_callback(supervisor.halt, "health-monitor", grace=options.bus_drain_seconds)
    if digest is not None:
        # A digest being written is finished first.
        supervisor.start("health-digest", digest.run, policy=policy, stop=digest.stop)
        stack.push_async_callback(supervisor.halt, "health-digest")
    # Events another process commits (an import, a second bridge) wake the followers too.
    commits = CommitWatch(stores.db, storing.wake)
    supervisor.start("commit-watch", commits.run, policy=policy, stop=commits.stop)
    stack.push_async_callback(supervisor.halt, "commit-watch")
    return Services(
        site,
        directory,
        stores,
        bus,
        storing.ingest,
        storing.correlator,
        monitor,
        heartbeat,
        digest,
        supervisor,
        commits,
        on_stored=listeners,
    )


@asynccontextmanager
async def running_services(
    site: SiteConfig, db_url: str, *, migrate: bool = True, bus_capacity: int = 10_000
) -> AsyncIterator[Services]:
    """The core stages alone, running for the duration of the block (no connectors, no rules)."""
    options = BridgeOptions(db_url=db_url, migrate=migrate, bus_capacity=bus_capacity)
    async with AsyncExitStack() as stack:
        stores = await stack.enter_async_context(open_store(db_url, migrate=migrate))
        yield await start_core(stack, site, SiteDirectory(site), stores, Supervisor(), options)


@asynccontextmanager
async def running_import(
    site: SiteConfig, db_url: str, *, migrate: bool = True, bus_capacity: int = 10_000
) -> AsyncIterator[ImportServices]:
    """The storing path alone, for the duration of the block (``events import``): no run session,
    camera alerts, digest or rules, and on leaving it everything submitted is stored and correlated."""
    options = BridgeOptions(db_url=db_url, migrate=migrate, bus_capacity=bus_capacity)
    async with AsyncExitStack() as stack:
        stores = await stack.enter_async_context(open_store(db_url, migrate=migrate))
        storing = await start_storing(
            stack, SiteDirectory(site), stores, Supervisor(), options, site.correlation
        )
        yield ImportServices(stores, storing.bus, storing.ingest, storing.correlator)
