"""The fire log: student housing only, the crime log's deadlines and export, and the statistics."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.crimelog_helpers import draft_crime
from vmsbridge.app import Stores
from vmsbridge.clery.export import render, window_ending
from vmsbridge.clery.firelog import (
    draft,
    export,
    pending,
    publish,
    statistics,
    unpublished_statistics,
    update,
)
from vmsbridge.clery.publiclog import NamesAPerson
from vmsbridge.cli.main import main
from vmsbridge.config import Location, SiteConfig
from vmsbridge.errors import NotFound, ValidationFailed
from vmsbridge.model import CleryGeography, Priority

# No name of a person these tests record may reach a log line (tests/personal_data.py).
pytestmark = pytest.mark.person_data(names=["Riley Quinn", "R. Quinn"])
CT = ZoneInfo("America/Chicago")
AFTER = datetime(2026, 12, 21, 9, 0, tzinfo=CT)  # the clock of tests whose reports are in December


@pytest.fixture
def two_halls(site: SiteConfig) -> SiteConfig:
    oak = Location(
        id="oak-hall",
        name="Oak Hall (residence hall)",
        clery_geography=CleryGeography.ON_CAMPUS,
        student_housing=True,
        public_label="Residence hall, south campus",
    )
    return site.model_copy(update={"locations": [*site.locations, oak]})


async def test_only_student_housing_is_accepted(stores: Stores, site: SiteConfig) -> None:
    reported = datetime(2026, 11, 2, 9, 0, tzinfo=CT)
    with pytest.raises(ValidationFailed) as info:
        await draft(
            stores, site, location_id="library", nature="Trash can fire", reported_at=reported, actor="f"
        )
    [problem] = info.value.problems
    assert problem.field == "location_id"
    assert "'library' (Harmon Library) is not student housing" in problem.reason
    assert "student housing: maple-hall" in problem.reason
    with pytest.raises(ValidationFailed, match="'nowhere' is not a location of this site"):
        await draft(stores, site, location_id="nowhere", nature="Fire", reported_at=reported, actor="f")
    with pytest.raises(ValidationFailed) as info:
        await draft(
            stores,
            site,
            location_id="maple-hall",
            nature=" ",
            reported_at=reported,
            actor="f",
            injuries=-1,
        )
    assert info.value.fields == {"injuries", "nature"}
    with pytest.raises(NotFound, match="incident 99"):
        await draft(
            stores,
            site,
            location_id="maple-hall",
            nature="Fire",
            reported_at=reported,
            actor="f",
            incident_id=99,
        )
    assert await stores.fire_log.pending() == []  # nothing half-stored


@pytest.mark.parametrize(
    ("reported", "due_day"),
    [
        # Friday before Martin Luther King Jr. Day (Mon 18 Jan 2027): Tue 19, Wed 20.
        (datetime(2027, 1, 15, 16, 0, tzinfo=CT), date(2027, 1, 20)),
        # Friday before the configured spring-break closure 15-19 March 2027: Mon 22, Tue 23.
        (datetime(2027, 3, 12, 11, 0, tzinfo=CT), date(2027, 3, 23)),
        # Wednesday before Thanksgiving (holiday) and the Friday after (configured closure).
        (datetime(2026, 11, 25, 8, 0, tzinfo=CT), date(2026, 12, 1)),
    ],
)
async def test_deadlines_skip_holidays_and_closures(
    stores: Stores, site: SiteConfig, reported: datetime, due_day: date
) -> None:
    entry, first = await draft(
        stores,
        site,
        location_id="maple-hall",
        nature="Kitchen fire, contained to stove",
        reported_at=reported,
        actor="f",
        now=reported,
    )
    assert first.due_by == datetime(due_day.year, due_day.month, due_day.day, 23, 59, 59, tzinfo=CT)
    day_before = datetime(due_day.year, due_day.month, due_day.day, 12, 0, tzinfo=CT)
    [item] = await pending(stores, as_of=day_before)
    assert (item.entry.id, item.overdue) == (entry.id, False)
    [item] = await pending(stores, as_of=datetime.combine(due_day + timedelta(days=1), time(0), tzinfo=CT))
    assert item.overdue


async def test_updates_public_fields_have_deadlines_statistics_do_not(
    stores: Stores, site: SiteConfig
) -> None:
    entry, _ = await draft(
        stores,
        site,
        location_id="maple-hall",
        nature="Mattress fire",
        reported_at=datetime(2026, 9, 2, 10, 0, tzinfo=CT),
        actor="f",
        damage_usd=800,
    )
    await publish(stores, entry_id=entry.id, actor="f", now=datetime(2026, 9, 3, 9, 0, tzinfo=CT))
    nature = await update(
        stores,
        site,
        entry_id=entry.id,
        field="nature",
        value="Mattress fire, set deliberately",
        actor="f",
        received_at=datetime(2026, 11, 1, 23, 30, tzinfo=CT),  # local day 60: still required
    )
    assert nature.due_by == datetime(2026, 11, 3, 23, 59, 59, tzinfo=CT)
    late = await update(
        stores,
        site,
        entry_id=entry.id,
        field="occurred_from",
        value="2026-09-02T03:00:00-05:00",
        actor="f",
        received_at=datetime(2026, 11, 2, 0, 30, tzinfo=CT),  # day 61
    )
    assert late.due_by is None
    damage = await update(
        stores,
        site,
        entry_id=entry.id,
        field="damage_usd",
        value="1250",
        actor="f",
        received_at=datetime(2026, 9, 4, 9, 0, tzinfo=CT),
    )
    assert (damage.old_value, damage.new_value, damage.due_by) == ("800", "1250", None)
    with pytest.raises(ValidationFailed, match="deaths must be a whole number >= 0, not 'two'") as refused:
        await update(stores, site, entry_id=entry.id, field="deaths", value="two", actor="f")
    assert refused.value.fields == {"value"}
    items = await pending(stores, as_of=datetime(2030, 1, 1, tzinfo=UTC))
    # Before: the damage_usd change sat here forever with "no deadline: not in the public log".
    assert [(i.change.field, i.overdue) for i in items] == [("nature", True), ("occurred_from", False)]
    info = await unpublished_statistics(stores, as_of=datetime(2030, 1, 1, tzinfo=UTC))
    assert [(i.change.field, i.overdue) for i in info] == [("damage_usd", False)]
    actions = [e.action for e in await stores.audit.entries("fire_log", entry.id)]
    assert actions == ["firelog.drafted", "firelog.published", *["firelog.changed"] * 3]


async def test_export_shows_published_fires_without_statistics_or_names(
    stores: Stores, site: SiteConfig
) -> None:
    incident = await stores.incidents.open(
        location_id="maple-hall", summary="Smoke alarm", priority=Priority.HIGH, actor="op"
    )
    await stores.people.add(
        incident.id, role="reporter", name="Riley Quinn", actor="op", now=datetime.now(UTC)
    )
    shown, _ = await draft(
        stores,
        site,
        location_id="maple-hall",
        nature="Candle fire <b>room 214</b>",
        reported_at=datetime(2026, 12, 3, 22, 15, tzinfo=CT),
        occurred_from=datetime(2026, 12, 3, 21, 50, tzinfo=CT),
        actor="f",
        incident_id=incident.id,
        cause="Unattended candle",
        injuries=1,
        damage_usd=4200,
        now=AFTER,
    )
    await publish(stores, entry_id=shown.id, actor="f", now=AFTER)
    await draft(
        stores,
        site,
        location_id="maple-hall",
        nature="Dryer fire",
        reported_at=datetime(2026, 12, 4, 8, 0, tzinfo=CT),
        actor="f",
        now=AFTER,
    )  # a draft: not public yet
    log = await export(stores, site, window_ending(date(2026, 12, 31)), now=AFTER)
    assert log.rows == [
        {
            "entry": str(shown.id),
            "reported": "2026-12-03 22:15",
            "nature": "Candle fire <b>room 214</b>",
            "occurred": "2026-12-03 21:50",
            "general_location": "Residence hall, north campus",
        }
    ]
    text = render(log, "csv") + render(log, "json") + render(log, "html")
    for private in ("Unattended candle", "4200", "Riley", "Quinn"):
        assert private not in text
    assert "Candle fire &lt;b&gt;room 214&lt;/b&gt;" in render(log, "html")
    assert "<title>Fire log, Northfield College</title>" in render(log, "html")

    with pytest.raises(NamesAPerson, match="the new fire-log entry: nature contains the name") as info:
        await draft(
            stores,
            site,
            location_id="maple-hall",
            nature="Fire reported by R. Quinn",
            reported_at=datetime(2026, 12, 5, 8, 0, tzinfo=CT),
            actor="f",
            incident_id=incident.id,
            now=AFTER,
        )
    assert "Quinn" not in str(info.value)


async def test_statistics_per_facility_by_local_year_reported(stores: Stores, two_halls: SiteConfig) -> None:
    async def fire(
        location: str,
        reported: datetime,
        *,
        cause: str | None = None,
        injuries: int = 0,
        deaths: int = 0,
        damage_usd: int = 0,
    ) -> None:
        await draft(
            stores,
            two_halls,
            location_id=location,
            nature="Fire",
            reported_at=reported,
            actor="f",
            now=reported,
            cause=cause,
            injuries=injuries,
            deaths=deaths,
            damage_usd=damage_usd,
        )

    await fire(
        "maple-hall", datetime(2026, 2, 10, 18, 0, tzinfo=CT), cause="Cooking", injuries=1, damage_usd=300
    )
    await fire("maple-hall", datetime(2026, 6, 1, 2, 0, tzinfo=CT), cause="Cooking", damage_usd=1200)
    # 23:30 on 31 Dec in Chicago is already 2027 in UTC: it still counts for 2026.
    await fire("maple-hall", datetime(2026, 12, 31, 23, 30, tzinfo=CT), cause="Electrical", deaths=1)
    await fire("oak-hall", datetime(2026, 3, 3, 12, 0, tzinfo=CT), damage_usd=50)
    await fire("maple-hall", datetime(2027, 1, 1, 0, 30, tzinfo=CT), cause="Cooking", damage_usd=999)
    await fire("oak-hall", datetime(2025, 12, 31, 23, 59, tzinfo=CT), cause="Smoking", damage_usd=999)

    by_hall = {s.location_id: s for s in await statistics(stores, two_halls, year=2026)}
    maple, oak = by_hall["maple-hall"], by_hall["oak-hall"]
    assert (maple.fires, dict(maple.causes), maple.injuries, maple.deaths, maple.damage_usd) == (
        3,
        {"Cooking": 2, "Electrical": 1},
        1,
        1,
        1500,
    )
    assert (oak.fires, dict(oak.causes), oak.injuries, oak.deaths, oak.damage_usd) == (
        1,
        {"not recorded": 1},
        0,
        0,
        50,
    )
    empty = {s.location_id: s.fires for s in await statistics(stores, two_halls, year=2024)}
    assert empty == {"maple-hall": 0, "oak-hall": 0}  # every facility is listed, fires or not


async def test_the_crime_log_and_fire_log_keep_separate_histories(stores: Stores, site: SiteConfig) -> None:
    crime, _ = await draft_crime(
        stores, site, "maple-hall", nature="Arson", reported_at=datetime(2026, 12, 1, tzinfo=CT), actor="c"
    )
    fire, _ = await draft(
        stores,
        site,
        location_id="maple-hall",
        nature="Trash chute fire",
        reported_at=datetime(2026, 12, 1, tzinfo=CT),
        actor="f",
        incident_id=crime.incident_id,
    )
    assert crime.id == fire.id == 1
    await publish(stores, entry_id=fire.id, actor="f")
    assert (await stores.crime_log.get(crime.id)).status == "draft"
    assert [c.field for c in await stores.fire_log.changes(fire.id)] == ["entry"]


def test_firelog_cli_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", f"sqlite:///{tmp_path / 'fire.db'}"]
    assert main(["db", "upgrade", *db]) == 0
    draft_argv = [
        "firelog",
        "draft",
        "--location",
        "maple-hall",
        "--nature",
        "Kitchen fire, contained to stove",
    ]
    draft_argv += ["--reported-at", "2026-11-25T08:00:00-06:00", "--cause", "Cooking", "--damage", "1200"]
    capsys.readouterr()
    assert main([*draft_argv, "--json", *db]) == 0
    made = json.loads(capsys.readouterr().out)
    assert (made["id"], made["due_by"]) == (1, "2026-12-01T23:59:59-06:00")  # Tue 1 Dec, site time
    assert main(["firelog", "pending", "--as-of", "2026-12-02T06:00:00Z", "--json", *db]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["location"], row["overdue"]) == ("maple-hall", True)
    assert row["due_by"] == "2026-12-01T23:59:59-06:00"  # the site offset, as draft prints it
    assert main(["firelog", "history", "1", "--json", *db]) == 0
    assert json.loads(capsys.readouterr().out)[0]["due_by"] == "2026-12-01T23:59:59-06:00"
    assert main(["firelog", "publish", "1", "--actor", "fso", *db]) == 0
    assert main(["firelog", "update", "1", "--field", "injuries", "--value", "2", *db]) == 0
    assert "not required (not in the public log)" in capsys.readouterr().out
    # A statistics change is never public: not pending, only listed apart with --all.
    assert main(["firelog", "pending", "--as-of", "2026-12-02T06:00:00Z", *db]) == 0
    assert capsys.readouterr().out == "nothing pending\n"
    assert main(["firelog", "pending", "--as-of", "2026-12-02T06:00:00Z", "--all", "--json", *db]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["type"], row["change"], row["due_by"], row["overdue"]) == (
        "informational",
        "injuries",
        None,
        False,
    )
    assert main(["firelog", "pending", "--as-of", "2026-12-02T06:00:00Z", "--all", *db]) == 0
    out = capsys.readouterr().out
    assert out.startswith("nothing pending\ninformational only")
    assert "injuries" in out
    assert main(["firelog", "export", "--as-of", "2026-12-31", "--format", "csv", *db]) == 0
    [record] = list(csv.DictReader(io.StringIO(capsys.readouterr().out, newline="")))
    assert record == {
        "Entry number": "1",
        "Date/time reported": "2026-11-25 08:00",
        "Nature of fire": "Kitchen fire, contained to stove",
        "Date/time occurred": "Unknown",
        "General location": "Residence hall, north campus",
    }
    assert main(["firelog", "stats", "--year", "2026", "--json", *db]) == 0
    [hall] = json.loads(capsys.readouterr().out)["facilities"]
    assert (hall["fires"], hall["causes"], hall["injuries"], hall["damage_usd"]) == (
        1,
        {"Cooking": 1},
        2,
        1200,
    )
    assert (
        main(
            [
                "firelog",
                "draft",
                "--location",
                "lot-b",
                "--nature",
                "Car fire",
                "--reported-at",
                "2026-11-25T08:00:00Z",
                *db,
            ]
        )
        == 2
    )
    assert "'lot-b' (Parking Lot B) is not student housing" in capsys.readouterr().err


async def test_a_fire_cannot_start_after_it_was_reported(stores: Stores, site: SiteConfig) -> None:
    """Before: a fire starting after it was reported was accepted."""
    reported = datetime(2026, 12, 3, 22, 15, tzinfo=CT)
    with pytest.raises(ValidationFailed) as info:
        await draft(
            stores,
            site,
            location_id="maple-hall",
            nature="Kitchen fire",
            reported_at=reported,
            actor="f",
            occurred_from=reported + timedelta(minutes=30),
            now=AFTER,
        )
    assert [p.field for p in info.value.problems] == ["occurred_from"]
    entry, _ = await draft(
        stores,
        site,
        location_id="maple-hall",
        nature="Kitchen fire",
        reported_at=reported,
        actor="f",
        now=AFTER,
    )
    with pytest.raises(ValidationFailed) as refused:
        await update(
            stores,
            site,
            entry_id=entry.id,
            field="occurred_from",
            value="2026-12-03T23:00:00-06:00",
            actor="f",
            now=AFTER,
        )
    assert refused.value.fields == {"value"}
