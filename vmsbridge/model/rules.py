"""What rules did: the outcome of one action."""

from __future__ import annotations

__all__ = ["INTERRUPTED", "ActionOutcome"]

from dataclasses import dataclass
from datetime import datetime

INTERRUPTED = "cancelled: the bridge stopped"  # the detail of an action cut short by a shutdown


@dataclass(frozen=True)
class ActionOutcome:
    rule: str
    action: str
    ok: bool
    ms: int
    detail: str
    started_at: datetime
    event_id: int
    incident_id: int | None = None
