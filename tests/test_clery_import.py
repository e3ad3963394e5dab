"""Importing Clery records (store and CLI, SQLite and PostgreSQL): bad lines by number, upsert by case."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _create_pg_database, _drop_pg_database
from vmsbridge.app import Stores
from vmsbridge.clery.records import import_records, parse_lines
from vmsbridge.cli.main import main
from vmsbridge.config import SiteConfig
from vmsbridge.model.offenses import OffenseCode

# No name of a person these tests record may reach a log line (tests/personal_data.py).
pytestmark = pytest.mark.person_data(names=["Sam Poe", "Ann Lee", "Zo\u00eb Li"])
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LOCATIONS = {"quad", "maple-hall", "lot-b"}


def line(**fields: Any) -> str:
    record: dict[str, Any] = {
        "case_number": "26-0001",
        "reported_at": "2026-03-02T08:15:00-06:00",
        "location": "maple-hall",
        "offenses": [
            {"code": "burglary", "attempted": False, "bias": None, "nature": "Burglary, forced door"}
        ],
        "arrests": [],
        "unfounded": False,
        "disposition": "Open",
    }
    record.update(fields)
    return json.dumps(record)


def test_each_bad_line_is_named_with_its_number_and_reason() -> None:
    lines = [
        line(case_number="26-0001"),
        line(case_number="26-0002", reported_at="2026-03-02T08:15:00"),
        "",  # blank lines are skipped but still numbered
        '{"case_number": "26-0003", ',
        line(case_number="26-0004", offenses=[{"code": "negligent_manslaughter", "attempted": True}]),
        line(case_number="26-0005", location="the-moon"),
        line(
            case_number="26-0006", arrests=[{"person": "Sam Poe", "violation": "drugs", "action": "arrest"}]
        ),
        line(case_number="26-0007", offenses=[], arrests=[]),
        line(case_number="26-0008", unfounded="yes"),
        line(case_number="26-0009", offenses=[{"code": "robbery", "bias": "height"}], extra=1),
        line(case_number="26-0010", occurred_from="2026-03-02T08:00:00Z", occurred_to="2026-03-01T08:00:00Z"),
        line(case_number="26-0011"),
    ]
    parsed = parse_lines(lines, LOCATIONS)
    assert [n for n, _ in parsed.records] == [1, 12]
    reasons = {r.line: r.reason for r in parsed.rejected}
    assert sorted(reasons) == [2, 4, 5, 6, 7, 8, 9, 10, 11]
    assert reasons[2].startswith("reported_at: expected an ISO 8601 time with a UTC offset")
    assert reasons[4].startswith("not valid JSON")
    assert (
        reasons[5]
        == "offenses[0]: negligent manslaughter cannot be attempted (it is unintended by definition)"
    )
    assert reasons[6] == "location: is not a location id of the site config"
    assert reasons[7] == "arrests[0].violation: is not one of 'liquor', 'drug' or 'weapons'"
    assert "Sam Poe" not in reasons[7]
    assert reasons[8].startswith("record: a record needs at least one offense or arrest")
    assert reasons[9] == "unfounded: Input should be a valid boolean"
    assert reasons[10].startswith("offenses[0].bias: is not one of 'race', 'religion'")
    assert reasons[10].endswith("; extra: unknown field")
    assert reasons[11] == "record: occurred_to is before occurred_from"


def test_a_name_in_the_wrong_field_is_never_echoed() -> None:
    """Before: an enum, the location and the case number repeated the bad value, so a records
    system that shifted its columns had a person's name printed and audited."""
    name = "Zo\u00eb Li"
    lines = [
        line(arrests=[{"person": "drug", "violation": name, "action": "arrest"}]),
        line(location=name),
        line(case_number=name),
        line(reported_at=name),
        line(offenses=[{"code": name}]),
        line(arrests=[{"person": 42, "violation": "drug", "action": "arrest"}]),
        line(unfounded=name),
    ]
    reasons = [str(r) for r in parse_lines(lines, LOCATIONS).rejected]
    assert [r.split(":")[0:2] for r in reasons] == [
        ["line 1", " arrests[0].violation"],
        ["line 2", " location"],
        ["line 3", " case_number"],
        ["line 4", " reported_at"],
        ["line 5", " offenses[0].code"],
        ["line 6", " arrests[0].person"],
        ["line 7", " unfounded"],
    ]
    for reason in reasons:
        assert "Zo" not in reason
        assert "42" not in reason


