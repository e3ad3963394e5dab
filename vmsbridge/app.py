"""Builds the service graph once, starts its long-lived stages, and tears it down in reverse.

Nothing registers itself globally: everything a command needs hangs off :class:`Services`.
"""

from __future__ import annotations

__all__ = ["Services", "open_store", "running_services"]

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from vmsbridge.bus import InProcessBus
from vmsbridge.config import SiteConfig, SiteDirectory
from vmsbridge.correlate import Correlator
from vmsbridge.ingest import IngestStage
from vmsbridge.store.audit import AuditLog
from vmsbridge.store.crimelog import CrimeLogStore
from vmsbridge.store.database import Database
from vmsbridge.store.events import EventStore
from vmsbridge.store.evidence import EvidenceRepository
from vmsbridge.store.incidents import IncidentStore
from vmsbridge.store.masks import MaskLiftStore
from vmsbridge.store.migrate import require_current_schema, upgrade

log = logging.getLogger(__name__)

DRAIN_SECONDS = 30.0


@dataclass(frozen=True)
class Stores:
    db: Database
    events: EventStore
    incidents: IncidentStore
    audit: AuditLog
    mask_lifts: MaskLiftStore
    evidence: EvidenceRepository
    crime_log: CrimeLogStore


@dataclass(frozen=True)
class Services:
    site: SiteConfig
    directory: SiteDirectory
    stores: Stores
    bus: InProcessBus
    ingest: IngestStage
    correlator: Correlator
    failed: asyncio.Event = field(default_factory=asyncio.Event)  # set if a core stage died


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
            db,
            EventStore(db),
            IncidentStore(db),
            AuditLog(db),
            MaskLiftStore(db),
            EvidenceRepository(db),
            CrimeLogStore(db),
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
        ingest = IngestStage(bus, stores.events, directory, on_stored=correlator.notify)
        services = Services(site, directory, stores, bus, ingest, correlator)
        tasks = [
            asyncio.create_task(ingest.run(), name="ingest"),
            asyncio.create_task(correlator.run(), name="correlator"),
        ]

        def watch(task: asyncio.Task[None]) -> None:
            # The stages only end by cancellation; anything else is a bug that must stop the
            # service loudly rather than leave publishers waiting forever.
            if not task.cancelled() and task.exception() is not None:
                log.critical("the %s stage died", task.get_name(), exc_info=task.exception())
                services.failed.set()

        for task in tasks:
            task.add_done_callback(watch)
        try:
            yield services
        finally:
            if not await bus.drain(DRAIN_SECONDS):
                log.error("stopping with events still unstored; their publishers were not acknowledged")
            bus.close()
            ingest_task = tasks[0]
            # Ingest is idle once the bus is drained, so cancelling it interrupts no write. The
            # correlator is asked to stop between batches: cancelling a database transaction
            # half-way can leave SQLite's write lock with a connection nobody will release.
            ingest_task.cancel()
            correlator.stop()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await correlator.catch_up()
