"""Camera health over the store: load what a report or the current state needs, run the pure pipeline."""

from __future__ import annotations

__all__ = [
    "LOOKBACK",
    "NOW_LOOKBACK",
    "current_clock_suspects",
    "current_digest",
    "current_picture",
    "health_report",
    "load_timelines",
]

from datetime import datetime, timedelta

from vmsbridge.config import SiteConfig
from vmsbridge.errors import ValidationFailed, ValidationProblem
from vmsbridge.health.coverage import LocationCoverage, location_coverage
from vmsbridge.health.digest import Digest, build_digest
from vmsbridge.health.intervals import Interval
from vmsbridge.health.report import HealthReport, build_report
from vmsbridge.health.timeline import (
    CameraTimeline,
    Topology,
    camera_timeline,
    connector_gaps,
    health_kinds,
    order_events,
    unobserved,
)
from vmsbridge.model import EventKind, StoredEvent
from vmsbridge.model.health import ClockSuspect
from vmsbridge.store.health import HealthStore

# Events before the window are read back this far beyond the start of the run session in force at
# the window's start: far enough for a connector gap reported late, or a cause learned at start-up.
EVENT_MARGIN = timedelta(days=1)
# Events this far before a window are read in full (exact intervals, and a connector gap or a
# cause reported late); before that, only each (camera, source, kind)'s newest event.
LOOKBACK = timedelta(days=1)
NOW_LOOKBACK = timedelta(
    days=1
)  # "since when" in `health now` is exact up to this far back (else "since before")


async def load_timelines(
    store: HealthStore, site: SiteConfig, window: Interval, now: datetime
) -> dict[str, CameraTimeline]:
    """Every configured camera's timeline over the closed ``window``, at a cost that follows the window.

    Events are read in full from ``LOOKBACK`` before the window, a chunk of cameras at a time.
    What was in force earlier (a camera down since the start of a month-long run session) comes
    from the newest event of each (camera, source, kind) before that: a per-camera last state, not
    every event since the running bridge started.
    """
    assert window.end is not None
    runs = await store.runs_between(window.start - EVENT_MARGIN, window.end)
    sessions = [Interval(r.started_at, _end(r.started_at, r.observed_until(now))) for r in runs]
    in_force = [s.start for s in sessions if s.contains(window.start)]
    read_from = min([window.start, *in_force]) - EVENT_MARGIN
    full_from = max(read_from, window.start - LOOKBACK)
    topology = Topology.from_site(site)
    kinds = health_kinds() - {EventKind.VMS_GAP}
    gap_events = await store.events_between(read_from, window.end, [EventKind.VMS_GAP])
    gaps = connector_gaps(order_events(gap_events), topology)
    outage = unobserved(sessions, window)
    earlier: dict[str, list[StoredEvent]] = {}
    if read_from < full_from:
        for event in await store.latest_before(read_from, full_from, kinds):
            earlier.setdefault(event.device_id, []).append(event)
    timelines: dict[str, CameraTimeline] = {}
    async for cameras, events in store.camera_events(
        sorted(topology.locations), full_from, window.end, kinds
    ):
        by_camera: dict[str, list[StoredEvent]] = {}
        for event in events:
            by_camera.setdefault(event.device_id, []).append(event)
        for camera in cameras:
            own = [*earlier.pop(camera, []), *by_camera.get(camera, [])]
            timelines[camera] = camera_timeline(
                camera, own, window, sessions=sessions, unknown=[*outage, *gaps.get(camera, [])]
            )
    return timelines


def _end(start: datetime, end: datetime | None) -> datetime | None:
    return None if end is None else max(start, end)


async def health_report(
    store: HealthStore, site: SiteConfig, start: datetime, end: datetime, now: datetime
) -> HealthReport:
    """The report over ``[start, min(end, now))``: the future has not been observed."""
    end = min(end, now)
    if end <= start:
        raise ValidationFailed(
            [ValidationProblem("window", f"empty window: {start.isoformat()} to {end.isoformat()}")],
            subject="health report",
        )
    window = Interval(start, end)
    timelines = await load_timelines(store, site, window, now)
    incidents = await store.incidents_between(start, end)
    return build_report(site, timelines, incidents, window, now)


async def current_picture(
    store: HealthStore, site: SiteConfig, now: datetime
) -> tuple[dict[str, CameraTimeline], dict[str, LocationCoverage]]:
    """Timelines and coverage up to (and including) ``now``, for `health now` and the digest."""
    window = Interval(now - NOW_LOOKBACK, now + timedelta(seconds=1))
    timelines = await load_timelines(store, site, window, now)
    where = {c.id: c.location for c in site.cameras}
    coverages: dict[str, LocationCoverage] = {}
    for loc in site.locations:
        own = [timelines[c] for c in sorted(timelines) if where.get(c) == loc.id]
        if own:
            coverages[loc.id] = location_coverage(loc.id, own, window)
    return timelines, coverages


async def current_clock_suspects(store: HealthStore, now: datetime) -> list[ClockSuspect]:
    """Devices whose own times were not believed within the look-back of `health now`."""
    return await store.clock_suspects(now - NOW_LOOKBACK, now + timedelta(seconds=1))


async def current_digest(store: HealthStore, site: SiteConfig, now: datetime) -> Digest:
    """The open problems at ``now``: `health digest` and the running bridge's daily digest files."""
    timelines, coverages = await current_picture(store, site, now)
    return build_digest(site, timelines, coverages, now, await current_clock_suspects(store, now))