def test_person_names_are_numbered_by_first_appearance() -> None:
    arrests = [
        {"person": "Sam  Poe", "violation": "drug", "action": "arrest"},
        {"person": "Ann Lee", "violation": "liquor", "action": "referral"},
        {"person": "sam poe", "violation": "drug", "action": "referral"},
    ]
    [(_, item)] = parse_lines([line(arrests=arrests)], LOCATIONS).records
    assert item.persons == ("Sam Poe", "Ann Lee")
    assert [(a.person, a.violation.value, a.action.value) for a in item.record.arrests] == [
        (1, "drug", "arrest"),
        (2, "liquor", "referral"),
        (1, "drug", "referral"),
    ]


async def test_good_lines_import_bad_ones_are_reported_and_audited(stores: Stores, site: SiteConfig) -> None:
    lines = [
        line(case_number="26-0001"),
        "not json",
        line(
            case_number="26-0002",
            location="quad",
            offenses=[],
            arrests=[{"person": "Sam Poe", "violation": "drug", "action": "arrest"}],
        ),
    ]
    report = await import_records(stores, site, lines, source="rms.jsonl", actor="coord", now=NOW)
    assert (report.imported, report.updated) == (("26-0001", "26-0002"), ())
    assert [(r.line, r.reason[:14]) for r in report.rejected] == [(2, "not valid JSON")]
    stored = await stores.clery_records.get("26-0001")
    assert stored.reported_at == datetime(2026, 3, 2, 14, 15, tzinfo=UTC)
    assert stored.offenses[0].code is OffenseCode.BURGLARY
    assert stored.offenses[0].nature == "Burglary, forced door"
    assert await stores.clery_records.persons("26-0002") == ("Sam Poe",)
    [entry] = await stores.audit.entries("clery_import", "rms.jsonl")
    assert (entry.actor, entry.action) == ("coord", "clery.imported")
    assert entry.details == {
        "imported": ["26-0001", "26-0002"],
        "updated": [],
        "rejected": [{"line": 2, "reason": report.rejected[0].reason}],
    }
    assert "Sam Poe" not in json.dumps(entry.details)


async def test_reimporting_a_case_updates_it_and_replaces_its_people(
    stores: Stores, site: SiteConfig
) -> None:
    first = line(
        case_number="26-0009",
        offenses=[{"code": "robbery"}],
        arrests=[
            {"person": "Sam Poe", "violation": "drug", "action": "arrest"},
            {"person": "Ann Lee", "violation": "drug", "action": "arrest"},
        ],
    )
    await import_records(
        stores, site, [first, line(case_number="26-0010")], source="a.jsonl", actor="x", now=NOW
    )
    changed = line(
        case_number="26-0009",
        offenses=[{"code": "robbery"}],
        arrests=[{"person": "Ann Lee", "violation": "weapons", "action": "referral"}],
        unfounded=True,
        disposition="Unfounded",
    )
    # The same case twice in one file: the later line is the newer state.
    report = await import_records(
        stores, site, [line(case_number="26-0009"), changed], source="b.jsonl", actor="x", now=NOW
    )
    assert (report.imported, report.updated) == ((), ("26-0009",))
    records = await stores.clery_records.records()
    assert [r.case_number for r in records] == ["26-0009", "26-0010"]
    updated = await stores.clery_records.get("26-0009")
    assert (updated.unfounded, updated.disposition) == (True, "Unfounded")
    assert [(a.person, a.violation.value) for a in updated.arrests] == [(1, "weapons")]
    assert await stores.clery_records.persons("26-0009") == ("Ann Lee",)


