"""What rules did: the outcome of one action, or the events a rule failed on and set aside."""

from __future__ import annotations

__all__ = ["INTERRUPTED", "ActionOutcome", "RuleFailure"]

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


@dataclass(frozen=True)
class RuleFailure:
    """A rule raised on an event ``attempts`` times (``error`` is the exception's class) and the
    engine set the event aside for that rule: it never retries it, and the other rules went on."""

    rule: str
    event_id: int
    error: str
    message: str
    attempts: int
    failed_at: datetime
