"""The institution's business days, and the 2-business-day deadline of the daily crime log.

34 CFR 668.46(f) wants a crime-log entry (and each update) within two business days of the
report; a business day is one the institution is open (clery.md §4). Default: Monday to Friday
minus US federal holidays (observed days included), from the ``holidays`` package; the
institution adds its own closures (the day after Thanksgiving, winter break, snow days).
"""

from __future__ import annotations

__all__ = ["BusinessCalendar", "calendar_for"]

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import holidays

from vmsbridge.config.clery import parse_closures

if TYPE_CHECKING:
    from vmsbridge.config import SiteConfig

BUSINESS_DAYS_ALLOWED = 2
END_OF_DAY = time(23, 59, 59)


class BusinessCalendar:
    def __init__(self, timezone: str, closures: Iterable[date] = (), *, country: str = "US") -> None:
        self.zone = ZoneInfo(timezone)
        self._closures = frozenset(closures)
        self._holidays: holidays.HolidayBase = holidays.country_holidays(country)  # years filled on demand

    def closed_because(self, day: date) -> str | None:
        """Why the institution is closed on ``day`` (weekend, holiday name, closure), or None."""
        if day.weekday() >= 5:
            return "weekend"
        if name := self._holidays.get(day):
            return str(name)
        if day in self._closures:
            return "institutional closure"
        return None

    def is_business_day(self, day: date) -> bool:
        return self.closed_because(day) is None

    def nth_business_day_after(self, day: date, n: int) -> date:
        current, found = day, 0
        while found < n:
            current += timedelta(days=1)
            if self.is_business_day(current):
                found += 1
        return current

    def due_by(self, received_at: datetime) -> datetime:
        """End (23:59:59 institution time) of the 2nd business day after the day it was received."""
        if received_at.tzinfo is None:
            raise ValueError("received_at must be timezone-aware")
        local_day = received_at.astimezone(self.zone).date()
        last_day = self.nth_business_day_after(local_day, BUSINESS_DAYS_ALLOWED)
        return datetime.combine(last_day, END_OF_DAY, tzinfo=self.zone)


def calendar_for(site: SiteConfig) -> BusinessCalendar:
    """The calendar of the site's institution: its time zone and its configured closures."""
    return BusinessCalendar(site.site.timezone, parse_closures(site.clery.closures))
