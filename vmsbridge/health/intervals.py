"""Interval algebra on UTC-aware times: half-open ``[start, end)``, ``end=None`` meaning still open.

Pure functions, no I/O. Interval lists called *normalized* are sorted, non-empty, and neither
overlap nor touch; every function here returns normalized lists. :func:`resolve_states` turns the
intervals of individual causes (a lost connection, a covered lens, a bridge outage) into the
camera's state over time: the most severe active cause wins (explicit evidence of trouble beats
"nobody was looking"), and each resulting span carries the full set of causes active during it.
:func:`clip_open` cuts intervals to a report window but keeps an interval that had not ended by the
window's end *open* (``end=None``) instead of ending it there.
"""

from __future__ import annotations

__all__ = [
    "FAR_FUTURE",
    "CauseInterval",
    "Interval",
    "State",
    "StateSpan",
    "clip",
    "clip_open",
    "intersect",
    "normalize",
    "resolve_states",
    "subtract",
    "sweep",
    "total_seconds",
    "union",
]

from collections import Counter
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar

# Stands in for "open" while sorting and comparing; never leaves this module as a real end.
FAR_FUTURE = datetime.max.replace(tzinfo=UTC)


class State(StrEnum):
    """What a camera (or a location's coverage) was doing; ordered by :attr:`severity`.

    Severity: down > degraded > unknown > up. Unknown only stands in for what would otherwise be
    claimed "up": an event saying the camera was down (or degraded) is evidence even when the bridge
    was not running (events backfilled by ``events import`` or replayed by the VMS after a resume).
    """

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    # Nobody was watching (the bridge was not running, or a connector could not see its VMS):
    # nothing is claimed, and in particular not "up".
    UNKNOWN = "unknown"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {State.UP: 0, State.UNKNOWN: 1, State.DEGRADED: 2, State.DOWN: 3}


def _end(value: datetime | None) -> datetime:
    return FAR_FUTURE if value is None else value


def _open(value: datetime) -> datetime | None:
    return None if value == FAR_FUTURE else value


@dataclass(frozen=True, slots=True)
class Interval:
    start: datetime
    end: datetime | None = None  # None: has not ended (yet)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or (self.end is not None and self.end.tzinfo is None):
            raise ValueError("interval times must be timezone-aware")
        if self.end is not None and self.end < self.start:
            raise ValueError(
                f"interval ends ({self.end.isoformat()}) before it starts ({self.start.isoformat()})"
            )

    @property
    def empty(self) -> bool:
        return self.end is not None and self.end <= self.start

    def contains(self, at: datetime) -> bool:
        return self.start <= at < _end(self.end)

    def overlaps(self, other: Interval) -> bool:
        return self.start < _end(other.end) and other.start < _end(self.end)

    def seconds(self, until: datetime) -> float:
        """Length in seconds, an open end counting up to ``until``."""
        end = min(_end(self.end), until)
        return max((end - self.start).total_seconds(), 0.0)


