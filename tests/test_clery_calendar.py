"""Crime-log deadlines on the institution's calendar: weekends, federal holidays, closures, time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vmsbridge.clery.calendar import BusinessCalendar, calendar_for
from vmsbridge.config import SiteConfig, parse_site_config
from vmsbridge.config.clery import parse_closures
from vmsbridge.errors import ConfigError

CHICAGO = "America/Chicago"
CAL = BusinessCalendar(CHICAGO, parse_closures(["2026-11-27", "2026-12-21..2027-01-01"]))


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CAL.zone)


@pytest.mark.parametrize(
    ("received", "due"),
    [
        ("2026-11-09 10:00", "2026-11-12"),  # Monday; Wednesday the 11th is Veterans Day
        ("2026-11-13 16:30", "2026-11-17"),  # Friday -> Monday, Tuesday
        ("2026-11-14 09:00", "2026-11-17"),  # received on a Saturday
        ("2026-11-25 08:00", "2026-12-01"),  # Thanksgiving Thursday, the Friday closure, the weekend
        ("2026-12-18 12:00", "2027-01-05"),  # winter break closure, New Year's Day inside it
        ("2026-07-02 12:00", "2026-07-07"),  # July 4th on a Saturday is observed on Friday the 3rd
        ("2026-03-06 12:00", "2026-03-10"),  # across the spring DST change
    ],
)
def test_due_by_is_the_end_of_the_second_business_day_after(received: str, due: str) -> None:
    deadline = CAL.due_by(local(received))
    assert deadline == datetime.combine(
        date.fromisoformat(due), datetime.max.time().replace(microsecond=0), CAL.zone
    )


def test_the_day_received_is_the_institutions_day_not_utcs() -> None:
    # 03:00 UTC on Tuesday is still Monday evening in Chicago.
    received = datetime(2026, 11, 10, 3, 0, tzinfo=UTC)
    assert CAL.due_by(received).date() == date(2026, 11, 12)


def test_reasons_for_closure_are_named() -> None:
    assert CAL.closed_because(date(2026, 11, 26)) == "Thanksgiving Day"
    assert CAL.closed_because(date(2026, 11, 27)) == "institutional closure"
    assert CAL.closed_because(date(2026, 11, 28)) == "weekend"
    assert CAL.closed_because(date(2026, 11, 30)) is None


def test_bad_closures_and_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="2026-13-01"):
        parse_closures(["2026-13-01"])
    with pytest.raises(ValueError, match="ends before it starts"):
        parse_closures(["2026-12-31..2026-12-01"])
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.due_by(datetime(2026, 11, 9, 10, 0))


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)))
def test_two_business_days_lie_between_receipt_and_deadline(received: datetime) -> None:
    deadline = CAL.due_by(received)
    first = received.astimezone(CAL.zone).date()
    between = [first + timedelta(days=n) for n in range(1, (deadline.date() - first).days + 1)]
    assert sum(CAL.is_business_day(d) for d in between) == 2
    assert CAL.is_business_day(deadline.date())
    assert deadline > received


def test_the_site_calendar_comes_from_the_config(site: SiteConfig) -> None:
    calendar = calendar_for(site)
    assert calendar.closed_because(date(2026, 11, 27)) == "institutional closure"
    assert calendar.due_by(local("2026-12-18 12:00")).date() == date(2027, 1, 5)


def test_a_bad_closure_in_the_config_names_its_key() -> None:
    from tests.conftest import ROOT

    text = (ROOT / "examples" / "campus.toml").read_text().replace('"2026-11-27"', '"2026-11-31"')
    with pytest.raises(ConfigError) as info:
        parse_site_config(text, "bad.toml")
    assert str(info.value.problems[0]).startswith("clery.closures: ")
    assert "2026-11-31" in str(info.value.problems[0])
