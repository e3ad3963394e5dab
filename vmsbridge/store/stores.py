"""Every store over one database, opened together: what services and commands are handed."""

from __future__ import annotations

__all__ = ["Stores", "open_store"]

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

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
from vmsbridge.store.source_memory import SourceMemoryStore


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
    source_memory: SourceMemoryStore


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
            source_memory=SourceMemoryStore(db),
        )
    finally:
        await db.close()
