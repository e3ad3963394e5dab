"""The public crime-log export (window, formats, what is never shown) and the 60-day update rule."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.crimelog_helpers import draft_crime
from vmsbridge.app import Stores
from vmsbridge.clery.crimelog import (
    draft_from_incident,
    export,
    pending,
    public_view,
    publish,
    release,
    update,
    withhold,
)
from vmsbridge.clery.export import render, window_ending, window_for_request
from vmsbridge.clery.publiclog import PENDING_REVIEW, NamesAPerson
from vmsbridge.cli.main import main
from vmsbridge.config import SiteConfig
from vmsbridge.errors import ValidationFailed
from vmsbridge.model import Priority
from vmsbridge.model.crimelog import CrimeLogEntry

# No name of a person these tests record may reach a log line (tests/personal_data.py).
pytestmark = pytest.mark.person_data(names=["Dana Whitfield", "Sam Library", "Zo\u00eb Li", "Zoe Li"])
CT = ZoneInfo("America/Chicago")
PUBLISHED_AT = datetime(2026, 12, 21, 9, 0, tzinfo=CT)


async def _published(
    stores: Stores,
    site: SiteConfig,
    reported_at: datetime,
    nature: str = "Theft",
    *,
    location: str = "lot-b",
    publish_it: bool = True,
) -> CrimeLogEntry:
    entry, _ = await draft_crime(
        stores, site, location, nature=nature, reported_at=reported_at, now=PUBLISHED_AT
    )
    if publish_it:
        entry = await publish(stores, entry_id=entry.id, actor="coord", now=PUBLISHED_AT)
    return entry


async def test_the_60_day_window_is_local_dates_inclusive_across_a_dst_change(
    stores: Stores, site: SiteConfig
) -> None:
    # 2026-12-20 minus 59 days is 2026-10-22; Chicago leaves daylight time on 2026-11-01 in between.
    window = window_ending(date(2026, 12, 20))
    assert (window.first_day, window.last_day) == (date(2026, 10, 22), date(2026, 12, 20))
    first_minute = await _published(stores, site, datetime(2026, 10, 22, 0, 0, tzinfo=CT))  # CDT
    # 23:59 CDT on the 21st is already the 22nd in UTC: still outside, the local date decides.
    await _published(stores, site, datetime(2026, 10, 21, 23, 59, tzinfo=CT))
    last_minute = await _published(stores, site, datetime(2026, 12, 20, 23, 59, tzinfo=CT))  # CST
    await _published(stores, site, datetime(2026, 12, 21, 0, 0, tzinfo=CT))
    middle = await _published(stores, site, datetime(2026, 11, 1, 1, 30, tzinfo=CT))

    log = await export(stores, site, window, now=PUBLISHED_AT)
    assert [row["entry"] for row in log.rows] == [str(last_minute.id), str(middle.id), str(first_minute.id)]
    assert [row["reported"] for row in log.rows] == [
        "2026-12-20 23:59",
        "2026-11-01 01:30",
        "2026-10-22 00:00",
    ]


async def test_a_request_window_covers_older_records_both_days_included(
    stores: Stores, site: SiteConfig
) -> None:
    old = await _published(stores, site, datetime(2026, 3, 1, 0, 0, tzinfo=CT), "Vandalism")
    also_old = await _published(stores, site, datetime(2026, 3, 31, 23, 59, tzinfo=CT), "Burglary")
    await _published(stores, site, datetime(2026, 4, 1, 0, 0, tzinfo=CT), "Arson")
    log = await export(stores, site, window_for_request(date(2026, 3, 1), date(2026, 3, 31)))
    assert [(r["entry"], r["nature"]) for r in log.rows] == [
        (str(also_old.id), "Burglary"),
        (str(old.id), "Vandalism"),
    ]
    assert log.window.kind == "request"
    with pytest.raises(ValidationFailed) as info:
        window_for_request(date(2026, 3, 31), date(2026, 3, 1))
    [inverted] = info.value.problems
    assert (inverted.field, inverted.related) == ("last", ("first",))


async def test_drafts_and_unpublished_changes_stay_out_withheld_fields_say_so(
    stores: Stores, site: SiteConfig
) -> None:
    reported = datetime(2026, 12, 1, 14, 0, tzinfo=CT)
    await _published(stores, site, reported, "Draft only", publish_it=False)
    entry = await _published(stores, site, reported, "Assault", location="maple-hall")
    await update(
        stores,
        site,
        entry_id=entry.id,
        field="disposition",
        value="Arrest",
        actor="coord",
        now=datetime(2026, 12, 22, 9, 0, tzinfo=CT),
    )
    await withhold(
        stores,
        entry_id=entry.id,
        field="general_location",
        reason="victim_confidentiality",
        note="the hall would identify the victim",
        actor="coord",
        review_by=datetime(2027, 1, 15, tzinfo=CT),
        now=datetime(2026, 12, 22, 9, 5, tzinfo=CT),
    )
    window = window_ending(date(2026, 12, 31))
    [row] = (await export(stores, site, window)).rows
    assert row == {
        "entry": str(entry.id),
        "reported": "2026-12-01 14:00",
        "nature": "Assault",
        "occurred": "Unknown",
        "general_location": "Withheld",
        "disposition": "Open",  # "Arrest" is a draft until published
    }
    await publish(stores, entry_id=entry.id, actor="coord", now=datetime(2026, 12, 22, 10, 0, tzinfo=CT))
    [row] = (await export(stores, site, window)).rows
    assert row["disposition"] == "Arrest"


async def test_csv_parses_back_and_html_keeps_markup_as_text(stores: Stores, site: SiteConfig) -> None:
    nasty = 'Threat: note said "<script>alert(1)</script>", left at desk,\nsecond line'
    entry = await _published(stores, site, datetime(2026, 12, 5, 9, 15, tzinfo=CT), nasty)
    ranged, _ = await draft_crime(
        stores,
        site,
        "quad",
        nature="Bicycle theft",
        reported_at=datetime(2026, 12, 6, 8, 0, tzinfo=CT),
        occurred_from=datetime(2026, 12, 5, 18, 0, tzinfo=CT),
        occurred_to=datetime(2026, 12, 6, 7, 30, tzinfo=UTC),
        actor="coord",
        now=PUBLISHED_AT,
    )
    await publish(stores, entry_id=ranged.id, actor="coord", now=PUBLISHED_AT)
    log = await export(stores, site, window_ending(date(2026, 12, 31)), now=PUBLISHED_AT)

    text = render(log, "csv")
    assert text.startswith("Entry number,Date/time reported,Nature,Date/time occurred,")
    assert "\r\n" in text
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [r["Nature"] for r in rows] == ["Bicycle theft", nasty]
    assert rows[0]["Date/time occurred"] == "2026-12-05 18:00 to 2026-12-06 01:30"  # 07:30 UTC is 01:30 CST
    assert rows[0]["General location"] == "Main Quad"
    assert rows[1]["Entry number"] == str(entry.id)

    page = render(log, "html")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot;" in page  # attribute-safe quoting too
    assert "<title>Daily crime log, Northfield College</title>" in page
    assert "reported 2026-11-02 to 2026-12-31 (last 60 days)" in page

    document = json.loads(render(log, "json"))
    assert document["window"] == {"first_day": "2026-11-02", "last_day": "2026-12-31", "kind": "last_60_days"}
    assert [e["nature"] for e in document["entries"]] == ["Bicycle theft", nasty]


async def test_a_person_on_the_incident_is_never_named_in_public(stores: Stores, site: SiteConfig) -> None:
    incident = await stores.incidents.open(
        location_id="library", summary="x", priority=Priority.LOW, actor="op"
    )
    await stores.people.add(incident.id, role="victim", name="Dana Whitfield", actor="op", now=PUBLISHED_AT)
    reported = datetime(2026, 12, 2, 10, 0, tzinfo=CT)
    # The surname alone, in capitals, still names her; the draft is refused and nothing is stored.
    with pytest.raises(NamesAPerson, match="the new crime-log entry: nature contains the name") as info:
        await draft_from_incident(
            stores,
            site,
            incident_id=incident.id,
            nature="Harassment of D. WHITFIELD",
            reported_at=reported,
            actor="coord",
            now=PUBLISHED_AT,
        )
    assert "Whitfield" not in str(info.value)
    assert "Dana" not in str(info.value)
    entry, _ = await draft_from_incident(
        stores,
        site,
        incident_id=incident.id,
        nature="Harassment",
        reported_at=reported,
        actor="coord",
        now=PUBLISHED_AT,
    )
    # An update that would put the name in public text is refused too, nothing changed.
    with pytest.raises(NamesAPerson, match=rf"crime-log entry {entry.id}: disposition contains the name"):
        await update(
            stores,
            site,
            entry_id=entry.id,
            field="disposition",
            value="Whitfield\u2019s complaint closed",  # a typographic apostrophe
            actor="coord",
            now=PUBLISHED_AT,
        )
    assert (await stores.crime_log.get(entry.id)).disposition == "Open"
    await publish(stores, entry_id=entry.id, actor="coord", now=PUBLISHED_AT)
    window = window_ending(date(2026, 12, 31))
    assert [r["nature"] for r in (await export(stores, site, window, now=PUBLISHED_AT)).rows] == [
        "Harassment"
    ]

    # A name recorded after publication: the export still works, and shows that one field as
    # pending review (audited, never the name) instead of failing the whole log.
    other = await _published(stores, site, datetime(2026, 12, 3, 9, 0, tzinfo=CT), "Bicycle theft")
    await stores.people.add(incident.id, role="witness", name="Sam Library", actor="op", now=PUBLISHED_AT)
    rows = {r["entry"]: r for r in (await export(stores, site, window, now=PUBLISHED_AT)).rows}
    assert rows[str(entry.id)]["general_location"] == PENDING_REVIEW
    assert rows[str(entry.id)]["nature"] == "Harassment"
    assert rows[str(other.id)]["general_location"] == "Parking Lot B"
    assert (await public_view(stores, entry.id, now=PUBLISHED_AT))["general_location"] == PENDING_REVIEW
    audited = [a for a in await stores.audit.entries("crime_log") if a.action == "crimelog.name_hidden"]
    assert audited
    assert all(a.details == {"fields": ["general_location"]} for a in audited)
    assert all("Library" not in str(a.details) for a in audited)
    # A withheld field is not shown, so it cannot name anyone.
    await withhold(
        stores,
        entry_id=entry.id,
        field="general_location",
        reason="victim_confidentiality",
        note="names the witness",
        actor="coord",
        review_by=datetime(2099, 1, 1, tzinfo=UTC),
    )
    row = next(
        r for r in (await export(stores, site, window, now=PUBLISHED_AT)).rows if r["entry"] == str(entry.id)
    )
    assert row["general_location"] == "Withheld"


def test_export_never_fails_wholesale_over_one_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A person recorded after publication: `crimelog export` still exports the rest of the log
    (not exit 1 for all of it), and `crimelog show` does not print the name."""
    db = ["--db", f"sqlite:///{tmp_path / 'log.db'}"]
    assert main(["db", "upgrade", *db]) == 0
    assert main(["incidents", "open", "--location", "quad", "--summary", "x", *db]) == 0
    draft = ["crimelog", "draft", "--incident", "1", "--nature", "Assault on Zoe Li"]
    assert main([*draft, "--reported-at", "2026-11-20T09:00:00-06:00", *db]) == 0
    assert main(["crimelog", "publish", "1", "--actor", "coord", *db]) == 0
    assert main(["incidents", "person", "add", "1", "--role", "victim", "--name", "Zoë Li", *db]) == 0
    capsys.readouterr()

    assert main(["crimelog", "export", "--as-of", "2026-12-02", "--format", "json", *db]) == 0
    [row] = json.loads(capsys.readouterr().out)["entries"]
    assert (row["nature"], row["general_location"]) == (PENDING_REVIEW, "Main Quad")
    assert main(["crimelog", "show", "1", *db]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["nature"] == PENDING_REVIEW
    assert "Zo" not in out


async def test_updates_past_60_days_are_recorded_without_a_deadline(stores: Stores, site: SiteConfig) -> None:
    # Reported 2 Sep (CDT). Local day 60 is 1 Nov, the day daylight time ends.
    entry = await _published(stores, site, datetime(2026, 9, 2, 10, 0, tzinfo=CT))
    day_60 = await update(
        stores,
        site,
        entry_id=entry.id,
        field="disposition",
        value="Inactive",
        actor="coord",
        received_at=datetime(2026, 11, 1, 23, 30, tzinfo=CT),  # 2 Nov in UTC: day 61 there, not here
    )
    # Sunday 1 Nov -> Monday 2 (1st business day), Tuesday 3 (2nd).
    assert day_60.due_by == datetime(2026, 11, 3, 23, 59, 59, tzinfo=CT)
    day_61 = await update(
        stores,
        site,
        entry_id=entry.id,
        field="disposition",
        value="Closed",
        actor="coord",
        received_at=datetime(2026, 11, 2, 0, 30, tzinfo=CT),
    )
    assert day_61.due_by is None
    items = await pending(stores, as_of=datetime(2027, 6, 1, tzinfo=UTC))
    assert [(i.change.new_value, i.overdue) for i in items] == [("Inactive", True), ("Closed", False)]
    [published] = (await export(stores, site, window_for_request(date(2026, 9, 2), date(2026, 9, 2)))).rows
    assert published["disposition"] == "Open"  # neither update is published yet


def test_crimelog_export_and_history_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", f"sqlite:///{tmp_path / 'log.db'}"]
    assert main(["db", "upgrade", *db]) == 0
    assert main(["incidents", "open", "--location", "lot-b", "--summary", "Car broken into", *db]) == 0
    draft = ["crimelog", "draft", "--incident", "1", "--nature", "Theft from motor vehicle"]
    assert main([*draft, "--reported-at", "2026-09-02T10:00:00-05:00", *db]) == 0
    assert main(["crimelog", "publish", "1", "--actor", "coord", *db]) == 0
    late = ["--field", "disposition", "--value", "Closed", "--received-at", "2026-11-02T00:30:00-06:00"]
    assert main(["crimelog", "update", "1", *late, *db]) == 0
    capsys.readouterr()

    assert main(["crimelog", "history", "1", *db]) == 0
    out = capsys.readouterr().out
    assert "disposition: Open -> Closed" in out
    assert "due by   not required (entry older than 60 days)" in out
    assert main(["crimelog", "pending", "--as-of", "2030-01-01T00:00:00Z", "--json", *db]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["due_by"], row["overdue"]) == (None, False)

    assert (
        main(["crimelog", "export", "--from", "2026-09-01", "--to", "2026-09-30", "--format", "json", *db])
        == 0
    )
    document = json.loads(capsys.readouterr().out)
    assert [(e["entry"], e["disposition"]) for e in document["entries"]] == [("1", "Open")]

    out_file = tmp_path / "log.csv"
    argv = ["crimelog", "export", "--as-of", "2026-10-31", "--output", str(out_file), *db]
    assert main(argv) == 0
    [record] = list(csv.DictReader(io.StringIO(out_file.read_text(), newline="")))
    assert record["Date/time reported"] == "2026-09-02 10:00"  # 2 Sep is day 1 of the 60 ending 31 Oct
    assert main(["crimelog", "export", "--as-of", "2026-11-01", *db]) == 0
    assert capsys.readouterr().out.count("\r\n") == 1  # header only: 2 Sep fell out of the window

    assert main(["crimelog", "export", "--from", "2026-09-01", *db]) == 2
    assert "--from: needs --to" in capsys.readouterr().err
    assert main(["crimelog", "export", "--as-of", "2026-09-01", "--to", "2026-09-30", *db]) == 2
    assert main(["crimelog", "export", "--as-of", "31/10/2026", *db]) == 2
    assert "'31/10/2026' is not a date (YYYY-MM-DD)" in capsys.readouterr().err


async def test_withholding_either_end_of_the_occurrence_withholds_the_whole_time_occurred(
    stores: Stores, site: SiteConfig
) -> None:
    """Before: with only occurred_from withheld the export printed "Withheld to 2026-11-25 15:00"."""
    entry, _ = await draft_crime(
        stores,
        site,
        "lot-b",
        nature="Theft",
        reported_at=datetime(2026, 11, 25, 16, 0, tzinfo=CT),
        occurred_from=datetime(2026, 11, 25, 13, 0, tzinfo=CT),
        occurred_to=datetime(2026, 11, 25, 15, 0, tzinfo=CT),
        now=PUBLISHED_AT,
    )
    await publish(stores, entry_id=entry.id, actor="coord", now=PUBLISHED_AT)
    window = window_ending(date(2026, 12, 31))
    for field in ("occurred_from", "occurred_to"):
        held = await withhold(
            stores,
            entry_id=entry.id,
            field=field,
            reason="ongoing_investigation",
            note="the time would tip off the suspect",
            actor="coord",
            review_by=datetime(2027, 1, 15, tzinfo=CT),
            now=PUBLISHED_AT,
        )
        [row] = (await export(stores, site, window, now=PUBLISHED_AT)).rows
        assert row["occurred"] == "Withheld"
        shown = await public_view(stores, entry.id, now=PUBLISHED_AT)
        assert (shown["occurred_from"], shown["occurred_to"]) == ("Withheld", "Withheld")
        await release(stores, entry_id=held.entry_id, field=field, actor="coord", now=PUBLISHED_AT)
    [row] = (await export(stores, site, window, now=PUBLISHED_AT)).rows
    assert row["occurred"] == "2026-11-25 13:00 to 2026-11-25 15:00"
