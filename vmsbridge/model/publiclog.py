"""What the crime log and the fire log share: the record of one change to an entry."""

from __future__ import annotations

__all__ = ["TIME_FIELDS", "LogChange"]

from dataclasses import dataclass
from datetime import datetime

TIME_FIELDS = ("occurred_from", "occurred_to")


@dataclass(frozen=True)
class LogChange:
    id: int
    entry_id: int
    field: str  # "entry" for the entry itself
    old_value: str | None
    new_value: str | None
    info_received_at: datetime
    due_by: datetime | None  # None: the law sets no deadline (entry older than 60 days, or not public)
    changed_at: datetime
    actor: str
    published_at: datetime | None
