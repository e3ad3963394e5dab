"""Daily crime log drafts, updates and publishing, with deadlines proven per change (both backends)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.crimelog_helpers import draft_crime
from vmsbridge.app import Stores
from vmsbridge.clery.crimelog import (
    draft_from_incident,
    pending,
    public_view,
    publish,
    release,
    update,
    withhold,
)
from vmsbridge.clery.publiclog import NamesAPerson
from vmsbridge.cli.main import main
from vmsbridge.config import SiteConfig
from vmsbridge.errors import NotFound, ValidationFailed
from vmsbridge.model import Priority
from vmsbridge.model.crimelog import CrimeLogEntry, Withholding
from vmsbridge.store.crimelog import AlreadyWithheld

# No name of a person these tests record may reach a log line (tests/personal_data.py).
pytestmark = pytest.mark.person_data(names=["Zo\u00eb Li", "Zoe Li"])
CT = ZoneInfo("America/Chicago")


async def test_a_draft_gets_its_deadline_and_each_update_its_own(stores: Stores, site: SiteConfig) -> None:
    reported = datetime(2026, 11, 25, 8, 0, tzinfo=CT)  # Wednesday before Thanksgiving
    entry, first = await draft_crime(
        stores,
        site,
        "maple-hall",
        nature="Burglary (forced entry)",
        reported_at=reported,
        occurred_from=datetime(2026, 11, 24, 23, 0, tzinfo=CT),
        occurred_to=datetime(2026, 11, 25, 6, 0, tzinfo=CT),
        summary="Door forced",
        priority=Priority.HIGH,
    )
    assert entry.status == "draft"
    assert entry.general_location == "Residence hall, north campus"  # the public label, not the room
    assert first.due_by == datetime(2026, 12, 1, 23, 59, 59, tzinfo=CT)  # Thu holiday, Fri closure, weekend

    # Monday 30 Nov, 10:00: still in time; Wednesday 2 Dec: overdue.
    [item] = await pending(stores, as_of=datetime(2026, 11, 30, 10, 0, tzinfo=CT))
    assert not item.overdue
    [item] = await pending(stores, as_of=datetime(2026, 12, 2, 0, 0, tzinfo=CT))
    assert item.overdue

    await publish(stores, entry_id=entry.id, actor="coord", now=datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    assert await pending(stores, as_of=datetime(2026, 12, 2, tzinfo=CT)) == []

    change = await update(
        stores,
        site,
        entry_id=entry.id,
        field="disposition",
        value="Arrest",
        actor="coord",
        received_at=datetime(2026, 12, 4, 15, 0, tzinfo=CT),  # a Friday
        now=datetime(2026, 12, 4, 15, 30, tzinfo=CT),
    )
    assert (change.old_value, change.new_value) == ("Open", "Arrest")
    assert change.due_by == datetime(2026, 12, 8, 23, 59, 59, tzinfo=CT)
    [item] = await pending(stores, as_of=datetime(2026, 12, 7, tzinfo=CT))
    assert (item.change.field, item.overdue) == ("disposition", False)
    published = await publish(
        stores, entry_id=entry.id, actor="coord", now=datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    )
    assert published.disposition == "Arrest"
    assert published.published_at == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # the first publication stands
    history = await stores.crime_log.changes(entry.id)
    assert [(c.field, c.published_at is not None) for c in history] == [
        ("entry", True),
        ("disposition", True),
    ]
    actions = [e.action for e in await stores.audit.entries("crime_log", entry.id)]
    assert actions == ["crimelog.drafted", "crimelog.published", "crimelog.changed", "crimelog.published"]


async def test_bad_input_is_refused_with_the_field_named(stores: Stores, site: SiteConfig) -> None:
    incident = await stores.incidents.open(location_id="quad", summary="x", priority=Priority.LOW, actor="op")
    with pytest.raises(ValidationFailed) as info:
        await draft_from_incident(
            stores,
            site,
            incident_id=incident.id,
            nature="Theft",
            reported_at=datetime(2026, 11, 25, 8, 0),
            actor="c",
        )
    assert info.value.fields == {"reported_at"}
    entry, _ = await draft_from_incident(
        stores,
        site,
        incident_id=incident.id,
        nature="Theft",
        reported_at=datetime(2026, 11, 25, 8, 0, tzinfo=UTC),
        actor="c",
    )
    with pytest.raises(ValidationFailed, match="'victim_name' is not one of") as info:
        await update(stores, site, entry_id=entry.id, field="victim_name", value="x", actor="c")
    assert info.value.fields == {"field"}
    with pytest.raises(ValidationFailed, match="not an ISO 8601 time") as info:
        await update(stores, site, entry_id=entry.id, field="occurred_from", value="yesterday", actor="c")
    assert info.value.fields == {"value"}


def test_crimelog_cli_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", f"sqlite:///{tmp_path / 'log.db'}"]
    assert main(["db", "upgrade", *db]) == 0
    assert main(["incidents", "open", "--location", "lot-b", "--summary", "Car broken into", *db]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "crimelog",
                "draft",
                "--incident",
                "1",
                "--nature",
                "Theft from motor vehicle",
                "--reported-at",
                "2026-11-13T16:30:00-06:00",
                "--json",
                *db,
            ]
        )
        == 0
    )
    draft = json.loads(capsys.readouterr().out)
    assert draft["id"] == 1
    assert draft["due_by"] == "2026-11-17T23:59:59-06:00"  # Tuesday 17th, in the site's time zone
    assert main(["crimelog", "pending", "--as-of", "2026-11-18T12:00:00Z", "--json", *db]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["overdue"] is True
    assert (row["entry"], row["change"]) == (1, "entry")
    assert isinstance(row["incident"], int)
    assert main(["crimelog", "publish", "1", "--actor", "coord", *db]) == 0
    capsys.readouterr()
    assert (
        main(["crimelog", "update", "1", "--field", "disposition", "--value", "Closed", "--json", *db]) == 0
    )
    assert json.loads(capsys.readouterr().out)["due_by"].endswith("-06:00")  # as the draft prints it
    withhold_argv = [
        "crimelog",
        "withhold",
        "1",
        "--field",
        "disposition",
        "--reason",
        "ongoing_investigation",
    ]
    withhold_argv += [
        "--note",
        "suspect not yet interviewed",
        "--review-by",
        "2099-01-01T00:00:00Z",
        "--actor",
        "det",
    ]
    assert main([*withhold_argv, *db]) == 0
    capsys.readouterr()
    assert main(["crimelog", "show", "1", *db]) == 0
    assert json.loads(capsys.readouterr().out)["disposition"] == "Withheld"
    assert main(["crimelog", "release", "1", "--field", "disposition", "--actor", "det", *db]) == 0
    assert main(["crimelog", "release", "1", "--field", "disposition", "--actor", "det", *db]) == 1
    capsys.readouterr()
    assert (
        main(["crimelog", "draft", "--incident", "1", "--nature", "x", "--reported-at", "2026-11-13", *db])
        == 2
    )
    assert "needs a time zone" in capsys.readouterr().err


async def test_a_withheld_field_needs_a_legal_reason_shows_as_withheld_and_is_released_later(
    stores: Stores, site: SiteConfig
) -> None:
    entry, _ = await draft_crime(
        stores,
        site,
        "maple-hall",
        nature="Sexual assault",
        reported_at=datetime(2026, 11, 25, 8, 0, tzinfo=CT),
        priority=Priority.HIGH,
    )
    now = datetime(2026, 11, 25, 9, 0, tzinfo=CT)
    with pytest.raises(ValidationFailed) as info:
        await withhold(
            stores,
            entry_id=entry.id,
            field="general_location",
            reason="embarrassment",
            note="",
            actor="coord",
            review_by=now - timedelta(days=1),
            now=now,
        )
    assert info.value.fields == {"note", "reason", "review_by"}
    kept = await withhold(
        stores,
        entry_id=entry.id,
        field="general_location",
        reason="victim_confidentiality",
        note="small building: the location would identify her",
        actor="coord",
        review_by=now + timedelta(days=14),
        now=now,
    )
    assert (await public_view(stores, entry.id))["general_location"] == "Withheld"
    assert (await public_view(stores, entry.id))["nature"] == "Sexual assault"
    released = await release(
        stores, entry_id=entry.id, field="general_location", actor="coord", now=now + timedelta(days=3)
    )
    assert released.id == kept.id
    assert released.released_at == now + timedelta(days=3)
    assert (await public_view(stores, entry.id))["general_location"] == "Residence hall, north campus"
    actions = [e.action for e in await stores.audit.entries("crime_log", entry.id)]
    assert actions == ["crimelog.drafted", "crimelog.withheld", "crimelog.released"]


async def test_a_field_is_withheld_once_so_one_release_makes_it_public_again(
    stores: Stores, site: SiteConfig
) -> None:
    entry, _ = await draft_crime(
        stores,
        site,
        "lot-b",
        nature="Robbery",
        reported_at=datetime(2026, 11, 25, 8, 0, tzinfo=CT),
        priority=Priority.HIGH,
    )
    now = datetime(2026, 11, 25, 9, 0, tzinfo=CT)

    async def hold(at: datetime) -> Withholding:
        return await withhold(
            stores,
            entry_id=entry.id,
            field="nature",
            reason="ongoing_investigation",
            note="suspect not yet identified",
            actor="coord",
            review_by=at + timedelta(days=7),
            now=at,
        )

    first = await hold(now)
    with pytest.raises(AlreadyWithheld, match=r"'nature' of crime-log entry \d+ is already withheld"):
        await hold(now + timedelta(hours=1))
    assert [w.id for w in await stores.crime_log.withholdings(entry.id)] == [first.id]

    await release(stores, entry_id=entry.id, field="nature", actor="coord", now=now + timedelta(days=2))
    assert (await public_view(stores, entry.id))["nature"] == "Robbery"
    with pytest.raises(NotFound, match="is not withheld"):
        await release(stores, entry_id=entry.id, field="nature", actor="coord", now=now + timedelta(days=3))
    # Withheld again later (new harm): a new withholding with its own times.
    again = await hold(now + timedelta(days=4))
    assert again.id != first.id
    assert (await public_view(stores, entry.id))["nature"] == "Withheld"


async def test_release_refuses_a_field_that_would_name_a_person(stores: Stores, site: SiteConfig) -> None:
    """Before: release made a withheld field public unchecked, and show printed the name."""
    now = datetime(2026, 11, 25, 9, 0, tzinfo=CT)
    entry, _ = await draft_crime(
        stores, site, "quad", nature="Assault", reported_at=datetime(2026, 11, 25, 8, 0, tzinfo=CT), now=now
    )
    await withhold(
        stores,
        entry_id=entry.id,
        field="nature",
        reason="victim_confidentiality",
        note="the nature names her",
        actor="coord",
        review_by=now + timedelta(days=7),
        now=now,
    )
    # While withheld, the text is not public, so it may say more; a victim is recorded later.
    await update(
        stores, site, entry_id=entry.id, field="nature", value="Assault on Zoe Li", actor="c", now=now
    )
    assert entry.incident_id is not None
    await stores.people.add(entry.incident_id, role="victim", name="Zoë Li", actor="op", now=now)
    await publish(stores, entry_id=entry.id, actor="coord", now=now)

    with pytest.raises(NamesAPerson, match=rf"crime-log entry {entry.id}: nature contains the name") as info:
        await release(stores, entry_id=entry.id, field="nature", actor="coord", now=now)
    assert "Zo" not in str(info.value)
    assert (await stores.crime_log.withheld_fields([entry.id]))[entry.id] == {"nature"}  # nothing changed
    assert (await public_view(stores, entry.id, now=now))["nature"] == "Withheld"

    await update(stores, site, entry_id=entry.id, field="nature", value="Assault", actor="c", now=now)
    await release(stores, entry_id=entry.id, field="nature", actor="coord", now=now)
    assert (await public_view(stores, entry.id, now=now))["nature"] == "Assault"


async def test_times_in_the_future_or_before_the_report_are_refused(stores: Stores, site: SiteConfig) -> None:
    """Before: a future --received-at gave no deadline, one before the report an old deadline, and
    a future --reported-at was accepted."""
    now = datetime(2026, 11, 25, 12, 0, tzinfo=CT)
    incident = await stores.incidents.open(location_id="quad", summary="x", priority=Priority.LOW, actor="op")

    async def draft_at(
        reported: datetime, occurred_from: datetime | None = None, occurred_to: datetime | None = None
    ) -> CrimeLogEntry:
        entry, _ = await draft_from_incident(
            stores,
            site,
            incident_id=incident.id,
            nature="Theft",
            reported_at=reported,
            actor="c",
            occurred_from=occurred_from,
            occurred_to=occurred_to,
            now=now,
        )
        return entry

    with pytest.raises(ValidationFailed) as info:
        await draft_at(now + timedelta(hours=1), occurred_from=now + timedelta(days=1))
    assert [p.field for p in info.value.problems] == ["reported_at", "occurred_from"]
    assert "is in the future" in str(info.value.problems[0])
    with pytest.raises(ValidationFailed) as info:
        await draft_at(now, occurred_from=now - timedelta(hours=1), occurred_to=now - timedelta(hours=2))
    [inverted] = info.value.problems
    assert (inverted.field, inverted.reason, inverted.related) == (
        "occurred_to",
        "is before occurred_from",
        ("occurred_from",),
    )
    entry = await draft_at(now + timedelta(minutes=4))  # a workstation clock a little ahead is fine

    async def change(field: str, value: str, received: datetime | None = None) -> None:
        await update(
            stores,
            site,
            entry_id=entry.id,
            field=field,
            value=value,
            actor="c",
            received_at=received,
            now=now,
        )

    with pytest.raises(ValidationFailed) as info:
        await change("disposition", "Closed", now + timedelta(days=2))
    assert info.value.fields == {"received_at"}
    assert "in the future" in str(info.value.problems[0])
    with pytest.raises(ValidationFailed) as info:
        await change("disposition", "Closed", datetime(2020, 1, 1, tzinfo=UTC))
    assert info.value.fields == {"received_at"}
    assert "before the entry was reported" in str(info.value.problems[0])
    with pytest.raises(ValidationFailed) as info:
        await change("occurred_from", (now + timedelta(days=1)).isoformat())
    assert info.value.fields == {"value"}
    # An inverted range is refused whichever end is changed, as the draft refuses it.
    await change("occurred_from", "2026-11-25T10:00:00-06:00")
    with pytest.raises(ValidationFailed) as info:
        await change("occurred_to", "2026-11-25T09:00:00-06:00")
    assert info.value.fields == {"value"}
    assert "would be before occurred_from" in str(info.value.problems[0])
    await change("occurred_to", "2026-11-25T11:00:00-06:00")
    with pytest.raises(ValidationFailed) as info:
        await change("occurred_from", "2026-11-25T11:30:00-06:00")
    assert info.value.fields == {"value"}
    assert [c.field for c in await stores.crime_log.changes(entry.id)] == [
        "entry",
        "occurred_from",
        "occurred_to",
    ]


async def test_an_occurrence_cannot_start_after_it_was_reported(stores: Stores, site: SiteConfig) -> None:
    """Before: an occurrence starting after the report was accepted, by draft and by update."""
    now = datetime(2026, 11, 25, 12, 0, tzinfo=CT)
    reported = datetime(2026, 11, 25, 8, 0, tzinfo=CT)
    with pytest.raises(ValidationFailed) as info:
        await draft_crime(
            stores,
            site,
            "quad",
            nature="Theft",
            reported_at=reported,
            occurred_from=reported + timedelta(hours=1),
            now=now,
        )
    [late] = info.value.problems
    assert (late.field, late.related) == ("occurred_from", ("reported_at",))
    assert "after reported_at" in late.reason
    entry, _ = await draft_crime(
        stores, site, "quad", nature="Theft", reported_at=reported, occurred_from=reported, now=now
    )
    with pytest.raises(ValidationFailed) as info:
        await update(
            stores,
            site,
            entry_id=entry.id,
            field="occurred_from",
            value="2026-11-25T09:00:00-06:00",
            actor="c",
            now=now,
        )
    assert info.value.fields == {"value"}
    assert "would be after the entry was reported" in str(info.value.problems[0])
    assert [c.field for c in await stores.crime_log.changes(entry.id)] == ["entry"]


def test_json_and_show_print_times_with_the_site_offset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: pending --json and history --json printed due_by in UTC (+00:00) while draft printed
    the site offset, and show printed reported_at in UTC."""
    db = ["--db", f"sqlite:///{tmp_path / 'log.db'}"]
    assert main(["db", "upgrade", *db]) == 0
    assert main(["incidents", "open", "--location", "lot-b", "--summary", "Car broken into", *db]) == 0
    draft_argv = ["crimelog", "draft", "--incident", "1", "--nature", "Theft from motor vehicle"]
    draft_argv += ["--reported-at", "2026-11-13T22:30:00Z", "--occurred-from", "2026-11-13T21:00:00Z"]
    assert main([*draft_argv, *db]) == 0
    capsys.readouterr()
    assert main(["crimelog", "pending", "--as-of", "2026-11-18T12:00:00Z", "--json", *db]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["due_by"] == "2026-11-17T23:59:59-06:00"
    assert row["received_at"] == "2026-11-13T16:30:00-06:00"
    assert main(["crimelog", "publish", "1", "--actor", "coord", *db]) == 0
    capsys.readouterr()
    assert main(["crimelog", "history", "1", "--json", *db]) == 0
    [change] = json.loads(capsys.readouterr().out)
    assert change["due_by"] == "2026-11-17T23:59:59-06:00"
    assert change["info_received_at"] == "2026-11-13T16:30:00-06:00"
    assert change["published_at"].endswith("-06:00")
    assert main(["crimelog", "show", "1", *db]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["reported_at"] == "2026-11-13T16:30:00-06:00"
    assert shown["occurred_from"] == "2026-11-13T15:00:00-06:00"


def test_withholdings_show_in_history_and_pending_flags_a_passed_review(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: a withholding could be set but never seen: history left it out and pending never
    flagged a review date that had passed."""
    db = ["--db", f"sqlite:///{tmp_path / 'log.db'}"]
    assert main(["db", "upgrade", *db]) == 0
    assert main(["incidents", "open", "--location", "lot-b", "--summary", "Car broken into", *db]) == 0
    draft_argv = ["crimelog", "draft", "--incident", "1", "--nature", "Theft from motor vehicle"]
    assert main([*draft_argv, "--reported-at", "2026-11-13T16:30:00-06:00", *db]) == 0
    assert main(["crimelog", "publish", "1", "--actor", "coord", *db]) == 0
    withhold_argv = ["crimelog", "withhold", "1", "--field", "disposition", "--reason", "suspect_flight"]
    withhold_argv += ["--note", "suspect not yet found", "--review-by", "2099-01-01T06:00:00Z"]
    assert main([*withhold_argv, "--actor", "det", *db]) == 0
    capsys.readouterr()

    assert main(["crimelog", "pending", "--as-of", "2098-12-31T00:00:00Z", "--json", *db]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["crimelog", "pending", "--as-of", "2099-01-02T00:00:00Z", "--json", *db]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["type"], row["entry"], row["field"], row["reason"], row["actor"]) == (
        "review_overdue",
        1,
        "disposition",
        "suspect_flight",
        "det",
    )
    assert (row["review_by"], row["overdue"]) == ("2099-01-01T00:00:00-06:00", True)
    assert main(["crimelog", "pending", "--as-of", "2099-01-02T00:00:00Z", *db]) == 0
    out = capsys.readouterr().out
    assert "REVIEW OVERDUE" in out
    assert "suspect_flight" in out

    assert main(["crimelog", "history", "1", "--json", *db]) == 0
    [drafted, held] = json.loads(capsys.readouterr().out)
    assert (drafted["type"], held["type"]) == ("change", "withholding")
    assert (held["field"], held["reason"], held["note"], held["actor"]) == (
        "disposition",
        "suspect_flight",
        "suspect not yet found",
        "det",
    )
    assert held["review_by"] == "2099-01-01T00:00:00-06:00"
    assert held["withheld_at"] is not None
    assert (held["released_at"], held["released_by"]) == (None, None)

    assert main(["crimelog", "release", "1", "--field", "disposition", "--actor", "chief", *db]) == 0
    capsys.readouterr()
    assert main(["crimelog", "history", "1", "--json", *db]) == 0
    held = json.loads(capsys.readouterr().out)[1]
    assert held["released_by"] == "chief"
    assert held["released_at"].endswith(("-06:00", "-05:00"))
    assert main(["crimelog", "history", "1", *db]) == 0
    text = capsys.readouterr().out
    assert "withheld (suspect_flight)" in text
    assert "suspect not yet found" in text
    assert "by chief" in text
    assert main(["crimelog", "pending", "--as-of", "2099-01-02T00:00:00Z", "--json", *db]) == 0
    assert json.loads(capsys.readouterr().out) == []  # released: nothing to review
