"""Stored events -> each camera's state over time (up / degraded / down / unknown), with causes.

Pure: no I/O. Robust to the ways events really arrive: out of order (they are sorted on
``occurred_at`` with receipt time and id as tie-breaks), twice (duplicates by ``(source,
native_id)`` are dropped), and across restarts of the bridge. A connector forgets what it knew
when the bridge restarts (and re-reports alarm states on its first sync), so a cause learned in one
run session ends at the end of that session; the time between sessions is ``unknown``, except
where an event says the camera was down or degraded then (events backfilled by ``events import`` or
replayed by the VMS after the bridge resumed): explicit evidence outranks unknown.

Spans and causes are cut to the report window at its start, but one still going on at the window's
end stays open (``end=None``): a camera still down is never shown as if it had come back.

:data:`KIND_EFFECTS` is the one table that says which event kinds mean what.
"""

from __future__ import annotations

__all__ = [
    "BRIDGE_DOWN",
    "KIND_EFFECTS",
    "TAMPER_HOLD",
    "CameraTimeline",
    "Effect",
    "Topology",
    "build_timelines",
    "camera_timeline",
    "connector_gaps",
    "health_kinds",
    "order_events",
    "unobserved",
]

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from vmsbridge.config import SiteConfig
from vmsbridge.health.intervals import (
    CauseInterval,
    Interval,
    State,
    StateSpan,
    clip_open,
    resolve_states,
    subtract,
)
from vmsbridge.model import EventKind, StoredEvent

BRIDGE_DOWN = "bridge_down"  # cause of the unknown time when no run session of the bridge covers it
VMS_GAP = "vms_gap"  # cause of the unknown time when a connector could not see its VMS's events


@dataclass(frozen=True)
class Effect:
    """What one event kind does to a camera: open or close ``cause``, which alone means ``state``."""

    cause: str
    opens: bool
    state: State


K = EventKind
# The table. Down: the camera gives no picture at all. Degraded: a picture exists but is not
# evidence-grade: a tampered view, or a VMS that is not recording it. Recording stopped is only
# degraded because for a motion-triggered camera it is the normal resting state (see
# vmsbridge.model.ALARM_STATE_KINDS): the camera still sees, the VMS just keeps no video.
# camera.tamper(_cleared) and vms.gap are interval-shaped and handled in camera_timeline/connector_gaps.
KIND_EFFECTS: dict[EventKind, Effect] = {
    K.CAMERA_COMM_LOST: Effect("comm_lost", True, State.DOWN),
    K.CAMERA_COMM_RESTORED: Effect("comm_lost", False, State.DOWN),
    K.CAMERA_SIGNAL_LOSS: Effect("signal_loss", True, State.DOWN),
    K.CAMERA_SIGNAL_RESTORED: Effect("signal_loss", False, State.DOWN),
    # No live video reaches the bridge's recorder: no pre-roll, so no picture for evidence.
    K.CAMERA_STREAM_LOST: Effect("stream_lost", True, State.DOWN),
    K.CAMERA_STREAM_RESTORED: Effect("stream_lost", False, State.DOWN),
    K.CAMERA_RECORDING_STOPPED: Effect("recording_stopped", True, State.DEGRADED),
    K.CAMERA_RECORDING_STARTED: Effect("recording_stopped", False, State.DEGRADED),
    K.CAMERA_TAMPER: Effect("tamper", True, State.DEGRADED),
    K.CAMERA_TAMPER_CLEARED: Effect("tamper", False, State.DEGRADED),
    K.VMS_GAP: Effect(VMS_GAP, True, State.UNKNOWN),
}

# How long a tamper report holds when it says neither how long (``until``/``seconds``, as analytics
# intervals do) nor that it is a state that will be cleared (``state`` true: ONVIF tamper
# properties, which send camera.tamper_cleared when they go off). Only such stateless signals (and
# ONVIF tamper events stored before the clear was reported) are held for a guessed time.
TAMPER_HOLD = timedelta(minutes=10)
# Analytics tamper kinds (analytics.tamper.KINDS) as causes; "lights" is a lighting change, not tamper.
TAMPER_NAMES = {"covered": "covered", "defocus": "defocused", "defocused": "defocused", "moved": "moved"}
TAMPER_NAMES |= {"frozen": "frozen"}
NOT_TAMPER = {"lights"}
MAX_DETAIL = 200


def health_kinds() -> frozenset[EventKind]:
    """Every kind that can change a camera's state (what the store reads for a report)."""
    return frozenset(KIND_EFFECTS)


@dataclass(frozen=True)
class Topology:
    """Which cameras exist, where, and through which connector (from the site configuration)."""

    locations: Mapping[str, str]  # camera id -> location id
    connectors: Mapping[str, str]  # camera id -> connector id

    @classmethod
    def from_site(cls, site: SiteConfig) -> Topology:
        return cls({c.id: c.location for c in site.cameras}, {c.id: c.source.connector for c in site.cameras})

    def cameras_of(self, connector_id: str) -> list[str]:
        return sorted(c for c, conn in self.connectors.items() if conn == connector_id)


