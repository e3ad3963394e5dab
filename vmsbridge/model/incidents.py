"""Incidents: what correlation opens from events, with their priority and status."""

from __future__ import annotations

__all__ = ["Incident", "IncidentStatus", "OpenIncidentView", "Priority"]

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from vmsbridge.model.events import EventKind


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return _PRIORITY_RANK[self]

    @classmethod
    def highest(cls, priorities: list[Priority]) -> Priority:
        return max(priorities, key=lambda p: p.rank)


_PRIORITY_RANK = {Priority.LOW: 0, Priority.MEDIUM: 1, Priority.HIGH: 2}


class IncidentStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class Incident:
    id: int
    location_id: str
    status: IncidentStatus
    priority: Priority
    summary: str
    started_at: datetime
    last_event_at: datetime
    opened_by: str
    closed_at: datetime | None = None
    close_reason: str | None = None
    event_kinds: tuple[EventKind, ...] = ()
    event_ids: tuple[int, ...] = ()
    victim_sensitive: bool = False  # public outputs and exports handle it with extra care
    legal_hold: bool = False  # its evidence cannot be disposed of


@dataclass(frozen=True)
class OpenIncidentView:
    """What correlation needs to know about an open incident."""

    id: int
    location_id: str
    priority: Priority
    started_at: datetime
    last_event_at: datetime
