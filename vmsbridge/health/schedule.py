"""When the daily digest is due: one site-local wall time a day, exactly once per local day.

Pure and clock-free: every answer is computed from the ``now`` passed in. A day is named by its
local date (the digest's file name); its occurrence is the instant the site's clocks show the wall
time, which on daylight-saving days needs care:

- spring forward: a wall time the clocks skip (02:30 when 02:00 jumps to 03:00) is taken as that
  long after local midnight, which the clocks show as 03:30; the day still gets its digest;
- fall back: a wall time shown twice (01:30) counts the first time only, so no second digest.
"""

from __future__ import annotations

__all__ = ["DigestSchedule"]

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class DigestSchedule:
    at: time  # site-local wall time
    zone: ZoneInfo

    def occurrence(self, day: date) -> datetime:
        """The instant (UTC) of ``day``'s digest."""
        # fold=0 picks the first of a repeated wall time and, for a skipped one, the offset in force
        # before the jump: the same time after local midnight as on an ordinary day.
        local = datetime.combine(day, self.at, tzinfo=self.zone).replace(fold=0)
        return local.astimezone(UTC)

    def next_after(self, now: datetime) -> tuple[date, datetime]:
        """The first occurrence strictly after ``now``, with the local day it belongs to."""
        today = now.astimezone(self.zone).date()
        for offset in range(-1, 3):  # a day's occurrence is within a few hours of its local date
            day = today + timedelta(days=offset)
            when = self.occurrence(day)
            if when > now:
                return day, when
        raise AssertionError("unreachable: tomorrow's occurrence is always after now")

    def latest_at_or_before(self, now: datetime) -> tuple[date, datetime]:
        """The most recent occurrence at or before ``now``, with its local day."""
        today = now.astimezone(self.zone).date()
        for offset in range(1, -3, -1):
            day = today + timedelta(days=offset)
            when = self.occurrence(day)
            if when <= now:
                return day, when
        raise AssertionError("unreachable: yesterday's occurrence is always before now")

    def due(self, now: datetime, written: Callable[[date], bool]) -> date | None:
        """The day whose digest should be written at ``now``, if any.

        That is the latest occurrence so far, unless its digest is already written: at the
        scheduled time this is today's, and on start after the bridge was down at that time it is
        the missed day's, written once. Earlier missed days are not written: a digest is the open
        problems at the moment it is made, so several late ones would all say the same thing.
        """
        day, _ = self.latest_at_or_before(now)
        return None if written(day) else day