async def test_records_can_be_selected_by_report_time(stores: Stores, site: SiteConfig) -> None:
    lines = [
        line(case_number="old", reported_at="2023-12-31T23:59:59-06:00"),
        line(case_number="new", reported_at="2024-01-01T00:00:00-06:00"),
    ]
    await import_records(stores, site, lines, source="t", actor="x", now=NOW)
    chosen = await stores.clery_records.records(reported_from=datetime(2024, 1, 1, 6, 0, tzinfo=UTC))
    assert [r.case_number for r in chosen] == ["new"]


# -- the command line, on both backends


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def cli_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'clery.db'}"
        assert main(["db", "upgrade", "--db", url]) == 0
        yield ["--db", url]
        return
    url = asyncio.run(_create_pg_database())
    try:
        assert main(["db", "upgrade", "--db", url]) == 0
        yield ["--db", url]
    finally:
        asyncio.run(_drop_pg_database(url))


RMS = [
    # Robbery + burglary + arson in student housing, and a religion-biased vandalism.
    line(
        case_number="26-0101",
        offenses=[
            {"code": "robbery"},
            {"code": "burglary"},
            {"code": "arson"},
            {"code": "vandalism", "bias": "religion"},
        ],
    ),
    # Reported 00:30 on New Year's Day (Chicago), occurred the evening before: a 2026 statistic.
    line(
        case_number="26-0102",
        reported_at="2026-01-01T00:30:00-06:00",
        occurred_from="2025-12-31T21:00:00-06:00",
        location="lot-b",
        offenses=[{"code": "murder"}, {"code": "rape"}, {"code": "domestic_violence"}],
    ),
    line(
        case_number="26-0103",
        location="quad",
        offenses=[],
        arrests=[
            {"person": "Sam Poe", "violation": "drug", "action": "arrest"},
            {"person": "Sam Poe", "violation": "drug", "action": "referral"},
            {"person": "Ann Lee", "violation": "liquor", "action": "referral"},
        ],
    ),
    line(case_number="25-0900", reported_at="2025-06-01T12:00:00-05:00", unfounded=True),
    "{oops",
]


