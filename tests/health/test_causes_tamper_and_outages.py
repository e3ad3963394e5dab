"""Each source keeps its own causes, stateful tamper ends on its clear, outage alerts survive a
restart, and the HTML chart orders and caps its rows."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from vmsbridge.config import HealthConfig, SiteConfig, SiteDirectory
from vmsbridge.health.coverage import location_coverage
from vmsbridge.health.digest import build_digest, current_states, location_states
from vmsbridge.health.intervals import Interval, State
from vmsbridge.health.monitor import RESUME_SETTLE, HealthMonitor
from vmsbridge.health.render import as_html, render_html
from vmsbridge.health.report import build_report
from vmsbridge.health.timeline import TAMPER_HOLD, camera_timeline
from vmsbridge.model import Event, EventKind, StoredEvent

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
    assert (span.start, span.end) == (m(10), None)  # open: not ended by the window's end


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


# -- the live monitor ---------------------------------------------------------------------------

POLICY = HealthConfig(offline_after_seconds=300, recover_after_seconds=60, heartbeat_seconds=30)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def cam(kind: EventKind, at: float, received: float | None = None, source: str = "test") -> StoredEvent:
    n = next(_ids)
    return StoredEvent(
        n, source, f"n{n}", kind, "cam-boathouse", "boathouse", s(at), s(at if received is None else received)
    )


def live(directory: SiteDirectory) -> HealthMonitor:
    return HealthMonitor(None, None, directory, POLICY, clock=lambda: T0)  # type: ignore[arg-type]


def test_a_late_old_pair_does_not_rewind_a_recovery(directory: SiteDirectory) -> None:
    mon = live(directory)
    mon.apply(cam(K.CAMERA_COMM_LOST, 0))
    assert [a.kind for a in mon.due_alerts(s(301))] == [K.CAMERA_OFFLINE]
    mon.apply(cam(K.CAMERA_COMM_RESTORED, 400))
    mon.apply(cam(K.CAMERA_SIGNAL_LOSS, 10, received=405))  # an old pair, delivered late
    mon.apply(cam(K.CAMERA_SIGNAL_RESTORED, 20, received=405))
    assert mon.due_alerts(s(459)) == []
    [online] = mon.due_alerts(s(460))
    assert online.kind is K.CAMERA_ONLINE
    assert (online.attributes["up_since"], online.attributes["down_seconds"]) == (s(400).isoformat(), 400.0)


def test_an_hour_old_loss_does_not_alert_for_the_past(directory: SiteDirectory) -> None:
    mon = live(directory)
    mon.apply(cam(K.CAMERA_SIGNAL_LOSS, -3600, received=0))  # a backlog delivered now
    assert mon.due_alerts(s(0)) == []
    assert mon.due_alerts(s(170)) == []  # counts from its arrival (less the reorder tolerance)
    [offline] = mon.due_alerts(s(180))
    assert offline.kind is K.CAMERA_OFFLINE


def test_a_restore_from_another_source_does_not_end_the_outage(directory: SiteDirectory) -> None:
    mon = live(directory)
    mon.apply(cam(K.CAMERA_COMM_LOST, 0, source="onvif:enc-1"))
    mon.apply(cam(K.CAMERA_COMM_RESTORED, 10, source="xprotect:vms"))
    [offline] = mon.due_alerts(s(300))
    assert offline.kind is K.CAMERA_OFFLINE
    assert offline.attributes["causes"] == ["comm_lost"]


def as_stored(alert: Event, event_id: int) -> StoredEvent:
    """An alert the monitor raised, as the store gives it back to a restarted monitor."""
    return StoredEvent(
        event_id,
        alert.source,
        alert.native_id,
        alert.kind,
        alert.device_id,
        "boathouse",
        alert.occurred_at,
        alert.received_at,
        dict(alert.attributes),
    )


def test_a_restarted_monitor_resumes_an_alerted_outage(directory: SiteDirectory) -> None:
    first = live(directory)
    first.apply(cam(K.CAMERA_COMM_LOST, 0, source="onvif:enc-1"))
    [offline] = first.due_alerts(s(300))
    stored = as_stored(offline, 9_999_999)
    # Restart at 1000 s: the connector re-reports the loss at 1060 s (after its two probes).
    second = live(directory)
    second.resume([stored], s(1000))
    second.apply(cam(K.CAMERA_COMM_LOST, 1060, source="onvif:enc-1"))
    assert second.due_alerts(s(2000)) == []  # no second camera.offline for the same outage
    second.apply(cam(K.CAMERA_COMM_RESTORED, 2100, source="onvif:enc-1"))
    [online] = second.due_alerts(s(2160))
    assert online.kind is K.CAMERA_ONLINE
    assert online.attributes["down_since"] == s(0).isoformat()


def test_a_resumed_outage_nobody_re_reports_ends_after_the_settle_time(directory: SiteDirectory) -> None:
    first = live(directory)
    first.apply(cam(K.CAMERA_COMM_LOST, 0))
    [offline] = first.due_alerts(s(300))
    stored = as_stored(offline, 1)
    second = live(directory)
    second.resume([stored], s(1000))
    assert second.due_alerts(s(1000 + RESUME_SETTLE.total_seconds() - 1)) == []
    [online] = second.due_alerts(s(1000 + RESUME_SETTLE.total_seconds()))
    assert online.kind is K.CAMERA_ONLINE


# -- since when ---------------------------------------------------------------------------------


def test_since_is_the_start_of_the_non_up_stretch_not_of_the_current_mix(site: SiteConfig) -> None:
    camera = site.cameras[0]
    window = Interval(m(0), m(60))
    events = [
        StoredEvent(1, "onvif:x", "a", K.CAMERA_RECORDING_STOPPED, camera.id, "", m(5), m(5)),
        StoredEvent(2, "onvif:x", "b", K.CAMERA_COMM_LOST, camera.id, "", m(10), m(10)),
        StoredEvent(3, "analytics:x", "c", K.CAMERA_TAMPER, camera.id, "", m(30), m(30), {"seconds": 3600}),
    ]
    timeline = camera_timeline(camera.id, events, window)
    assert len(timeline.spans) == 3  # degraded, down, down with tamper too
    [state] = current_states(site, {camera.id: timeline}, m(40))
    assert (state.state, state.since, state.since_is_lower_bound) == ("down", m(5), False)
    coverage = location_coverage(camera.location, [timeline], window)
    [place] = location_states(site, {camera.location: coverage}, m(40))
    assert (place.state, place.since) == ("gap", m(5))
    digest = build_digest(site, {camera.id: timeline}, {camera.location: coverage}, m(40))
    assert [c.since for c in digest.cameras] == [m(5)]


# -- the chart ----------------------------------------------------------------------------------


def chart_site(cameras: int) -> SiteConfig:
    return SiteConfig.model_validate(
        {
            "site": {"name": "Chart U", "timezone": "UTC"},
            "locations": [
                {"id": f"loc-{n}", "name": f"L{n}", "clery_geography": "on_campus", "public_label": "C"}
                for n in (1, 2, 10)
            ],
            "cameras": [
                {
                    "id": f"cam-{n}",
                    "name": f"C{n}",
                    "location": "loc-10" if n % 2 else "loc-2",
                    "source": {"connector": "enc", "profile": f"P{n}"},
                }
                for n in range(1, cameras + 1)
            ],
        }
    )


def chart_labels(page: str) -> list[str]:
    return re.findall(r'text-anchor="end"[^>]*>([^<]+)</text>', page)


def test_chart_rows_are_grouped_by_location_in_natural_order() -> None:
    site = chart_site(12)
    window = Interval(m(0), m(60))
    down = [StoredEvent(1, "onvif:enc", "a", K.CAMERA_COMM_LOST, "cam-10", "", m(10), m(10))]
    timelines = {c.id: camera_timeline(c.id, down if c.id == "cam-10" else [], window) for c in site.cameras}
    page = render_html(build_report(site, timelines, [], window, m(60)))
    labels = [label.strip() for label in chart_labels(page)]
    assert labels == [
        "loc-2", "cam-2", "cam-4", "cam-6", "cam-8", "cam-10", "cam-12",
        "loc-10", "cam-1", "cam-3", "cam-5", "cam-7", "cam-9", "cam-11",
    ]  # fmt: skip
    assert "not responding (comm lost)" in page  # legend


def test_a_large_site_chart_draws_locations_and_only_cameras_with_trouble(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(as_html, "MAX_CHART_CAMERAS", 4)
    site = chart_site(6)
    window = Interval(m(0), m(60))
    events = [
        StoredEvent(1, "onvif:enc", "a", K.CAMERA_COMM_LOST, "cam-1", "", m(10), m(10)),
        StoredEvent(2, "onvif:enc", "b", K.CAMERA_COMM_LOST, "cam-3", "", m(10), m(10)),
        StoredEvent(3, "onvif:enc", "c", K.CAMERA_COMM_LOST, "cam-5", "", m(20), m(20)),
    ]
    timelines = {
        c.id: camera_timeline(c.id, [e for e in events if e.device_id == c.id], window) for c in site.cameras
    }
    page = render_html(build_report(site, timelines, [], window, m(60)))
    assert [label.strip() for label in chart_labels(page)] == ["loc-2", "loc-10", "cam-1", "cam-3", "cam-5"]
    assert "only the 3 that were down or degraded" in page
    assert "gap: cam-1: comm_lost, cam-3: comm_lost, cam-5: comm_lost" in page  # the location row's gap
