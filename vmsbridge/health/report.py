"""The health report over ``[T1, T2)``: per camera uptime and outages, per location coverage gaps,
and the incidents that happened where the cameras could not see.

Uptime % is up time over *known* time: ``100 * up / (window - unknown)``, so a bridge outage
neither flatters nor blames a camera; unknown time is reported beside it. Time the bridge was not
running but an event says the camera was down (or degraded) is down (degraded), not unknown.

Spans (camera intervals, location gaps) that had not ended by the window's end are open
(``end=None``); their seconds count up to the window's end. Pure: no I/O.
"""

from __future__ import annotations

__all__ = [
    "CameraReport",
    "HealthReport",
    "IncidentInGap",
    "LocationReport",
    "build_report",
    "incident_overlaps",
]

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from vmsbridge.config import SiteConfig
from vmsbridge.health.coverage import LocationCoverage, location_coverage
from vmsbridge.health.intervals import CauseInterval, Interval, State, StateSpan
from vmsbridge.health.timeline import CameraTimeline
from vmsbridge.model import Incident


@dataclass(frozen=True)
class CameraReport:
    camera_id: str
    name: str
    location_id: str
    up_seconds: float
    down_seconds: float
    degraded_seconds: float
    unknown_seconds: float
    uptime_pct: float | None  # None when nothing of the window was observed
    spans: list[StateSpan]  # non-up spans with their causes; end None: not ended by the window's end
    causes: list[CauseInterval]  # the evidence: each cause's interval and the events behind it


@dataclass(frozen=True)
class LocationReport:
    location_id: str
    name: str
    clery_geography: str
    camera_ids: list[str]
    gaps: list[StateSpan]  # no camera working (end None: still so at the window's end)
    degraded: list[StateSpan]  # only degraded cameras
    unknown: list[StateSpan]  # no camera known to work, some not observed
    gap_minutes: float
    degraded_minutes: float
    unknown_minutes: float


@dataclass(frozen=True)
class IncidentInGap:
    """An incident whose span overlaps uncovered time at its location: there may be no video."""

    incident_id: int
    location_id: str
    started_at: datetime
    last_event_at: datetime
    priority: str
    summary: str | None  # left out for victim-sensitive incidents
    in_gap: bool  # overlaps a real gap (not only degraded or unknown coverage)
    overlaps: list[StateSpan]  # the uncovered spans, clipped to the incident's span


@dataclass(frozen=True)
class HealthReport:
    site_name: str
    timezone: str
    window: Interval  # closed: the end is never None
    generated_at: datetime
    cameras: list[CameraReport]
    locations: list[LocationReport]
    incidents: list[IncidentInGap]
    locations_without_cameras: list[str]

    @property
    def window_end(self) -> datetime:
        assert self.window.end is not None
        return self.window.end


def _camera_report(timeline: CameraTimeline, name: str, location_id: str, until: datetime) -> CameraReport:
    total = timeline.window.seconds(until)
    by_state = dict.fromkeys(State, 0.0)
    for span in timeline.spans:
        by_state[span.state] += span.interval.seconds(until)
    up = max(total - by_state[State.DOWN] - by_state[State.DEGRADED] - by_state[State.UNKNOWN], 0.0)
    known = total - by_state[State.UNKNOWN]
    return CameraReport(
        camera_id=timeline.camera_id,
        name=name,
        location_id=location_id,
        up_seconds=up,
        down_seconds=by_state[State.DOWN],
        degraded_seconds=by_state[State.DEGRADED],
        unknown_seconds=by_state[State.UNKNOWN],
        uptime_pct=round(100.0 * up / known, 3) if known > 0 else None,
        spans=list(timeline.spans),
        causes=list(timeline.causes),
    )


def incident_overlaps(incident: Incident, coverage: LocationCoverage) -> list[StateSpan]:
    """Uncovered spans meeting the incident's span ``[started_at, last_event_at]``, clipped to it.

    The incident's span is closed at both ends: an incident of a single event is an instant, and
    it is in a gap when the gap covers that instant. A longer incident does not list the zero-length
    meeting with a span that begins at its last event.
    """
    start, last = incident.started_at, max(incident.last_event_at, incident.started_at)
    out: list[StateSpan] = []
    for span in coverage.spans:
        span_end = span.end
        if span.start <= last and (span_end is None or start < span_end):
            clipped_start = max(span.start, start)
            clipped_end = last if span_end is None else min(span_end, last)
            if clipped_start == clipped_end and start < last:
                continue
            out.append(StateSpan(clipped_start, clipped_end, span.state, span.causes))
    return out


def build_report(
    site: SiteConfig,
    timelines: Mapping[str, CameraTimeline],
    incidents: Iterable[Incident],
    window: Interval,
    generated_at: datetime,
) -> HealthReport:
    """Assemble the report from camera timelines (all over ``window``) and the window's incidents."""
    if window.end is None:
        raise ValueError("a report window needs an end")
    until = window.end  # what open spans (end None: not ended by the window's end) count up to
    names = {c.id: c.name for c in site.cameras}
    where = {c.id: c.location for c in site.cameras}
    cameras = [
        _camera_report(timelines[cid], names.get(cid, cid), where.get(cid, ""), until)
        for cid in sorted(timelines)
    ]
    coverages: dict[str, LocationCoverage] = {}
    locations: list[LocationReport] = []
    uncovered_places: list[str] = []
    for loc in site.locations:
        own: Sequence[CameraTimeline] = [timelines[c] for c in sorted(timelines) if where.get(c) == loc.id]
        if not own:
            uncovered_places.append(loc.id)
            continue
        coverage = location_coverage(loc.id, own, window)
        coverages[loc.id] = coverage
        locations.append(
            LocationReport(
                location_id=loc.id,
                name=loc.name,
                clery_geography=loc.clery_geography.value,
                camera_ids=coverage.camera_ids,
                gaps=coverage.of_state(State.DOWN),
                degraded=coverage.of_state(State.DEGRADED),
                unknown=coverage.of_state(State.UNKNOWN),
                gap_minutes=round(coverage.seconds(State.DOWN, until) / 60.0, 3),
                degraded_minutes=round(coverage.seconds(State.DEGRADED, until) / 60.0, 3),
                unknown_minutes=round(coverage.seconds(State.UNKNOWN, until) / 60.0, 3),
            )
        )
    flagged: list[IncidentInGap] = []
    for incident in sorted(incidents, key=lambda i: (i.started_at, i.id)):
        coverage_here = coverages.get(incident.location_id)
        if coverage_here is None:
            continue
        overlaps = incident_overlaps(incident, coverage_here)
        if overlaps:
            flagged.append(
                IncidentInGap(
                    incident_id=incident.id,
                    location_id=incident.location_id,
                    started_at=incident.started_at,
                    last_event_at=incident.last_event_at,
                    priority=incident.priority.value,
                    summary=None if incident.victim_sensitive else incident.summary,
                    in_gap=any(o.state is State.DOWN for o in overlaps),
                    overlaps=overlaps,
                )
            )
    return HealthReport(
        site_name=site.site.name,
        timezone=site.site.timezone,
        window=window,
        generated_at=generated_at,
        cameras=cameras,
        locations=locations,
        incidents=flagged,
        locations_without_cameras=uncovered_places,
    )
