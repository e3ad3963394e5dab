"""Camera health's records: the bridge's run sessions and devices whose clocks were not believed."""

from __future__ import annotations

__all__ = ["LIVE_HEARTBEATS", "BridgeRun", "ClockSuspect"]

from dataclasses import dataclass
from datetime import datetime, timedelta

# A run that stopped without saying so is judged by its last heartbeat; one whose heartbeat is
# older than this many intervals is dead, not slow.
LIVE_HEARTBEATS = 3


@dataclass(frozen=True)
class ClockSuspect:
    """A device some of whose events carried a time the bridge did not believe (``clock_suspect``)."""

    device_id: str
    events: int
    last_at: datetime  # the latest such event (dated on receipt)


@dataclass(frozen=True)
class BridgeRun:
    id: int
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None
    host: str
    pid: int
    heartbeat_seconds: int

    def observed_until(self, now: datetime) -> datetime | None:
        """End of the time this run watched: its stop, its last heartbeat, or None while it lives."""
        if self.stopped_at is not None:
            return self.stopped_at
        if now - self.heartbeat_at <= timedelta(seconds=self.heartbeat_seconds * LIVE_HEARTBEATS):
            return None
        return self.heartbeat_at
