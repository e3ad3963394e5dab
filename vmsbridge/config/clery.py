"""``[clery]``: the days the institution is closed, which move the crime log's deadlines."""

from __future__ import annotations

__all__ = ["CleryConfig", "parse_closures"]

from collections.abc import Iterable
from datetime import date, timedelta

from pydantic import Field, field_validator

from vmsbridge.config.base import ConfigModel


def parse_closures(entries: Iterable[str]) -> set[date]:
    """``"2026-11-27"`` or an inclusive range ``"2026-12-21..2027-01-01"``; ValueError names the entry."""
    days: set[date] = set()
    for entry in entries:
        first, sep, last = entry.partition("..")
        try:
            start = date.fromisoformat(first.strip())
            end = date.fromisoformat(last.strip()) if sep else start
        except ValueError:
            raise ValueError(f"{entry!r}: expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD") from None
        if end < start:
            raise ValueError(f"{entry!r}: the range ends before it starts")
        if (end - start).days > 366:
            raise ValueError(f"{entry!r}: a closure longer than a year is not a closure")
        days.update(start + timedelta(days=n) for n in range((end - start).days + 1))
    return days


class CleryConfig(ConfigModel):
    closures: list[str] = Field(
        default_factory=list,
        description="days the institution is closed besides weekends and US federal holidays: "
        "'YYYY-MM-DD' or 'YYYY-MM-DD..YYYY-MM-DD'",
    )

    @field_validator("closures")
    @classmethod
    def _closures_parse(cls, value: list[str]) -> list[str]:
        parse_closures(value)  # ValueError names the entry
        return value
