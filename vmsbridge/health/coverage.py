"""Coverage per location: when did a place have no working camera (a gap), or only degraded ones.

A location is covered while at least one of its cameras is up. Otherwise its coverage is
*degraded* if some camera still gives a (tampered or unrecorded) picture, *unknown* if nobody
could see some of its cameras, and a *gap* (:attr:`State.DOWN`) when every camera is known down.
Pure: no I/O.
"""

from __future__ import annotations

__all__ = ["LocationCoverage", "location_coverage"]

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from vmsbridge.health.intervals import Interval, State, StateSpan, sweep
from vmsbridge.health.timeline import CameraTimeline


@dataclass
class LocationCoverage:
    location_id: str
    camera_ids: list[str]
    window: Interval
    spans: list[StateSpan] = field(default_factory=list)  # DOWN = gap; causes are "camera: cause"

    def of_state(self, state: State) -> list[StateSpan]:
        return [s for s in self.spans if s.state is state]

    def seconds(self, state: State, until: datetime) -> float:
        return sum(s.interval.seconds(until) for s in self.spans if s.state is state)


def _location_state(states: Sequence[State]) -> State:
    if State.DEGRADED in states:
        return State.DEGRADED
    if State.UNKNOWN in states:
        return State.UNKNOWN
    return State.DOWN


def location_coverage(
    location_id: str, timelines: Sequence[CameraTimeline], window: Interval
) -> LocationCoverage:
    """The location's uncovered spans from its cameras' timelines (which share ``window``)."""
    cameras = sorted(t.camera_id for t in timelines)
    coverage = LocationCoverage(location_id, cameras, window)
    if not timelines:
        return coverage
    labelled = (
        (span.start, span.end, (t.camera_id, span.state, span.causes)) for t in timelines for span in t.spans
    )
    seen: dict[frozenset[str], frozenset[str]] = {}
    for start, end, active in sweep(labelled):
        # A camera's own spans never overlap, so each active label is one camera's state.
        if len({camera for camera, _, _ in active}) < len(cameras):
            continue  # some camera is up: covered
        state = _location_state([s for _, s, _ in active])
        causes = frozenset(f"{camera}: {cause}" for camera, _, names in active for cause in names)
        causes = seen.setdefault(causes, causes)  # few distinct sets per location: share them
        spans = coverage.spans
        if spans and spans[-1].end == start and spans[-1].state is state and spans[-1].causes == causes:
            spans[-1] = StateSpan(spans[-1].start, end, state, causes)
        else:
            spans.append(StateSpan(start, end, state, causes))
    return coverage
