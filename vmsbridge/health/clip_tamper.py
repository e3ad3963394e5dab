"""Analytics tamper found in a captured clip -> ``camera.tamper`` events, so camera health sees it.

The rule engine's ``capture_clip`` runs motion analysis whose report carries tamper intervals in
clip seconds (``analytics.tamper``). Each one (except ``lights``, a lighting change and not
tamper) becomes one ``camera.tamper`` event at its clip-start-relative wall time, with its length
as ``seconds``, which ``health.timeline`` turns into a degraded interval of exactly that length.

The events go through the bus like any connector's (validated and stored by ingest, the same
clip analysed twice gives the same ``(source, native_id)``, so no duplicates); correlation and
rules pick them up from the event log as they do every stored event. Their source is
``analytics:<camera id>``; clips captured for such an event are not
analysed into new tamper events (that would walk back through the footage forever).
"""

from __future__ import annotations

__all__ = ["ANALYTICS_SOURCE_PREFIX", "clip_tamper_events", "publish_clip_tamper"]

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from vmsbridge.bus import BusClosed, EventSink, publish_durably
from vmsbridge.model import ANALYTICS_SOURCE_PREFIX, Event, EventKind, StoredEvent

log = logging.getLogger(__name__)

NOT_TAMPER = frozenset({"lights"})


class TamperSpan(Protocol):
    """What an ``analytics.tamper.TamperInterval`` offers (read only)."""

    @property
    def kind(self) -> str: ...
    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float: ...


class AnalyzedClip(Protocol):
    @property
    def tamper(self) -> Sequence[TamperSpan]: ...


def clip_tamper_events(
    camera_id: str,
    clip_start: datetime,
    tamper: Sequence[TamperSpan],
    *,
    clip_sha256: str,
    received_at: datetime,
) -> list[Event]:
    """One ``camera.tamper`` event per tamper interval of the clip (``lights`` left out)."""
    events: list[Event] = []
    for item in tamper:
        seconds = round(item.end_s - item.start_s, 3)
        if item.kind in NOT_TAMPER or seconds <= 0:
            continue
        start = clip_start + timedelta(seconds=item.start_s)
        events.append(
            Event(
                source=f"{ANALYTICS_SOURCE_PREFIX}{camera_id}",
                # The same interval found again (the same clip analysed twice) is the same event.
                native_id=f"tamper:{item.kind}:{start.isoformat()}",
                kind=EventKind.CAMERA_TAMPER,
                device_id=camera_id,
                occurred_at=start,
                received_at=max(received_at, start),
                attributes={
                    "tamper": item.kind,
                    "seconds": seconds,
                    "until": (start + timedelta(seconds=seconds)).isoformat(),
                    "detector": "clip analytics",
                    "clip_sha256": clip_sha256,
                },
            )
        )
    return events


async def publish_clip_tamper(
    sink: EventSink,
    trigger: StoredEvent,
    camera_id: str,
    clip_start: datetime,
    report: AnalyzedClip,
    clip_sha256: str,
) -> list[str]:
    """Publish the clip's tamper intervals as events, durably; short notes for the action's detail.

    Never raises for a bus that is closing: the clip and its analysis are already evidence, and
    the note says what was not recorded.
    """
    if trigger.source.startswith(ANALYTICS_SOURCE_PREFIX):
        return []
    events = clip_tamper_events(
        camera_id, clip_start, report.tamper, clip_sha256=clip_sha256, received_at=datetime.now(UTC)
    )
    if not events:
        return []
    try:
        outcomes = await publish_durably(sink, events)
    except BusClosed as exc:
        log.error("%s: tamper seen in the clip not recorded as events: %s", camera_id, exc)
        return [f"tamper not recorded: {exc}"]
    kinds = ", ".join(sorted({str(e.attributes["tamper"]) for e in events}))
    stored = sum(o.status != "rejected" for o in outcomes)
    return [f"tamper: {stored} interval(s) ({kinds}) recorded as camera.tamper"]
