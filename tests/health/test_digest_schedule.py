"""The daily digest of a running bridge: when it is due (DST days in America/Chicago), catch-up on
start, never twice, the same content as `health digest`, on SQLite and PostgreSQL. Injected clocks.

Hand-worked times: in 2026 Chicago springs forward on 8 March (02:00 CST = 08:00 UTC becomes 03:00
CDT) and falls back on 1 November (02:00 CDT = 07:00 UTC becomes 01:00 CST).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from evidence.atomic import write_atomically
from vmsbridge.app import Stores, running_services
from vmsbridge.cli.main import main
from vmsbridge.config import SiteConfig, parse_site_config
from vmsbridge.config.health import parse_digest_time
from vmsbridge.errors import ConfigError
from vmsbridge.health import monitor
from vmsbridge.health.monitor import DIGEST_ACTOR, DailyDigest
from vmsbridge.health.schedule import DigestSchedule
from vmsbridge.model import Event, EventKind
from vmsbridge.model.events import AcceptedEvent

CHICAGO = ZoneInfo("America/Chicago")
SEVEN = DigestSchedule(time(7, 0), CHICAGO)


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# -- when: pure ---------------------------------------------------------------------------------


def test_the_setting_is_hh_mm_or_off_and_a_bad_one_names_the_key() -> None:
    assert parse_digest_time("07:00") == time(7, 0)
    assert parse_digest_time("23:59") == time(23, 59)
    assert parse_digest_time("") is None
    assert parse_digest_time("off") is None
    assert parse_digest_time("OFF") is None
    for bad in ("7:00", "24:00", "07:60", "7am", "07:00:00"):
        with pytest.raises(ValueError, match="HH:MM"):
            parse_digest_time(bad)
    text = (
        '[site]\nname = "U"\ntimezone = "America/Chicago"\n[health]\ndigest_at = "7am"\n'
        '[[locations]]\nid = "a"\nname = "A"\nclery_geography = "on_campus"\npublic_label = "A"\n'
    )
    with pytest.raises(ConfigError) as caught:
        parse_site_config(text)
    [problem] = caught.value.problems
    assert problem.path == "health.digest_at"
    assert "HH:MM" in problem.message


def test_next_occurrence_across_spring_forward() -> None:
    # 07:00 CST on 7 March is 13:00 UTC; 07:00 CDT on 8 March is 12:00 UTC: 23 hours later.
    assert SEVEN.next_after(utc(2026, 3, 7, 13, 0)) == (date(2026, 3, 8), utc(2026, 3, 8, 12, 0))
    assert SEVEN.next_after(utc(2026, 3, 7, 12, 59)) == (date(2026, 3, 7), utc(2026, 3, 7, 13, 0))
    assert SEVEN.next_after(utc(2026, 3, 8, 12, 0)) == (date(2026, 3, 9), utc(2026, 3, 9, 12, 0))
    # 02:30 does not exist on 8 March: the digest comes 2 h 30 after local midnight (06:00 UTC),
    # which the clocks show as 03:30 CDT. The days around it keep their 02:30.
    skipped = DigestSchedule(time(2, 30), CHICAGO)
    assert skipped.next_after(utc(2026, 3, 7, 8, 30)) == (date(2026, 3, 8), utc(2026, 3, 8, 8, 30))
    assert utc(2026, 3, 8, 8, 30).astimezone(CHICAGO).strftime("%H:%M %Z") == "03:30 CDT"
    assert skipped.next_after(utc(2026, 3, 8, 8, 30)) == (date(2026, 3, 9), utc(2026, 3, 9, 7, 30))


def test_next_occurrence_across_fall_back() -> None:
    # 07:00 CDT on 31 October is 12:00 UTC; 07:00 CST on 1 November is 13:00 UTC: 25 hours later.
    assert SEVEN.next_after(utc(2026, 10, 31, 12, 0)) == (date(2026, 11, 1), utc(2026, 11, 1, 13, 0))
    assert SEVEN.next_after(utc(2026, 11, 1, 13, 0)) == (date(2026, 11, 2), utc(2026, 11, 2, 13, 0))
    # 01:30 happens twice on 1 November (06:30 UTC in CDT, 07:30 UTC in CST): the first one only.
    twice = DigestSchedule(time(1, 30), CHICAGO)
    assert twice.next_after(utc(2026, 11, 1, 6, 0)) == (date(2026, 11, 1), utc(2026, 11, 1, 6, 30))
    assert twice.next_after(utc(2026, 11, 1, 6, 30)) == (date(2026, 11, 2), utc(2026, 11, 2, 7, 30))
    assert twice.latest_at_or_before(utc(2026, 11, 1, 7, 30)) == (date(2026, 11, 1), utc(2026, 11, 1, 6, 30))
    assert twice.due(utc(2026, 11, 1, 7, 30), lambda day: day == date(2026, 11, 1)) is None


@pytest.mark.parametrize(
    ("at", "start", "expected"),
    [
        # Minute by minute over three days around each change: every day exactly once, at these instants.
        (
            time(2, 30),
            utc(2026, 3, 7, 0, 0),
            [utc(2026, 3, 7, 8, 30), utc(2026, 3, 8, 8, 30), utc(2026, 3, 9, 7, 30)],
        ),
        (
            time(1, 30),
            utc(2026, 10, 31, 0, 0),
            [utc(2026, 10, 31, 6, 30), utc(2026, 11, 1, 6, 30), utc(2026, 11, 2, 7, 30)],
        ),
        (
            time(7, 0),
            utc(2026, 10, 31, 0, 0),
            [utc(2026, 10, 31, 12, 0), utc(2026, 11, 1, 13, 0), utc(2026, 11, 2, 13, 0)],
        ),
    ],
)
def test_a_clock_ticking_through_a_dst_change_gives_one_digest_a_day(
    at: time, start: datetime, expected: list[datetime]
) -> None:
    schedule = DigestSchedule(at, CHICAGO)
    written: dict[date, datetime] = {date(2026, 3, 6): start, date(2026, 10, 30): start}  # before the walk
    for minute in range(3 * 24 * 60 + 6 * 60):  # the three local days lie inside this UTC span
        now = start + timedelta(minutes=minute)
        day = schedule.due(now, written.__contains__)
        if day is not None:
            written[day] = now
    walked = {day: when for day, when in written.items() if when > start}
    assert sorted(walked.values()) == expected
    assert [d.isoformat() for d in sorted(walked)] == [
        e.astimezone(CHICAGO).date().isoformat() for e in expected
    ]


# -- writing: over the store ----------------------------------------------------------------------


def lost_signal(at: datetime) -> AcceptedEvent:
    return AcceptedEvent(
        Event(
            source="onvif:test",
            native_id=f"loss-{at.isoformat()}",
            kind=EventKind.CAMERA_SIGNAL_LOSS,
            device_id="cam-boathouse",
            occurred_at=at,
            received_at=at,
        ),
        "boathouse",
    )


async def live_bridge(stores: Stores, since: datetime, now: datetime, *, boathouse_down: bool) -> None:
    """A run session alive at ``now`` (heartbeat then), optionally the boathouse camera's signal lost."""
    run = await stores.health.start_run(at=since, host="a", pid=1, heartbeat_seconds=30)
    await stores.health.heartbeat(run, now)
    if boathouse_down:
        await stores.events.write_batch([lost_signal(since + timedelta(minutes=5))], [])