@dataclass
class CameraTimeline:
    camera_id: str
    window: Interval
    # Both cut at the window's start; an interval not ended by the window's end has end=None (open).
    causes: list[CauseInterval] = field(default_factory=list)
    spans: list[StateSpan] = field(default_factory=list)  # non-up spans


def order_events(events: Iterable[StoredEvent]) -> list[StoredEvent]:
    """Duplicates (same source and native id) dropped; sorted by occurrence, then receipt, then id."""
    seen: set[tuple[str, str]] = set()
    unique: list[StoredEvent] = []
    for event in events:
        key = (event.source, event.native_id)
        if key not in seen:
            seen.add(key)
            unique.append(event)
    unique.sort(key=lambda e: (e.occurred_at, e.received_at, e.id))
    return unique


def unobserved(sessions: Sequence[Interval] | None, window: Interval) -> list[CauseInterval]:
    """Unknown time: the parts of ``window`` no run session of the bridge covers; an outage still
    going on at the window's end (no session started by then) is open (``end=None``)."""
    if sessions is None:
        return []
    return [
        CauseInterval(i.start, i.end, BRIDGE_DOWN, State.UNKNOWN, detail="the bridge was not running")
        for i in clip_open(subtract([Interval(window.start, None)], sessions), window)
    ]


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def connector_gaps(events: Iterable[StoredEvent], topology: Topology) -> dict[str, list[CauseInterval]]:
    """``vms.gap`` events -> unknown intervals for every camera the gap hid, by camera id.

    The cameras are those the event lists (``cameras``), else every camera of its connector (the
    event's source is ``<kind>:<connector id>``). The interval is ``[from, to)`` from the event,
    falling back to its occurrence and receipt times when those are missing or unreadable.
    """
    out: dict[str, list[CauseInterval]] = {}
    for event in events:
        if event.kind is not K.VMS_GAP:
            continue
        start = _time(event.attributes.get("from")) or event.occurred_at
        end = _time(event.attributes.get("to")) or event.received_at
        if end <= start:
            continue
        listed = event.attributes.get("cameras")
        if isinstance(listed, list) and listed:
            cameras = [str(c) for c in listed if str(c) in topology.locations]
        else:
            cameras = topology.cameras_of(event.source.partition(":")[2])
        seconds = round((end - start).total_seconds())
        for camera in cameras:
            out.setdefault(camera, []).append(
                CauseInterval(
                    start,
                    end,
                    VMS_GAP,
                    State.UNKNOWN,
                    opened_by=event.id,
                    detail=f"{event.source} could not see VMS events for {seconds} s",
                )
            )
    return out


def _detail(event: StoredEvent) -> str:
    attrs = event.attributes
    for key in ("reason", "type", "detector", "tamper"):
        if isinstance(attrs.get(key), str) and attrs[key]:
            return f"{event.source}: {attrs[key]}"[:MAX_DETAIL]
    return event.source[:MAX_DETAIL]


def _tamper_cause(event: StoredEvent) -> str | None:
    raw = event.attributes.get("tamper") or event.attributes.get("kind") or "scene_change"
    name = str(raw).strip().lower()
    if name in NOT_TAMPER:
        return None
    return "tamper:" + TAMPER_NAMES.get(name, name)[:40]


def _tamper_end(event: StoredEvent) -> datetime | None:
    """When a tamper report ends: its ``until``/``seconds`` (analytics), None for a stateful alarm
    (``state`` true: ONVIF, which reports the clear), else :data:`TAMPER_HOLD` after it."""
    until = _time(event.attributes.get("until"))
    if until is not None and until > event.occurred_at:
        return until
    seconds = event.attributes.get("seconds")
    if isinstance(seconds, int | float) and not isinstance(seconds, bool) and 0 < seconds < 366 * 86_400:
        return event.occurred_at + timedelta(seconds=seconds)
    if event.attributes.get("state") is True:
        return None
    return event.occurred_at + TAMPER_HOLD


@dataclass
class _Open:
    start: datetime
    opened_by: int
    detail: str
    session_end: datetime | None  # the end of the run session that learned of it


class _SessionIndex:
    """Which run session received an event: the latest one started at or before its receipt.

    An event received while no session ran (backfilled by ``events import``, or before the first
    recorded run) was learned by no connector that could forget it: it holds until the next
    session starts (whose connectors re-report what is still wrong), or for good if none did.
    """

    def __init__(self, sessions: Sequence[Interval] | None) -> None:
        ordered = sorted(sessions or [], key=lambda s: s.start)
        self._starts = [s.start for s in ordered]
        self._ends = [s.end for s in ordered]

    def end_for(self, received_at: datetime) -> datetime | None:
        k = bisect.bisect_right(self._starts, received_at) - 1
        end = self._ends[k] if k >= 0 else None
        if k < 0 or (end is not None and end <= received_at):
            # Received outside every session: an unrecorded run, an import, a late replay. What it
            # says cannot outlive the next recorded start (that run re-reports what still holds).
            return self._starts[k + 1] if k + 1 < len(self._starts) else None
        return end


