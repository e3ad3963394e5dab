"""Camera-health report benchmark: a synthetic month of a large campus, in memory and through SQLite.

    python bench/health.py                       # 5,000 cameras x 30 days x ~20 state changes/day
    python bench/health.py --cameras 200 --days 3

Three phases, each in a fresh process (so each peak RSS is its own): ``memory`` runs the pure
pipeline on generated events; ``populate`` writes the same events, runs and incidents into a
SQLite file (plain sqlite3 executemany, not part of any figure); ``sqlite`` builds the report the
way ``vmsbridge health report`` does (``vmsbridge.health.service.health_report``: the database
read, timelines, coverage, incidents in gaps) and renders it, and prints its ratio to the memory
phase's timelines + report.

Events are generated per camera from a fixed seed (comm lost/restored, signal loss, recording
stopped/started, analytics tamper with an end), with three bridge outages, a connector gap and a few
thousand incidents. Stages are timed separately: timelines (events -> per-camera states), report
(coverage per location + uptime + incidents in gaps), JSON and HTML rendering. Peak memory is the
process's maximum resident set. Figures only: nothing here passes or fails on a number.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vmsbridge.config import SiteConfig
from vmsbridge.health.intervals import Interval
from vmsbridge.health.render import render_html, write_json
from vmsbridge.health.report import HealthReport, build_report
from vmsbridge.health.timeline import CameraTimeline, Topology, camera_timeline, connector_gaps, unobserved
from vmsbridge.model import EventKind, Incident, IncidentStatus, Priority, StoredEvent

K = EventKind
START = datetime(2026, 10, 1, tzinfo=UTC)
CAMERAS_PER_LOCATION = 3
CONNECTORS = 50
# (opening kind, closing kind, share): what a month of trouble is made of.
TROUBLE = [
    (K.CAMERA_COMM_LOST, K.CAMERA_COMM_RESTORED, 0.5),
    (K.CAMERA_SIGNAL_LOSS, K.CAMERA_SIGNAL_RESTORED, 0.2),
    (K.CAMERA_RECORDING_STOPPED, K.CAMERA_RECORDING_STARTED, 0.2),
    (K.CAMERA_TAMPER, None, 0.1),
]


def build_site(cameras: int) -> SiteConfig:
    locations = (cameras + CAMERAS_PER_LOCATION - 1) // CAMERAS_PER_LOCATION
    data: dict[str, Any] = {
        "site": {"name": "Bench University", "timezone": "America/Chicago"},
        "locations": [
            {"id": f"loc-{n}", "name": f"Place {n}", "clery_geography": "on_campus", "public_label": "Campus"}
            for n in range(locations)
        ],
        "cameras": [
            {
                "id": f"cam-{n}",
                "name": f"Camera {n}",
                "location": f"loc-{n // CAMERAS_PER_LOCATION}",
                "source": {"connector": f"enc-{n % CONNECTORS}", "profile": f"P{n}"},
            }
            for n in range(cameras)
        ],
    }
    return SiteConfig.model_validate(data)


def camera_events(index: int, days: int, changes_per_day: int, seed: int) -> list[StoredEvent]:
    """One camera's month: ``changes_per_day`` state changes a day, as (trouble, recovery) pairs."""
    rng = random.Random(seed * 1_000_003 + index)
    span = days * 86_400.0
    times = sorted(rng.uniform(0, span) for _ in range(days * changes_per_day))
    device, source = f"cam-{index}", f"onvif:enc-{index % CONNECTORS}"
    out: list[StoredEvent] = []
    weights = [t[2] for t in TROUBLE]
    for pair in range(0, len(times) - 1, 2):
        opening, closing, _ = rng.choices(TROUBLE, weights)[0]
        begin = START + timedelta(seconds=times[pair])
        end = START + timedelta(seconds=times[pair + 1])
        attrs: dict[str, Any] = {}
        if opening is K.CAMERA_TAMPER:
            attrs = {
                "tamper": rng.choice(["covered", "defocus", "moved", "frozen"]),
                "until": end.isoformat(),
            }
        n = len(out)
        out.append(
            StoredEvent(index * 10_000 + n, source, f"{index}-{n}", opening, device, "", begin, begin, attrs)
        )
        if closing is not None:
            out.append(
                StoredEvent(index * 10_000 + n + 1, source, f"{index}-{n + 1}", closing, device, "", end, end)
            )
    rng.shuffle(out)  # arrival order is not occurrence order
    return out


