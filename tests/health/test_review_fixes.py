"""Review fixes for issue #9: sources keep their own causes, stateful tamper ends on its clear."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vmsbridge.health.intervals import Interval, State
from vmsbridge.health.timeline import TAMPER_HOLD, camera_timeline
from vmsbridge.model import EventKind, StoredEvent

K = EventKind
T0 = datetime(2026, 11, 20, tzinfo=UTC)
WINDOW = Interval(T0, T0 + timedelta(hours=10))
_ids = iter(range(1, 1_000_000))


def m(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ev(kind: EventKind, at: float, source: str = "onvif:enc-1", **attributes: object) -> StoredEvent:
    n = next(_ids)
    return StoredEvent(n, source, f"n{n}", kind, "cam-a", "here", m(at), m(at), dict(attributes))


def test_a_restore_from_another_source_does_not_close_a_loss() -> None:
    # ONVIF probe: lost 10..100; XProtect says "communication started" at 20 (its own view).
    events = [
        ev(K.CAMERA_COMM_LOST, 10),
        ev(K.CAMERA_COMM_RESTORED, 20, source="xprotect:vms"),
        ev(K.CAMERA_COMM_RESTORED, 100),
    ]
    [span] = camera_timeline("cam-a", events, WINDOW).spans
    assert (span.start, span.end, span.state) == (m(10), m(100), State.DOWN)


def test_two_sources_reporting_one_cause_keep_the_camera_down_until_both_restore() -> None:
    events = [
        ev(K.CAMERA_COMM_LOST, 10),
        ev(K.CAMERA_COMM_LOST, 15, source="xprotect:vms"),
        ev(K.CAMERA_COMM_RESTORED, 30, source="xprotect:vms"),
        ev(K.CAMERA_COMM_RESTORED, 50),
    ]
    timeline = camera_timeline("cam-a", events, WINDOW)
    assert [(s.start, s.end, s.state) for s in timeline.spans] == [(m(10), m(50), State.DOWN)]
    assert sorted((c.start, c.end) for c in timeline.causes) == [(m(10), m(50)), (m(15), m(30))]


def test_an_onvif_tamper_alarm_lasts_until_its_clear() -> None:
    events = [
        ev(K.CAMERA_TAMPER, 10, detector="ImagingService", state=True),
        ev(K.CAMERA_TAMPER_CLEARED, 95, detector="ImagingService", state=False),
    ]
    [span] = camera_timeline("cam-a", events, WINDOW).spans
    assert (span.start, span.end, span.state) == (m(10), m(95), State.DEGRADED)
    assert m(95) - m(10) > TAMPER_HOLD


def test_an_onvif_tamper_alarm_without_its_clear_stays_open() -> None:
    [span] = camera_timeline("cam-a", [ev(K.CAMERA_TAMPER, 10, detector="x", state=True)], WINDOW).spans
    assert (span.start, span.end) == (m(10), WINDOW.end)


def test_a_clear_from_another_detector_does_not_close_the_tamper() -> None:
    events = [
        ev(K.CAMERA_TAMPER, 10, detector="ImagingService", state=True),
        ev(K.CAMERA_TAMPER_CLEARED, 20, detector="AnalyticsService", state=False),
        ev(K.CAMERA_TAMPER_CLEARED, 40, detector="ImagingService", state=False),
    ]
    [span] = camera_timeline("cam-a", events, WINDOW).spans
    assert (span.start, span.end) == (m(10), m(40))


def test_stateless_tamper_signals_keep_their_hold_or_length() -> None:
    events = [
        ev(K.CAMERA_TAMPER, 10, source="analytics:cam-a", tamper="covered", seconds=120),
        ev(K.CAMERA_TAMPER, 100, source="onvif:old"),  # stored before clears were reported
    ]
    spans = camera_timeline("cam-a", events, WINDOW).spans
    assert [(s.start, s.end) for s in spans] == [(m(10), m(12)), (m(100), m(100) + TAMPER_HOLD)]
