"""Fire-log entries for student-housing facilities (34 CFR 668.49(d))."""

from __future__ import annotations

__all__ = ["FIRE_LOG_EDITABLE_FIELDS", "INTEGER_FIELDS", "STATISTICS_FIELDS", "FireLogEntry"]

from dataclasses import dataclass
from datetime import datetime

# Kept for the annual fire statistics; never shown in the public log.
STATISTICS_FIELDS = ("cause", "injuries", "deaths", "damage_usd")
INTEGER_FIELDS = ("injuries", "deaths", "damage_usd")
FIRE_LOG_EDITABLE_FIELDS = ("nature", "occurred_from", "occurred_to", "general_location", *STATISTICS_FIELDS)


@dataclass(frozen=True)
class FireLogEntry:
    id: int
    incident_id: int | None
    status: str  # "draft" | "published"
    nature: str
    reported_at: datetime
    occurred_from: datetime | None
    occurred_to: datetime | None
    location_id: str
    general_location: str
    cause: str | None
    injuries: int
    deaths: int
    damage_usd: int
    created_at: datetime
    created_by: str
    published_at: datetime | None