def normalize(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, with overlapping and touching intervals merged and empty ones dropped."""
    ordered = sorted((i for i in intervals if not i.empty), key=lambda i: i.start)
    out: list[Interval] = []
    for item in ordered:
        if out and item.start <= _end(out[-1].end):
            last = out[-1]
            if _end(item.end) > _end(last.end):
                out[-1] = Interval(last.start, item.end)
        else:
            out.append(item)
    return out


def union(*groups: Iterable[Interval]) -> list[Interval]:
    return normalize(i for group in groups for i in group)


def intersect(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    left, right = normalize(a), normalize(b)
    out: list[Interval] = []
    i = j = 0
    while i < len(left) and j < len(right):
        start = max(left[i].start, right[j].start)
        end = min(_end(left[i].end), _end(right[j].end))
        if start < end:
            out.append(Interval(start, _open(end)))
        if _end(left[i].end) <= _end(right[j].end):
            i += 1
        else:
            j += 1
    return out


def subtract(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """The parts of ``a`` not covered by ``b``."""
    cuts = normalize(b)
    out: list[Interval] = []
    for item in normalize(a):
        start = item.start
        stop = _end(item.end)
        for cut in cuts:
            cut_end = _end(cut.end)
            if cut_end <= start or cut.start >= stop:
                continue
            if cut.start > start:
                out.append(Interval(start, cut.start))
            start = max(start, cut_end)
            if start >= stop:
                break
        if start < stop:
            out.append(Interval(start, _open(stop)))
    return out


def clip(intervals: Iterable[Interval], window: Interval) -> list[Interval]:
    return intersect(intervals, [window])


def clip_open(intervals: Iterable[Interval], window: Interval) -> list[Interval]:
    """The parts of ``intervals`` inside ``window``; a part still going on at the window's end
    (open, or ending after it) stays open (``end=None``): it had not ended by then."""
    stop = _end(window.end)
    return [
        Interval(i.start, None if _end(i.end) > stop else i.end)
        for i in intersect(intervals, [Interval(window.start, None)])
        if i.start < stop
    ]


def total_seconds(intervals: Iterable[Interval], until: datetime) -> float:
    return sum(i.seconds(until) for i in normalize(intervals))


@dataclass(frozen=True, slots=True)
class CauseInterval:
    """One cause of trouble for one camera, with the events that prove it."""

    start: datetime
    end: datetime | None
    cause: str  # e.g. "comm_lost", "tamper:covered", "bridge_down"
    state: State  # what it does to the camera on its own
    opened_by: int | None = None  # event id, None for causes the bridge infers (outages)
    closed_by: int | None = None
    detail: str = ""  # short, from the event (e.g. the probe's error); never personal data

    @property
    def interval(self) -> Interval:
        return Interval(self.start, self.end)


@dataclass(frozen=True, slots=True)
class StateSpan:
    """A stretch of time in one state (never ``up``: up is what no span covers)."""

    start: datetime
    end: datetime | None
    state: State
    causes: frozenset[str]

    @property
    def interval(self) -> Interval:
        return Interval(self.start, self.end)


L = TypeVar("L", bound=Hashable)


def sweep(
    labelled: Iterable[tuple[datetime, datetime | None, L]],
) -> Iterator[tuple[datetime, datetime | None, Counter[L]]]:
    """Elementary segments of a set of labelled intervals, each with the labels active in it.

    A label active in several overlapping intervals counts once per interval, so a restore that
    ends one of two overlapping reports of the same cause does not end the other. Segments where
    nothing is active are not yielded.
    """
    edges: list[tuple[datetime, int, L]] = []
    for start, end, label in labelled:
        stop = _end(end)
        if start < stop:
            edges.append((start, 1, label))
            edges.append((stop, -1, label))
    if not edges:
        return
    edges.sort(key=lambda e: (e[0], e[1]))  # at one instant, ends (-1) before starts (+1)
    active: Counter[L] = Counter()
    k = 0
    while k < len(edges):
        at = edges[k][0]
        while k < len(edges) and edges[k][0] == at:
            _, delta, label = edges[k]
            active[label] += delta
            if not active[label]:
                del active[label]
            k += 1
        if active and k < len(edges):
            yield at, _open(edges[k][0]), Counter(active)


def resolve_states(causes: Sequence[CauseInterval]) -> list[StateSpan]:
    """The camera's non-up spans: the most severe active cause's state, with all active causes.

    Down while ANY down cause is active, degraded while a degraded cause is active and none down,
    unknown (no observation) while only unknown causes are active: unknown replaces only what would
    otherwise be up, because an event that says the camera was down is evidence even while the
    bridge was not running. Adjacent segments with the same state and causes are merged.
    """
    states = {c.cause: c.state for c in causes}
    spans: list[StateSpan] = []
    seen: dict[frozenset[str], frozenset[str]] = {}  # a month has few distinct sets: share them
    for start, end, active in sweep((c.start, c.end, c.cause) for c in causes):
        state = max((states[c] for c in active), key=lambda s: s.severity)
        names = seen.setdefault(frozenset(active), frozenset(active))
        if spans and spans[-1].end == start and spans[-1].state is state and spans[-1].causes == names:
            spans[-1] = StateSpan(spans[-1].start, end, state, names)
        else:
            spans.append(StateSpan(start, end, state, names))
    return spans