def writer(stores: Stores, site: SiteConfig, directory: Path, clock: Clock, **kw: timedelta) -> DailyDigest:
    schedule = DigestSchedule(time(7, 0), ZoneInfo(site.site.timezone))
    return DailyDigest(stores.health, stores.db, site, schedule, directory, clock=clock, **kw)


async def test_a_missed_day_is_written_on_start_once_then_today_at_its_time(
    stores: Stores, site: SiteConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "digests"  # tmp_path also holds the SQLite database
    out.mkdir()
    # The bridge was down at 07:00 CDT on 9 March and starts at 06:00 CDT on 10 March (11:00 UTC).
    clock = Clock(utc(2026, 3, 10, 11, 0))
    await live_bridge(stores, utc(2026, 3, 10, 10, 0), utc(2026, 3, 10, 13, 0), boathouse_down=True)
    daily = writer(stores, site, out, clock, settle=timedelta(0))
    with caplog.at_level(logging.INFO, logger="vmsbridge.health.monitor"):
        assert await daily.step() == date(2026, 3, 9)
    assert sorted(p.name for p in out.iterdir()) == ["2026-03-09.json", "2026-03-09.txt"]
    [line] = [r for r in caplog.records if "health digest" in r.getMessage()]
    assert line.levelno == logging.WARNING  # an open problem
    assert "2026-03-09: 1 of 7 camera(s) with problems, 1 of 7 location(s)" in line.getMessage()
    first = (out / "2026-03-09.json").read_bytes()

    # Once: neither this writer nor a restarted one writes the day again.
    clock.now = utc(2026, 3, 10, 11, 59)
    assert await daily.step() is None
    assert await writer(stores, site, out, clock, settle=timedelta(0)).step() is None
    assert (out / "2026-03-09.json").read_bytes() == first

    # 07:00 CDT on 10 March: today's.
    clock.now = utc(2026, 3, 10, 12, 0)
    assert await daily.step() == date(2026, 3, 10)
    assert await daily.step() is None
    assert len(list(out.iterdir())) == 4

    entries = [e for e in await stores.audit.entries("health_digest") if e.action == "health.digest"]
    assert [(e.subject_id, e.actor, e.at) for e in entries] == [
        ("2026-03-09", DIGEST_ACTOR, utc(2026, 3, 10, 11, 0)),
        ("2026-03-10", DIGEST_ACTOR, utc(2026, 3, 10, 12, 0)),
    ]
    assert entries[0].details == {
        "cameras_with_problems": 1,
        "cameras_total": 7,
        "locations_without_coverage": 1,
        "locations_total": 7,
        "scheduled_for": "2026-03-09T12:00:00+00:00",
        "late": True,
        "files": ["2026-03-09.json", "2026-03-09.txt"],
    }
    assert entries[1].details["late"] is False


async def test_no_problems_is_logged_at_info_and_a_written_day_is_never_overwritten(
    stores: Stores, site: SiteConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "digests"  # tmp_path also holds the SQLite database
    out.mkdir()
    clock = Clock(utc(2026, 3, 10, 15, 0))  # 10:00 CDT: today's 07:00 passed while down
    await live_bridge(stores, utc(2026, 3, 10, 14, 0), clock.now, boathouse_down=False)
    (out / "2026-03-10.json").write_text("{}\n", encoding="utf-8")  # written by an earlier run
    daily = writer(stores, site, out, clock, settle=timedelta(0))
    assert await daily.step() is None
    assert (out / "2026-03-10.json").read_text(encoding="utf-8") == "{}\n"
    assert not (out / "2026-03-10.txt").exists()

    (out / "2026-03-10.json").unlink()
    with caplog.at_level(logging.INFO, logger="vmsbridge.health.monitor"):
        assert await daily.step() == date(2026, 3, 10)
    [line] = [r for r in caplog.records if "health digest" in r.getMessage()]
    assert line.levelno == logging.INFO
    text = (out / "2026-03-10.txt").read_text(encoding="utf-8")
    assert text.splitlines()[1] == "No open problems: all 7 cameras up, every covered location covered."


async def test_a_just_started_bridge_waits_to_settle_before_its_digest(
    stores: Stores, site: SiteConfig, tmp_path: Path
) -> None:
    out = tmp_path / "digests"  # tmp_path also holds the SQLite database
    out.mkdir()
    clock = Clock(utc(2026, 3, 10, 11, 58))  # 06:58 CDT
    await live_bridge(stores, clock.now, utc(2026, 3, 10, 13, 0), boathouse_down=False)
    (out / "2026-03-09.json").write_text("{}\n", encoding="utf-8")
    daily = writer(stores, site, out, clock)  # the default settle time: 5 minutes
    assert daily.next_step_at(clock.now) == utc(2026, 3, 10, 12, 0)  # today's time first
    clock.now = utc(2026, 3, 10, 12, 0)
    assert await daily.step() is None  # connectors may not have re-reported yet
    assert daily.next_step_at(clock.now) == utc(2026, 3, 10, 12, 3)
    clock.now = utc(2026, 3, 10, 12, 3)
    assert await daily.step() == date(2026, 3, 10)
    assert daily.next_step_at(clock.now) == utc(2026, 3, 11, 12, 0)


async def test_the_files_are_looked_for_and_written_off_the_event_loop(
    stores: Stores, site: SiteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "digests"  # not there yet: made when the first digest is written
    clock = Clock(utc(2026, 3, 10, 12, 0))
    await live_bridge(stores, utc(2026, 3, 10, 11, 0), clock.now, boathouse_down=False)
    on_loop: list[str] = []  # file work seen on the loop's thread

    def note(what: str) -> None:
        if threading.current_thread() is threading.main_thread():
            on_loop.append(what)

    def write(path: Path, data: str | bytes, **kw: bool) -> bool:
        note(f"write {path.name}")
        return write_atomically(path, data, **kw)

    looked_for = DailyDigest.written

    def written(self: DailyDigest, day: date) -> bool:
        note(f"look for {day}")
        return looked_for(self, day)

    monkeypatch.setattr(monitor, "write_atomically", write)
    monkeypatch.setattr(DailyDigest, "written", written)
    daily = writer(stores, site, out, clock, settle=timedelta(0))
    assert await daily.step() == date(2026, 3, 10)
    assert await daily.step() is None
    assert on_loop == []
    assert sorted(p.name for p in out.iterdir()) == ["2026-03-10.json", "2026-03-10.txt"]


async def test_the_files_hold_what_health_digest_prints(
    stores: Stores, db_url: str, site: SiteConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "digests"  # tmp_path also holds the SQLite database
    out.mkdir()
    now = datetime.now(UTC)  # `health digest` reads the real clock: the writer's is set to it
    await live_bridge(stores, now - timedelta(hours=1), now, boathouse_down=True)
    daily = writer(stores, site, out, Clock(now), settle=timedelta(0))
    day = await daily.step()
    assert day is not None
    json_path, text_path = daily.paths(day)

    assert await asyncio.to_thread(main, ["health", "digest", "--json", "--db", db_url]) == 0
    printed_json = capsys.readouterr().out
    assert await asyncio.to_thread(main, ["health", "digest", "--db", db_url]) == 0
    printed_text = capsys.readouterr().out

    written = json.loads(json_path.read_text(encoding="utf-8"))
    printed = json.loads(printed_json)
    assert written.pop("generated_at") == now.isoformat()
    printed.pop("generated_at")  # the command's own now, a moment later
    assert written == printed
    assert [c["id"] for c in written["cameras"]] == ["cam-boathouse"]
    assert json_path.read_text(encoding="utf-8").endswith("}\n")
    assert printed_json.endswith("}\n")

    file_lines = text_path.read_text(encoding="utf-8").splitlines()
    printed_lines = printed_text.splitlines()
    title = f"Camera health digest, {site.site.name}, "
    assert file_lines[0].startswith(title)
    assert printed_lines[0].startswith(title)
    assert file_lines[1:] == printed_lines[1:]
    assert any("cam-boathouse" in line and "down" in line for line in file_lines)


async def test_run_writes_the_missed_digest_at_once_and_stops_when_asked(
    stores: Stores, site: SiteConfig, tmp_path: Path
) -> None:
    out = tmp_path / "digests"  # tmp_path also holds the SQLite database
    out.mkdir()
    clock = Clock(utc(2026, 3, 10, 15, 0))
    await live_bridge(stores, utc(2026, 3, 10, 14, 0), clock.now, boathouse_down=False)
    daily = writer(stores, site, out, clock, settle=timedelta(0))
    task = asyncio.create_task(daily.run())

    async def written() -> bool:
        for _ in range(1000):  # bounded; wait_for below bounds the time too
            if daily.written(date(2026, 3, 10)):
                return True
            await asyncio.sleep(0.01)
        return False

    assert await asyncio.wait_for(written(), timeout=10)
    daily.stop()
    await asyncio.wait_for(task, timeout=10)  # it was waiting for tomorrow: stop ends the wait
    assert len(await stores.audit.entries("health_digest")) == 1


async def test_the_running_service_starts_the_digest_from_the_site_file(
    site: SiteConfig, db_url: str, tmp_path: Path
) -> None:
    configured = site.model_copy(
        update={"health": site.health.model_copy(update={"digest_dir": tmp_path / "digests"})}
    )
    async with running_services(configured, db_url) as services:
        assert services.digest is not None
        assert services.digest.directory == tmp_path / "digests"
        assert services.digest.schedule == DigestSchedule(time(7, 0), CHICAGO)
        assert services.digest.ready_at > datetime.now(UTC)  # settling: nothing written yet
    assert not services.failed.is_set()
    assert not (tmp_path / "digests").exists()

    off = site.model_copy(update={"health": site.health.model_copy(update={"digest_at": "off"})})
    async with running_services(off, db_url) as services:
        assert services.digest is None