def sessions(days: int) -> list[Interval]:
    """The bridge ran all month but for three outages of 30 minutes."""
    cuts = [START + timedelta(days=days * f) for f in (0.25, 0.5, 0.75)]
    out, begin = [], START - timedelta(days=1)
    for cut in cuts:
        out.append(Interval(begin, cut))
        begin = cut + timedelta(minutes=30)
    out.append(Interval(begin, None))
    return out


def incidents(site: SiteConfig, days: int, count: int, seed: int) -> Iterator[Incident]:
    rng = random.Random(seed)
    for n in range(count):
        start = START + timedelta(seconds=rng.uniform(0, days * 86_400.0))
        yield Incident(
            id=n + 1,
            location_id=rng.choice(site.locations).id,
            status=IncidentStatus.CLOSED,
            priority=Priority.MEDIUM,
            summary="Bench incident",
            started_at=start,
            last_event_at=start + timedelta(minutes=rng.uniform(0, 30)),
            opened_by="bench",
        )


class CountingSink(io.StringIO):
    """Counts what is written instead of keeping it: the size of the document, not its memory."""

    def __init__(self) -> None:
        super().__init__()
        self.chars = 0

    def write(self, text: str) -> int:
        self.chars += len(text)
        return len(text)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def gap_event() -> StoredEvent:
    start, end = START + timedelta(days=2), START + timedelta(days=2, hours=1)
    attrs = {"from": start.isoformat(), "to": end.isoformat()}
    return StoredEvent(0, "xprotect:enc-7", "gap", K.VMS_GAP, "enc-7", "", start, end, attrs)


def memory_phase(args: argparse.Namespace) -> None:
    site = build_site(args.cameras)
    topology = Topology.from_site(site)
    window = Interval(START, START + timedelta(days=args.days))
    runs = sessions(args.days)
    outage = unobserved(runs, window)
    gaps = connector_gaps([gap_event()], topology)
    events = 0
    generating = 0.0
    started = time.perf_counter()
    timelines: dict[str, CameraTimeline] = {}
    for index in range(args.cameras):
        t = time.perf_counter()
        own = camera_events(index, args.days, args.changes_per_day, args.seed)
        generating += time.perf_counter() - t
        events += len(own)
        camera = f"cam-{index}"
        timelines[camera] = camera_timeline(
            camera, own, window, sessions=runs, unknown=[*outage, *gaps.get(camera, [])]
        )
    timeline_s = time.perf_counter() - started - generating
    print(
        f"memory  timelines   {events:>10} events  {timeline_s:8.2f} s  {events / timeline_s:10.0f} events/s"
    )
    t = time.perf_counter()
    report = build_report(
        site, timelines, incidents(site, args.days, 5_000, args.seed), window, window.end or START
    )
    report_s = time.perf_counter() - t
    spans = sum(len(c.spans) for c in report.cameras)
    gap_count = sum(len(loc.gaps) for loc in report.locations)
    print(
        f"memory  report      {spans:>10} spans   {report_s:8.2f} s  ({gap_count} location gaps, "
        f"{len(report.incidents)} incidents in uncovered time)"
    )
    print(
        f"memory  total       {events:>10} events  {timeline_s + report_s:8.2f} s  "
        f"peak RSS {peak_mb():.0f} MB"
    )
    print(f"@memory_seconds {timeline_s + report_s}")


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite format


