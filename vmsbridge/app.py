"""Builds the service graph once, starts its long-lived stages, and tears it down in reverse.

Nothing registers itself globally: everything a command needs hangs off :class:`Services`.
"""

from __future__ import annotations

__all__ = ["Services", "open_store", "running_services"]

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
from vmsbridge.store.audit import AuditLog
from vmsbridge.store.clery_records import CleryRecordStore
from vmsbridge.store.crimelog import CrimeLogStore
from vmsbridge.store.database import Database
from vmsbridge.store.events import EventStore
from vmsbridge.store.evidence import EvidenceStore
from vmsbridge.store.firelog import FireLogStore
from vmsbridge.store.health import HealthStore
from vmsbridge.store.incidents import IncidentStore
from vmsbridge.store.masks import MaskLiftStore
from vmsbridge.store.migrate import require_current_schema, upgrade
from vmsbridge.store.notifications import NotificationStore
from vmsbridge.store.people import IncidentPeopleStore
from vmsbridge.store.rule_actions import RuleActionStore
from vmsbridge.supervise import RestartPolicy, Supervisor

log = logging.getLogger(__name__)

DRAIN_SECONDS = 30.0
STAGE_RESTARTS = RestartPolicy(restarts=5, within=600.0, first_delay=1.0, max_delay=60.0)


@dataclass(frozen=True)
class Stores:
    db: Database
    events: EventStore
    incidents: IncidentStore
    audit: AuditLog
    mask_lifts: MaskLiftStore
    evidence: EvidenceStore
    crime_log: CrimeLogStore
    fire_log: FireLogStore
    notifications: NotificationStore
    people: IncidentPeopleStore
    clery_records: CleryRecordStore
    rule_actions: RuleActionStore
    health: HealthStore


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
async def open_store(db_url: str, *, migrate: bool = False) -> AsyncIterator[Stores]:
    """The stores over one database; ``migrate`` upgrades the schema, else it must be current."""
    db = Database(db_url)
    try:
        if migrate:
            await upgrade(db)
        else:
            await require_current_schema(db)
        yield Stores(
            db=db,
            events=EventStore(db),
            incidents=IncidentStore(db),
            audit=AuditLog(db),
            mask_lifts=MaskLiftStore(db),
            evidence=EvidenceStore(db),
            crime_log=CrimeLogStore(db),
            fire_log=FireLogStore(db),
            notifications=NotificationStore(db),
            people=IncidentPeopleStore(db),
            clery_records=CleryRecordStore(db),
            rule_actions=RuleActionStore(db),
            health=HealthStore(db),
        )
    finally:
        await db.close()


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
