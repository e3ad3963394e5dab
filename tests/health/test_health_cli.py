"""`vmsbridge health` over real stored events, runs and incidents, on SQLite and PostgreSQL.

The story (UTC, 20 Nov 2026): the bridge runs 00:00-02:00 and dies (last heartbeat 02:00), is
restarted at 03:00 and stopped cleanly at 06:00. The library camera loses contact 01:00-01:30;
the Lot B camera loses it at 01:45 and the run that knew it died at 02:00. An incident in the
library spans 01:20-01:40, straddling the end of the library's gap.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from vmsbridge.app import Stores
from vmsbridge.cli.main import main
from vmsbridge.model import Event, EventKind, Priority
from vmsbridge.model.events import AcceptedEvent
from vmsbridge.store.tables import BridgeRunRow, IncidentRow

T0 = datetime(2026, 11, 20, tzinfo=UTC)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def event(
    n: int, kind: EventKind, device: str, location: str, at: datetime, **attrs: object
) -> AcceptedEvent:
    return AcceptedEvent(
        Event(
            source="onvif:test",
            native_id=f"h{n}",
            kind=kind,
            device_id=device,
            occurred_at=at,
            received_at=at + timedelta(seconds=1),
            attributes=dict(attrs),
        ),
        location,
    )


async def incident(stores: Stores, location: str, start: datetime, last: datetime, summary: str) -> int:
    opened = await stores.incidents.open(
        location_id=location, summary=summary, priority=Priority.MEDIUM, actor="test", at=start
    )
    async with stores.db.transaction() as session:
        await session.execute(
            update(IncidentRow).where(IncidentRow.id == opened.id).values(last_event_at=last)
        )
    return opened.id


async def story(stores: Stores) -> tuple[int, int]:
    health = stores.health
    first = await health.start_run(at=h(0), host="a", pid=1, heartbeat_seconds=30)
    await health.heartbeat(first, h(2))  # then it died: no clean stop
    second = await health.start_run(at=h(3), host="a", pid=2, heartbeat_seconds=30)
    await health.stop_run(second, h(6))
    await stores.events.write_batch(
        [
            event(1, EventKind.CAMERA_COMM_LOST, "cam-library-lobby", "library", h(1), reason="timeout"),
            event(2, EventKind.CAMERA_COMM_RESTORED, "cam-library-lobby", "library", h(1.5)),
            event(3, EventKind.CAMERA_COMM_LOST, "cam-lotb-ptz", "lot-b", h(1.75)),
            event(4, EventKind.MOTION_START, "cam-lotb-ptz", "lot-b", h(1.8)),
        ],
        [],
    )
    straddling = await incident(stores, "library", h(1 + 20 / 60), h(1 + 40 / 60), "Door forced open")
    after = await incident(stores, "library", h(1.5), h(1.6), "Motion")  # starts as the gap ends
    return straddling, after


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_report_json_uptime_gaps_and_incidents(
    stores: Stores, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    straddling, _ = await story(stores)
    window = ["--from", "2026-11-20T00:00:00Z", "--to", "2026-11-20T06:00:00Z"]
    code, out, _ = await cli(capsys, "health", "report", "--db", db_url, *window, "--format", "json")
    assert code == 0
    report = json.loads(out)
    cams = {c["id"]: c for c in report["cameras"]}
    # 360 min window, 60 unknown (02:00-03:00): library down 30 -> 270/300 up; Lot B down 15 -> 285/300.
    assert cams["cam-library-lobby"]["uptime_pct"] == 90.0
    assert cams["cam-library-lobby"]["unknown_minutes"] == 60.0
    assert cams["cam-lotb-ptz"]["down_minutes"] == 15.0
    assert cams["cam-lotb-ptz"]["uptime_pct"] == 95.0
    assert cams["cam-quad-ptz"]["uptime_pct"] == 100.0
    [down] = [i for i in cams["cam-library-lobby"]["intervals"] if i["state"] == "down"]
    assert (down["start"], down["end"], down["causes"]) == (
        h(1).isoformat(),
        h(1.5).isoformat(),
        ["comm_lost"],
    )
    [evidence] = [e for e in cams["cam-library-lobby"]["evidence"] if e["cause"] == "comm_lost"]
    assert evidence["opened_by_event"] is not None
    assert evidence["closed_by_event"] is not None
    assert "timeout" in evidence["detail"]

    places = {p["id"]: p for p in report["locations"]}
    assert places["library"]["gap_minutes"] == 30.0
    assert places["lot-b"]["gap_minutes"] == 15.0  # cut where the run that knew of it died
    assert places["lot-b"]["unknown_minutes"] == 60.0  # the bridge outage is unknown, never up
    assert [(g["start"], g["end"]) for g in places["lot-b"]["gaps"]] == [
        (h(1.75).isoformat(), h(2).isoformat())
    ]

    [flagged] = report["incidents_in_gaps"]  # the one starting exactly at the gap's end is not in it
    assert flagged["incident"] == straddling
    assert flagged["in_gap"] is True
    [overlap] = flagged["overlaps"]
    assert (overlap["state"], overlap["start"], overlap["end"]) == (
        "gap",
        h(1 + 20 / 60).isoformat(),
        h(1.5).isoformat(),
    )


async def test_report_csv_and_html_files(
    stores: Stores, db_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    await story(stores)
    window = ["--from", "2026-11-20T00:00:00Z", "--to", "2026-11-20T06:00:00Z"]
    code, out, _ = await cli(capsys, "health", "report", "--db", db_url, *window, "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    gaps = [(r["location"], r["state"], r["minutes"]) for r in rows if r["section"] == "location_gap"]
    assert ("library", "gap", "30.0") in gaps
    assert ("lot-b", "gap", "15.0") in gaps
    assert [r["incident"] for r in rows if r["section"] == "incident"] == ["1"]
    # Per-location totals, as JSON and HTML have them.
    totals = {r["location"]: r for r in rows if r["section"] == "location"}
    assert (totals["library"]["gap_minutes"], totals["lot-b"]["gap_minutes"]) == ("30.0", "15.0")
    assert {"degraded_minutes", "unknown_minutes", "start", "end"} <= set(totals["library"])

    page = tmp_path / "health.html"
    code, out, _ = await cli(
        capsys, "health", "report", "--db", db_url, *window, "--format", "html", "--output", str(page)
    )
    assert code == 0
    assert "1 incident(s) in uncovered time" in out
    html = page.read_text(encoding="utf-8")
    assert "<svg" in html
    assert "<script" not in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "not responding (comm lost)" in html
    assert "bridge not running (unknown)" in html
    assert ">11-19 18:00<" in html
    assert ">11-19 23:00<" in html
    assert html.count('<text x="224"') == 14  # one labelled row per camera and per location
    assert html.count('font-weight="bold"') == 7  # the location rows


async def test_now_and_digest_with_a_live_run(
    stores: Stores, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    run = await stores.health.start_run(at=now - timedelta(hours=1), host="a", pid=1, heartbeat_seconds=30)
    await stores.health.heartbeat(run, now)
    await stores.events.write_batch(
        [event(1, EventKind.CAMERA_SIGNAL_LOSS, "cam-boathouse", "boathouse", now - timedelta(minutes=10))],
        [],
    )
    code, out, _ = await cli(capsys, "health", "now", "--json", "--db", db_url)
    assert code == 0
    states = {c["id"]: c for c in json.loads(out)["cameras"]}
    assert states["cam-boathouse"]["state"] == "down"
    assert states["cam-boathouse"]["since"] == (now - timedelta(minutes=10)).isoformat()
    assert states["cam-quad-ptz"]["state"] == "up"
    code, out, _ = await cli(capsys, "health", "digest", "--db", db_url)
    assert code == 0
    assert "boathouse" in out
    assert "gap" in out
    assert "cam-quad-ptz" not in out


async def test_with_no_live_run_now_is_unknown_and_bad_times_are_named(
    stores: Stores, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with stores.db.transaction() as session:
        session.add(
            BridgeRunRow(
                started_at=h(0), heartbeat_at=h(1), stopped_at=None, host="a", pid=1, heartbeat_seconds=30
            )
        )
    code, out, _ = await cli(capsys, "health", "digest", "--json", "--db", db_url)
    digest = json.loads(out)
    assert {c["state"] for c in digest["cameras"]} == {"unknown"}
    assert len(digest["cameras"]) == 7
    code, _, err = await cli(capsys, "health", "report", "--db", db_url, "--from", "last tuesday")
    assert code == 2
    assert "--from" in err
    assert "ISO 8601" in err


async def test_devices_whose_clock_was_not_believed_are_listed_by_now_and_the_digest(
    stores: Stores, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    suspect = {"clock_suspect": True, "device_time": "9999-12-31T23:00:00+00:00"}
    await stores.events.write_batch(
        [
            event(1, EventKind.MOTION_START, "cam-quad-ptz", "quad", now - timedelta(hours=3), **suspect),
            event(2, EventKind.MOTION_STOP, "cam-quad-ptz", "quad", now - timedelta(minutes=5), **suspect),
            event(3, EventKind.PHONE_OFFHOOK, "bl-quad", "quad", now - timedelta(hours=1), **suspect),
            event(4, EventKind.MOTION_START, "cam-lotb-ptz", "lot-b", now - timedelta(days=2), **suspect),
            event(5, EventKind.MOTION_START, "cam-lotb-ptz", "lot-b", now, clock_suspect="no idea"),
            event(6, EventKind.MOTION_START, "cam-lotb-ptz", "lot-b", now - timedelta(minutes=1)),
        ],
        [],
    )
    expected = [
        {"device": "bl-quad", "events": 1, "last": (now - timedelta(hours=1)).isoformat()},
        {"device": "cam-quad-ptz", "events": 2, "last": (now - timedelta(minutes=5)).isoformat()},
    ]
    code, out, _ = await cli(capsys, "health", "now", "--json", "--db", db_url)
    assert code == 0
    assert json.loads(out)["clock_suspect"] == expected
    code, out, _ = await cli(capsys, "health", "now", "--db", db_url)
    assert "Devices whose clock was not believed in the last day (2; events dated on receipt):" in out
    assert "cam-quad-ptz         2 event(s), last " in out
    code, out, _ = await cli(capsys, "health", "digest", "--json", "--db", db_url)
    assert json.loads(out)["clock_suspect"] == expected
    code, out, _ = await cli(capsys, "health", "digest", "--db", db_url)
    assert "bl-quad              1 event(s), last " in out
