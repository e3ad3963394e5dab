"""Daily-crime-log entries and the withholding of their fields."""

from __future__ import annotations

__all__ = ["CRIME_LOG_EDITABLE_FIELDS", "CrimeLogEntry", "Withholding"]

from dataclasses import dataclass
from datetime import datetime

CRIME_LOG_EDITABLE_FIELDS = ("nature", "occurred_from", "occurred_to", "general_location", "disposition")


@dataclass(frozen=True)
class CrimeLogEntry:
    id: int
    incident_id: int | None
    status: str  # "draft" | "published"
    nature: str
    reported_at: datetime
    occurred_from: datetime | None
    occurred_to: datetime | None
    location_id: str
    general_location: str
    disposition: str
    created_at: datetime
    created_by: str
    published_at: datetime | None


@dataclass(frozen=True)
class Withholding:
    id: int
    entry_id: int
    field: str
    reason: str
    note: str
    actor: str
    withheld_at: datetime
    review_by: datetime
    released_at: datetime | None
    released_by: str | None
