"""What the crime-log and fire-log tests share: an incident with its draft crime-log entry."""

from __future__ import annotations

from datetime import datetime

from vmsbridge.app import Stores
from vmsbridge.clery.crimelog import draft_from_incident
from vmsbridge.config import SiteConfig
from vmsbridge.model import Priority
from vmsbridge.model.crimelog import CrimeLogEntry
from vmsbridge.model.publiclog import LogChange


async def draft_crime(
    stores: Stores,
    site: SiteConfig,
    location_id: str,
    *,
    nature: str,
    reported_at: datetime,
    actor: str = "coord",
    occurred_from: datetime | None = None,
    occurred_to: datetime | None = None,
    summary: str = "x",
    priority: Priority = Priority.LOW,
    now: datetime | None = None,
) -> tuple[CrimeLogEntry, LogChange]:
    """Open an incident at ``location_id`` and draft its crime-log entry (entry, first change).

    ``now`` is the clock of the draft: a report in the future of it is refused.
    """
    incident = await stores.incidents.open(
        location_id=location_id, summary=summary, priority=priority, actor="op"
    )
    return await draft_from_incident(
        stores,
        site,
        incident_id=incident.id,
        nature=nature,
        reported_at=reported_at,
        actor=actor,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
        now=now,
    )