def camera_timeline(
    camera_id: str,
    events: Iterable[StoredEvent],
    window: Interval,
    *,
    sessions: Sequence[Interval] | None = None,
    unknown: Sequence[CauseInterval] = (),
) -> CameraTimeline:
    """One camera's causes and states within ``window`` (cut at its start; a cause or span still
    going on at its end is open, ``end=None``).

    ``events``: this camera's events (any order, duplicates allowed), including the ones before
    the window that may still be in force. ``sessions``: the bridge's run sessions (None: assume it
    was always running). ``unknown``: unknown intervals for this camera (bridge outages from
    :func:`unobserved`, connector gaps from :func:`connector_gaps`).
    """
    index = _SessionIndex(sessions)
    causes: list[CauseInterval] = list(unknown)
    # Keyed by (source, cause, detector): a restore closes only what the same source reported, so
    # XProtect's "communication started" cannot end the ONVIF probe's comm_lost (or the reverse).
    open_causes: dict[tuple[str, str, str], _Open] = {}

    def close(key: tuple[str, str, str], at: datetime | None, closed_by: int | None) -> None:
        held = open_causes.pop(key)
        cause = key[1]
        end = at
        if held.session_end is not None and (end is None or held.session_end < end):
            end, closed_by = held.session_end, None  # the session that knew of it ended first
        if end is None or end > held.start:
            effect_state = State.DEGRADED if cause.startswith("tamper:") else _STATE_OF[cause]
            causes.append(
                CauseInterval(held.start, end, cause, effect_state, held.opened_by, closed_by, held.detail)
            )

    def open_cause(key: tuple[str, str, str], event: StoredEvent) -> None:
        held = open_causes.get(key)
        if held is not None and held.session_end is not None and event.received_at >= held.session_end:
            close(key, None, None)  # a new run session re-reported it: a new interval
            held = None
        if held is None:
            open_causes[key] = _Open(
                event.occurred_at, event.id, _detail(event), index.end_for(event.received_at)
            )

    for event in order_events(events):
        if event.kind is K.CAMERA_TAMPER or event.kind is K.CAMERA_TAMPER_CLEARED:
            name = _tamper_cause(event)
            if name is None:
                continue
            key = (event.source, name, str(event.attributes.get("detector", "")))
            if event.kind is K.CAMERA_TAMPER_CLEARED or event.attributes.get("state") is False:
                if key in open_causes:
                    close(key, event.occurred_at, event.id)
                continue
            end = _tamper_end(event)
            if end is None:
                open_cause(key, event)  # a stateful alarm: tampered until its clear
            else:
                causes.append(
                    CauseInterval(
                        event.occurred_at, end, name, State.DEGRADED, event.id, None, _detail(event)
                    )
                )
            continue
        effect = KIND_EFFECTS.get(event.kind)
        if effect is None or event.kind is K.VMS_GAP:
            continue
        key = (event.source, effect.cause, "")
        if effect.opens:
            open_cause(key, event)
        elif key in open_causes:
            close(key, event.occurred_at, event.id)
    for key in list(open_causes):
        close(key, None, None)

    clipped: list[CauseInterval] = []
    for cause in causes:
        for part in clip_open([cause.interval], window):
            clipped.append(
                CauseInterval(
                    part.start,
                    part.end,
                    cause.cause,
                    cause.state,
                    cause.opened_by,
                    None if part.end is None else cause.closed_by,  # open: not closed within the window
                    cause.detail,
                )
            )
    clipped.sort(key=lambda c: (c.start, c.cause))
    return CameraTimeline(camera_id, window, clipped, _open_at_end(resolve_states(clipped), window))


def _open_at_end(spans: list[StateSpan], window: Interval) -> list[StateSpan]:
    """Spans inside ``window``. Open causes make spans beyond its end, from a change of causes at
    the very end: the span at the end stays open when the same state goes on past it."""
    if window.end is None:
        return spans
    inside = [s for s in spans if s.start < window.end]
    after = spans[len(inside)] if len(inside) < len(spans) else None
    last = inside[-1] if inside else None
    if last is not None and after is not None and last.end == after.start and after.state is last.state:
        inside[-1] = StateSpan(last.start, None, last.state, last.causes)
    return inside


_STATE_OF = {e.cause: e.state for e in KIND_EFFECTS.values()}


def build_timelines(
    events: Iterable[StoredEvent],
    topology: Topology,
    window: Interval,
    *,
    sessions: Sequence[Interval] | None = None,
) -> dict[str, CameraTimeline]:
    """Every configured camera's timeline (cameras without events are up, or unknown when unobserved)."""
    by_camera: dict[str, list[StoredEvent]] = {c: [] for c in topology.locations}
    gap_events: list[StoredEvent] = []
    for event in events:
        if event.kind is K.VMS_GAP:
            gap_events.append(event)
        elif event.device_id in by_camera:
            by_camera[event.device_id].append(event)
    outage = unobserved(sessions, window)
    gaps = connector_gaps(order_events(gap_events), topology)
    return {
        camera: camera_timeline(
            camera, own, window, sessions=sessions, unknown=[*outage, *gaps.get(camera, [])]
        )
        for camera, own in by_camera.items()
    }
