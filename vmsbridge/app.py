"""Builds the service graph once, starts its long-lived stages, and tears it down in reverse.

Nothing registers itself globally: everything a command needs hangs off :class:`Services`.
"""

from __future__ import annotations

__all__ = ["Services", "Stores", "open_store", "running_services"]

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from vmsbridge.bus import InProcessBus
from vmsbridge.config import SiteConfig, SiteDirectory
from vmsbridge.correlate import Correlator
from vmsbridge.health.monitor import BridgeHeartbeat, DailyDigest, HealthMonitor
from vmsbridge.ingest import IngestStage
from vmsbridge.store.stores import Stores, open_store
from vmsbridge.supervise import RestartPolicy, Supervisor

log = logging.getLogger(__name__)

DRAIN_SECONDS = 30.0
STAGE_RESTARTS = RestartPolicy(restarts=5, within=600.0, first_delay=1.0, max_delay=60.0)


@dataclass(frozen=True)
class Services:
    site: SiteConfig
    directory: SiteDirectory
    stores: Stores
    bus: InProcessBus
    ingest: IngestStage
    correlator: Correlator
    supervisor: Supervisor = field(default_factory=Supervisor)  # restarts a stage that dies
    # Called after each batch of new events is stored (the correlator's, and e.g. the rule engine's).
    on_stored: list[Callable[[], None]] = field(default_factory=list)
    monitor: HealthMonitor | None = None  # camera.offline/online alerts
    heartbeat: BridgeHeartbeat | None = None  # records this run session (camera health's "unknown")
    digest: DailyDigest | None = None  # the daily digest files ([health] digest_at; None when off)

    @property
    def failed(self) -> asyncio.Event:
        """Set when a core stage kept dying and was given up: the service must stop (exit 1)."""
        return self.supervisor.failed


@asynccontextmanager
async def running_services(
    site: SiteConfig, db_url: str, *, migrate: bool = True, bus_capacity: int = 10_000
) -> AsyncIterator[Services]:
    """Ingest and correlation running in the background for the duration of the block.

    On exit, whatever was submitted to the bus is given time to be stored before the stages stop,
    and the correlator catches up with what was stored.
    """
    directory = SiteDirectory(site)
    async with open_store(db_url, migrate=migrate) as stores:
        bus = InProcessBus(capacity=bus_capacity)
        correlator = Correlator(stores.incidents, directory, site.correlation)
        monitor = HealthMonitor(stores.health, bus, directory, site.health)
        heartbeat = BridgeHeartbeat(stores.health, site.health)
        digest = DailyDigest.for_site(stores.health, db=stores.db, site=site)
        listeners: list[Callable[[], None]] = [correlator.notify, monitor.notify]

        def stored() -> None:
            for listener in listeners:
                listener()

        ingest = IngestStage(bus, stores.events, directory, on_stored=stored)
        supervisor = Supervisor(STAGE_RESTARTS)
        services = Services(
            site,
            directory,
            stores,
            bus,
            ingest,
            correlator,
            supervisor=supervisor,
            on_stored=listeners,
            monitor=monitor,
            heartbeat=heartbeat,
            digest=digest,
        )
        # The run session is on record before any source runs, and the monitor starts at the end of
        # the log: a restarted bridge's connectors re-report whatever is still wrong.
        await heartbeat.begin()
        await monitor.start()
        # The stages only end when asked to; a stage that dies is restarted, and one that keeps
        # dying stops the service loudly (services.failed) rather than leave publishers waiting.
        tasks = [
            supervisor.watch("ingest", ingest.run),
            supervisor.watch("correlator", correlator.run),
            supervisor.watch("health-monitor", monitor.run),
            supervisor.watch("heartbeat", heartbeat.run),
        ]
        if digest is not None:
            tasks.append(supervisor.watch("health-digest", digest.run))
        try:
            yield services
        finally:
            monitor.stop()  # its last alerts are still published and drained below
            if "ingest" in supervisor.given_up:
                log.error("ingest is down: what is still queued is not stored, and its publishers are told")
            elif not await bus.drain(DRAIN_SECONDS):
                log.error("stopping with events still unstored; their publishers were not acknowledged")
            supervisor.stop()  # a stage that dies from here on stays down
            bus.close()
            ingest_task = tasks[0]
            # Ingest is idle once the bus is drained, so cancelling it interrupts no write. The
            # correlator is asked to stop between batches: cancelling a database transaction
            # half-way can leave SQLite's write lock with a connection nobody will release.
            ingest_task.cancel()
            correlator.stop()
            heartbeat.stop()  # records the clean stop once the others are done
            if digest is not None:
                digest.stop()  # a digest being written is finished first
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await correlator.catch_up()
