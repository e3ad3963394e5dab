"""Open problems now: cameras down or degraded (since when, why) and locations without coverage.

The daily digest is this list, for a person (text) or a program (JSON); ``vmsbridge health now``
shows every camera the same way. Pure: the states come from timelines built up to ``now``.
"""

from __future__ import annotations

__all__ = [
    "CurrentState",
    "Digest",
    "build_digest",
    "clock_dict",
    "clock_lines",
    "current_states",
    "digest_dict",
    "digest_json",
    "digest_text",
    "location_states",
    "state_dict",
]

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from vmsbridge.config import SiteConfig
from vmsbridge.health.coverage import LocationCoverage
from vmsbridge.health.intervals import State, StateSpan
from vmsbridge.health.render.common import LOCATION_STATE_NAMES
from vmsbridge.health.timeline import CameraTimeline
from vmsbridge.model.health import ClockSuspect


@dataclass(frozen=True)
class CurrentState:
    """A camera's (or, for a location, its coverage's) state at ``now``."""

    subject: str  # camera or location id
    name: str
    location_id: str
    state: str  # camera: up/degraded/down/unknown; location: covered/gap/degraded/unknown
    since: datetime | None  # None for up/covered (not tracked)
    since_is_lower_bound: bool  # the state began before the period looked at
    causes: tuple[str, ...]


def _since(spans: Sequence[StateSpan], now: datetime) -> StateSpan | None:
    """The span at ``now``, widened back to the start of the continuous non-up stretch it ends:
    a camera down since 08:00 that also became tampered at 09:00 is not up "since 09:00"."""
    for k, span in enumerate(spans):
        if span.interval.contains(now):
            first = k
            while first > 0 and spans[first - 1].end == spans[first].start:
                first -= 1
            return StateSpan(spans[first].start, span.end, span.state, span.causes)
    return None


def current_states(
    site: SiteConfig, timelines: Mapping[str, CameraTimeline], now: datetime
) -> list[CurrentState]:
    names = {c.id: c.name for c in site.cameras}
    where = {c.id: c.location for c in site.cameras}
    out: list[CurrentState] = []
    for camera_id in sorted(timelines):
        timeline = timelines[camera_id]
        span = _since(timeline.spans, now)
        if span is None:
            out.append(
                CurrentState(
                    camera_id,
                    names.get(camera_id, camera_id),
                    where.get(camera_id, ""),
                    "up",
                    None,
                    False,
                    (),
                )
            )
        else:
            out.append(
                CurrentState(
                    camera_id,
                    names.get(camera_id, camera_id),
                    where.get(camera_id, ""),
                    span.state.value,
                    span.start,
                    span.start <= timeline.window.start,
                    tuple(sorted(span.causes)),
                )
            )
    return out


def location_states(
    site: SiteConfig, coverages: Mapping[str, LocationCoverage], now: datetime
) -> list[CurrentState]:
    names = {loc.id: loc.name for loc in site.locations}
    out: list[CurrentState] = []
    for location_id in sorted(coverages):
        coverage = coverages[location_id]
        span = _since(coverage.spans, now)
        if span is None:
            out.append(
                CurrentState(
                    location_id, names.get(location_id, location_id), location_id, "covered", None, False, ()
                )
            )
        else:
            out.append(
                CurrentState(
                    location_id,
                    names.get(location_id, location_id),
                    location_id,
                    LOCATION_STATE_NAMES[span.state],
                    span.start,
                    span.start <= coverage.window.start,
                    tuple(sorted(span.causes)),
                )
            )
    return out


@dataclass(frozen=True)
class Digest:
    site_name: str
    timezone: str
    generated_at: datetime
    cameras: list[CurrentState]  # only cameras not up
    locations: list[CurrentState]  # only locations not covered
    cameras_total: int
    locations_total: int
    # Devices whose own times were not believed lately: their events are dated on receipt.
    clock_suspects: Sequence[ClockSuspect] = ()


def build_digest(
    site: SiteConfig,
    timelines: Mapping[str, CameraTimeline],
    coverages: Mapping[str, LocationCoverage],
    now: datetime,
    clock_suspects: Sequence[ClockSuspect] = (),
) -> Digest:
    cameras = [s for s in current_states(site, timelines, now) if s.state != State.UP.value]
    locations = [s for s in location_states(site, coverages, now) if s.state != "covered"]
    return Digest(
        site.site.name,
        site.site.timezone,
        now,
        cameras,
        locations,
        len(timelines),
        len(coverages),
        tuple(clock_suspects),
    )


def state_dict(item: CurrentState) -> dict[str, Any]:
    return {
        "id": item.subject,
        "name": item.name,
        "location": item.location_id,
        "state": item.state,
        "since": None if item.since is None else item.since.isoformat(),
        "since_is_lower_bound": item.since_is_lower_bound,
        "causes": list(item.causes),
    }


def clock_dict(item: ClockSuspect) -> dict[str, Any]:
    return {"device": item.device_id, "events": item.events, "last": item.last_at.isoformat()}


def clock_lines(items: Sequence[ClockSuspect], zone: ZoneInfo) -> list[str]:
    """Text lines for devices whose clocks were not believed; none when there are none."""
    if not items:
        return []
    lines = [f"Devices whose clock was not believed in the last day ({len(items)}; events dated on receipt):"]
    for item in items:
        last = item.last_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        lines.append(f"  {item.device_id:<20} {item.events} event(s), last {last}")
    return lines


def digest_dict(digest: Digest) -> dict[str, Any]:
    return {
        "site": digest.site_name,
        "generated_at": digest.generated_at.isoformat(),
        "cameras_total": digest.cameras_total,
        "locations_total": digest.locations_total,
        "cameras": [state_dict(c) for c in digest.cameras],
        "locations": [state_dict(loc) for loc in digest.locations],
        "clock_suspect": [clock_dict(c) for c in digest.clock_suspects],
    }


def digest_json(digest: Digest) -> str:
    """The JSON document the ``health digest`` command prints and the daily ``.json`` file holds."""
    return json.dumps(digest_dict(digest), indent=2, default=str) + "\n"


def _since_text(item: CurrentState, zone: ZoneInfo) -> str:
    if item.since is None:
        return ""
    text = item.since.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    return f"since before {text}" if item.since_is_lower_bound else f"since {text}"


def digest_text(digest: Digest) -> str:
    zone = ZoneInfo(digest.timezone)
    when = digest.generated_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
    lines = [f"Camera health digest, {digest.site_name}, {when}"]
    clocks = clock_lines(digest.clock_suspects, zone)
    if not digest.cameras and not digest.locations:
        lines.append(
            f"No open problems: all {digest.cameras_total} cameras up, every covered location covered."
        )
        lines += ["", *clocks] if clocks else []
        return "\n".join(lines) + "\n"
    lines.append(
        f"\nLocations without working coverage ({len(digest.locations)} of {digest.locations_total}):"
    )
    for item in digest.locations:
        lines.append(
            f"  {item.subject:<20} {item.state:<9} {_since_text(item, zone)}  ({'; '.join(item.causes)})"
        )
    if not digest.locations:
        lines.append("  none")
    lines.append(f"\nCameras with problems ({len(digest.cameras)} of {digest.cameras_total}):")
    for item in digest.cameras:
        lines.append(
            f"  {item.subject:<20} {item.state:<9} {_since_text(item, zone)}  at {item.location_id}  "
            f"({', '.join(item.causes)})"
        )
    lines += ["", *clocks] if clocks else []
    return "\n".join(lines) + "\n"
