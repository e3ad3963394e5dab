"""The domain's vocabulary: what connectors, services and stores pass between them.

One module per subject (events, incidents, Clery records and offenses, the crime and fire logs,
notifications, evidence, rule outcomes, camera health, the audit log). Nothing here does I/O, and
nothing here imports any of vmsbridge but :mod:`vmsbridge.errors`: the store maps rows to these
types and services receive them. The event vocabulary is re-exported here, so
``from vmsbridge.model import Event`` works.
"""

from __future__ import annotations

__all__ = [
    "ALARM_STATE_KINDS",
    "ANALYTICS_SOURCE_PREFIX",
    "EARLIEST_PLAUSIBLE",
    "MAX_CLOCK_LEAD",
    "MAX_ID_LENGTH",
    "CleryGeography",
    "Event",
    "EventKind",
    "Incident",
    "IncidentStatus",
    "IngestOutcome",
    "Priority",
    "StoredEvent",
]

from vmsbridge.model.events import (
    ALARM_STATE_KINDS,
    ANALYTICS_SOURCE_PREFIX,
    EARLIEST_PLAUSIBLE,
    MAX_CLOCK_LEAD,
    MAX_ID_LENGTH,
    CleryGeography,
    Event,
    EventKind,
    IngestOutcome,
    StoredEvent,
)
from vmsbridge.model.incidents import Incident, IncidentStatus, Priority