def test_cli_import_asr_and_explain(
    cli_db: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rms = tmp_path / "rms.jsonl"
    rms.write_text("\n".join(RMS) + "\n", encoding="utf-8")
    assert main(["clery", "import", str(rms), "--actor", "coord", *cli_db]) == 1  # a line was rejected
    out = capsys.readouterr().out
    summary, rejected = out.splitlines()
    assert summary == "rms.jsonl: imported 4, updated 0, rejected 1"
    assert rejected.startswith("line 5: not valid JSON (")
    assert main(["clery", "import", str(rms), "--json", *cli_db]) == 1
    again = json.loads(capsys.readouterr().out)
    assert (again["imported"], again["updated"]) == (0, 4)
    assert [r["line"] for r in again["rejected"]] == [5]

    assert main(["clery", "asr", "--year", "2026", "--json", *cli_db]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["years"] == ["2024", "2025", "2026"]
    assert report["unfounded"] == {"2024": 0, "2025": 1, "2026": 0}
    counts = report["counts"]
    housing = {"on_campus": 1, "on_campus_housing": 1, "noncampus": 0, "public_property": 0}
    on_campus = {"on_campus": 1, "on_campus_housing": 0, "noncampus": 0, "public_property": 0}
    nothing = {"on_campus": 0, "on_campus_housing": 0, "noncampus": 0, "public_property": 0}
    assert counts["criminal_offenses"]["robbery"]["2026"] == housing
    assert counts["criminal_offenses"]["burglary"]["2026"] == nothing
    assert counts["criminal_offenses"]["arson"]["2026"] == housing
    assert counts["criminal_offenses"]["murder"]["2026"] == on_campus
    assert counts["criminal_offenses"]["rape"]["2026"] == on_campus
    assert counts["criminal_offenses"]["murder"]["2025"] == nothing
    assert counts["vawa_offenses"]["domestic_violence"]["2026"] == on_campus
    assert counts["hate_crimes"]["vandalism:religion"]["2026"] == housing
    assert counts["arrests"]["drug"]["2026"] == on_campus
    assert counts["disciplinary_referrals"]["drug"]["2026"] == nothing
    assert counts["disciplinary_referrals"]["liquor"]["2026"] == on_campus
    assert counts["criminal_offenses"]["burglary"]["2025"] == nothing  # the unfounded 2025 burglary

    html_file = tmp_path / "asr.html"
    assert (
        main(["clery", "asr", "--year", "2026", "--format", "html", "--output", str(html_file), *cli_db]) == 0
    )
    page = html_file.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "Sam Poe" not in page
    assert main(["clery", "asr", "--year", "2026", "--format", "csv", *cli_db]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert ["arrests", "drug", "on_campus", "0", "0", "1"] in rows

    assert main(["clery", "explain", "26-0103", *cli_db]) == 0
    explained = capsys.readouterr().out
    assert "person #1 drug referral: not counted in disciplinary_referrals/drug" in explained
    assert "the arrest suppresses the referral" in explained
    assert "Sam Poe" not in explained
    assert "Ann Lee" not in explained
    assert main(["clery", "explain", "26-0102", "--json", *cli_db]) == 0
    decisions = json.loads(capsys.readouterr().out)
    assert [(d["item"], d["counted"], d["year"]) for d in decisions] == [
        ("offense #1 (murder)", True, 2026),
        ("offense #2 (rape)", True, 2026),
        ("offense #3 (domestic_violence)", True, 2026),
    ]
    assert main(["clery", "explain", "no-such-case", *cli_db]) == 1
    assert "no Clery record with case number 'no-such-case'" in capsys.readouterr().err


def test_cli_import_of_an_unreadable_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", f"sqlite:///{tmp_path / 'x.db'}"]
    assert main(["db", "upgrade", *db]) == 0
    assert main(["clery", "import", str(tmp_path / "missing.jsonl"), *db]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["clery", "asr", "--year", "1066", *db]) == 2
    assert "--year: 1066 is not between 1992 and 9999" in capsys.readouterr().err


def test_times_out_of_range_or_ahead_of_the_import_are_rejected_by_line() -> None:
    lines = [
        line(case_number="26-0201", reported_at="9999-12-31T23:00:00-14:00"),
        line(case_number="26-0202", occurred_from="0001-01-01T00:00:00+14:00"),
        line(case_number="26-0203", reported_at="2026-11-27T12:00:00Z"),  # two days after NOW
        line(case_number="26-0204", reported_at="2026-11-26T11:00:00Z"),  # within a day: clocks differ
    ]
    parsed = parse_lines(lines, LOCATIONS, NOW)
    assert [str(r) for r in parsed.rejected] == [
        "line 1: reported_at: out of range once converted to UTC",
        "line 2: occurred_from: out of range once converted to UTC",
        "line 3: reported_at: more than 1 day after the time of import",
    ]
    assert [n for n, _ in parsed.records] == [4]


def test_cli_import_of_a_time_out_of_range_names_the_line_and_keeps_the_rest(
    cli_db: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rms = tmp_path / "rms.jsonl"
    far = line(case_number="26-0301", reported_at="9999-12-31T23:00:00-14:00")
    rms.write_text(far + "\n" + line(case_number="26-0302") + "\n", encoding="utf-8")
    assert main(["clery", "import", str(rms), "--actor", "coord", *cli_db]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "rms.jsonl: imported 1, updated 0, rejected 1",
        "line 1: reported_at: out of range once converted to UTC",
    ]