def populate_phase(args: argparse.Namespace) -> None:
    """The schema by the project's migrations, then rows by sqlite3's executemany (fast path)."""
    from vmsbridge.store.stores import open_store

    async def migrate() -> None:
        async with open_store(f"sqlite+aiosqlite:///{args.db}", migrate=True) as stores:
            for run in sessions(args.days):
                run_id = await stores.health.start_run(
                    at=run.start, host="bench", pid=1, heartbeat_seconds=30
                )
                await stores.health.stop_run(run_id, run.end or START + timedelta(days=args.days + 1))

    started = time.perf_counter()
    asyncio.run(migrate())
    site = build_site(args.cameras)
    con = sqlite3.connect(args.db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    insert = (
        "INSERT INTO events (id, source, native_id, kind, device_id, location_id, occurred_at, received_at, "
        "stored_at, attributes, raw, txid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0)"
    )
    count = 0
    gap = gap_event()
    rows = [
        (
            1,
            gap.source,
            gap.native_id,
            gap.kind.value,
            gap.device_id,
            "",
            _ts(gap.occurred_at),
            _ts(gap.received_at),
            _ts(gap.received_at),
            json.dumps(gap.attributes),
        )
    ]
    for index in range(args.cameras):
        location = f"loc-{index // CAMERAS_PER_LOCATION}"
        for e in camera_events(index, args.days, args.changes_per_day, args.seed):
            count += 1
            at = _ts(e.occurred_at)
            rows.append(
                (
                    count + 1,
                    e.source,
                    e.native_id,
                    e.kind.value,
                    e.device_id,
                    location,
                    at,
                    at,
                    at,
                    json.dumps(e.attributes),
                )
            )
        if len(rows) >= 50_000:
            con.executemany(insert, rows)
            rows = []
    con.executemany(insert, rows)
    con.executemany(
        "INSERT INTO incidents (id, location_id, status, priority, summary, started_at, last_event_at, "
        "created_at, opened_by, victim_sensitive, legal_hold) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)",
        [
            (
                i.id,
                i.location_id,
                i.status.value,
                i.priority.value,
                i.summary,
                _ts(i.started_at),
                _ts(i.last_event_at),
                _ts(i.started_at),
                i.opened_by,
            )
            for i in incidents(site, args.days, 5_000, args.seed)
        ],
    )
    con.commit()
    con.execute("ANALYZE")
    con.close()
    size = Path(args.db).stat().st_size / 1e6
    print(
        f"populate            {count + 1:>10} events  {time.perf_counter() - started:8.2f} s  "
        f"({size:.0f} MB SQLite file; not part of the report)"
    )


def sqlite_phase(args: argparse.Namespace) -> None:
    """What `vmsbridge health report` does, stage by stage, on the populated file."""
    from vmsbridge.health.service import health_report
    from vmsbridge.store.stores import open_store

    site = build_site(args.cameras)
    end = START + timedelta(days=args.days)

    async def build() -> HealthReport:
        async with open_store(f"sqlite+aiosqlite:///{args.db}") as stores:
            return await health_report(stores.health, site, START, end, end + timedelta(days=1))

    t = time.perf_counter()
    report = asyncio.run(build())
    report_s = time.perf_counter() - t
    spans = sum(len(c.spans) for c in report.cameras)
    print(
        f"sqlite  read+report {spans:>10} spans   {report_s:8.2f} s  (health_report: the CLI's read, "
        f"timelines, coverage, {len(report.incidents)} incidents in uncovered time)  "
        f"peak RSS {peak_mb():.0f} MB"
    )
    t = time.perf_counter()
    sink = CountingSink()
    write_json(report, sink)  # streamed, as `vmsbridge health report --format json` writes it
    json_s = time.perf_counter() - t
    print(f"sqlite  render json {sink.chars / 1e6:>10.1f} MB      {json_s:8.2f} s")
    t = time.perf_counter()
    page = render_html(report)
    html_s = time.perf_counter() - t
    print(f"sqlite  render html {len(page) / 1e6:>10.1f} MB      {html_s:8.2f} s")
    total = report_s + json_s + html_s
    print(f"sqlite  total                          {total:8.2f} s  peak RSS {peak_mb():.0f} MB")
    print(f"@sqlite_seconds {report_s}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--changes-per-day", type=int, default=20)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--db", default=None, help="SQLite file to populate (default: a temporary one)")
    parser.add_argument(
        "--phase", choices=["memory", "populate", "sqlite"], default=None, help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.phase == "memory":
        memory_phase(args)
        return 0
    if args.phase == "populate":
        populate_phase(args)
        return 0
    if args.phase == "sqlite":
        sqlite_phase(args)
        return 0

    locations = (args.cameras + CAMERAS_PER_LOCATION - 1) // CAMERAS_PER_LOCATION
    print(
        f"health report: {args.cameras} cameras x {args.days} days x ~{args.changes_per_day} changes/day, "
        f"{locations} locations (each phase in a fresh process)"
    )
    with tempfile.TemporaryDirectory(prefix="health-bench-") as tmp:
        db = args.db or str(Path(tmp) / "health.db")
        common = [
            f"--cameras={args.cameras}",
            f"--days={args.days}",
            f"--changes-per-day={args.changes_per_day}",
            f"--seed={args.seed}",
            f"--db={db}",
        ]
        figures: dict[str, float] = {}
        for phase in ("memory", "populate", "sqlite"):
            done = subprocess.run(
                [sys.executable, __file__, *common, f"--phase={phase}"],
                capture_output=True,
                text=True,
                check=True,
            )
            for line in done.stdout.splitlines():
                if line.startswith("@"):
                    name, value = line[1:].split()
                    figures[name] = float(value)
                else:
                    print(line, flush=True)
    ratio = figures["sqlite_seconds"] / figures["memory_seconds"]
    print(f"ratio   sqlite read+report / memory timelines+report = {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
