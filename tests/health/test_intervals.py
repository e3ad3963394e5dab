"""Interval algebra, state resolution, timelines and coverage: hand-worked edge cases and properties."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vmsbridge.health.coverage import location_coverage
from vmsbridge.health.intervals import (
    CauseInterval,
    Interval,
    State,
    StateSpan,
    clip,
    clip_open,
    intersect,
    normalize,
    resolve_states,
    subtract,
    total_seconds,
    union,
)
from vmsbridge.health.timeline import (
    TAMPER_HOLD,
    Topology,
    build_timelines,
    camera_timeline,
)
from vmsbridge.model import EventKind, StoredEvent

T0 = datetime(2026, 11, 20, tzinfo=UTC)


def m(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def iv(a: float, b: float | None) -> Interval:
    return Interval(m(a), None if b is None else m(b))


# -- pure interval algebra ---------------------------------------------------------------------


def test_touching_and_overlapping_intervals_merge_and_open_ends_absorb() -> None:
    assert normalize([iv(1, 2), iv(0, 1), iv(5, 6), iv(5.5, 7)]) == [iv(0, 2), iv(5, 7)]
    assert union([iv(0, 3)], [iv(2, None)], [iv(10, 20)]) == [iv(0, None)]
    assert normalize([iv(3, 3)]) == []  # empty intervals vanish


def test_subtract_intersect_and_clip_with_open_intervals() -> None:
    assert subtract([iv(0, 10)], [iv(2, 3), iv(5, None)]) == [iv(0, 2), iv(3, 5)]
    assert subtract([iv(0, None)], [iv(2, 3)]) == [iv(0, 2), iv(3, None)]
    assert intersect([iv(0, None)], [iv(4, 6), iv(8, None)]) == [iv(4, 6), iv(8, None)]
    assert clip([iv(-5, None)], iv(0, 60)) == [iv(0, 60)]
    assert total_seconds([iv(0, None)], until=m(2)) == 120.0


def test_an_interval_refuses_to_end_before_it_starts_or_be_naive() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        iv(2, 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        Interval(datetime(2026, 1, 1), None)


def test_overlapping_causes_down_wins_over_degraded_and_both_over_unknown() -> None:
    causes = [
        CauseInterval(m(0), m(10), "comm_lost", State.DOWN),
        CauseInterval(m(5), m(15), "tamper:covered", State.DEGRADED),
        CauseInterval(m(8), m(9), "bridge_down", State.UNKNOWN),
        CauseInterval(m(14), m(20), "vms_gap", State.UNKNOWN),
    ]
    # Unknown replaces only what would otherwise be up: evidence of trouble is not erased by it.
    assert resolve_states(causes) == [
        StateSpan(m(0), m(5), State.DOWN, frozenset({"comm_lost"})),
        StateSpan(m(5), m(8), State.DOWN, frozenset({"comm_lost", "tamper:covered"})),
        StateSpan(m(8), m(9), State.DOWN, frozenset({"comm_lost", "tamper:covered", "bridge_down"})),
        StateSpan(m(9), m(10), State.DOWN, frozenset({"comm_lost", "tamper:covered"})),
        StateSpan(m(10), m(14), State.DEGRADED, frozenset({"tamper:covered"})),
        StateSpan(m(14), m(15), State.DEGRADED, frozenset({"tamper:covered", "vms_gap"})),
        StateSpan(m(15), m(20), State.UNKNOWN, frozenset({"vms_gap"})),
    ]


def test_two_reports_of_one_cause_end_only_when_both_have_ended() -> None:
    causes = [
        CauseInterval(m(0), m(10), "tamper:moved", State.DEGRADED),
        CauseInterval(m(5), None, "tamper:moved", State.DEGRADED),
    ]
    assert resolve_states(causes) == [StateSpan(m(0), None, State.DEGRADED, frozenset({"tamper:moved"}))]


spans = st.lists(
    st.tuples(st.integers(0, 500), st.one_of(st.none(), st.integers(0, 200))).map(
        lambda p: iv(p[0], None if p[1] is None else p[0] + p[1])
    ),
    max_size=12,
)


@given(spans, spans)
def test_union_is_idempotent_and_commutative(a: list[Interval], b: list[Interval]) -> None:
    once = union(a, b)
    assert union(once, once) == once
    assert union(b, a) == once


@given(spans, spans)
def test_a_splits_into_its_part_inside_b_and_its_part_outside(a: list[Interval], b: list[Interval]) -> None:
    inside, outside = intersect(a, b), subtract(a, b)
    assert intersect(inside, outside) == []
    assert union(inside, outside) == normalize(a)


# -- timelines ---------------------------------------------------------------------------------


class Events:
    def __init__(self) -> None:
        self.n = 0

    def __call__(
        self,
        kind: EventKind,
        minutes: float,
        device: str = "cam-a",
        *,
        received: float | None = None,
        source: str = "onvif:enc-1",
        **attributes: object,
    ) -> StoredEvent:
        self.n += 1
        return StoredEvent(
            id=self.n,
            source=source,
            native_id=f"n{self.n}",
            kind=kind,
            device_id=device,
            location_id="here",
            occurred_at=m(minutes),
            received_at=m(minutes if received is None else received),
            attributes=dict(attributes),
        )


K = EventKind
WINDOW = iv(0, 600)


def test_events_out_of_order_and_duplicated_give_the_same_timeline() -> None:
    ev = Events()
    events = [
        ev(K.CAMERA_COMM_LOST, 10),
        ev(K.CAMERA_COMM_RESTORED, 20),
        ev(K.CAMERA_SIGNAL_LOSS, 30),
        ev(K.CAMERA_SIGNAL_RESTORED, 45),
        ev(K.CAMERA_RECORDING_STOPPED, 40),
        ev(K.CAMERA_RECORDING_STARTED, 50),
    ]
    expected = [
        StateSpan(m(10), m(20), State.DOWN, frozenset({"comm_lost"})),
        StateSpan(m(30), m(40), State.DOWN, frozenset({"signal_loss"})),
        StateSpan(m(40), m(45), State.DOWN, frozenset({"signal_loss", "recording_stopped"})),
        StateSpan(m(45), m(50), State.DEGRADED, frozenset({"recording_stopped"})),
    ]
    assert camera_timeline("cam-a", events, WINDOW).spans == expected
    shuffled = [*events, events[0], events[3]]  # replays: same source and native id
    random.Random(7).shuffle(shuffled)
    assert camera_timeline("cam-a", shuffled, WINDOW).spans == expected


def test_a_restore_before_its_loss_in_time_does_not_end_the_later_loss() -> None:
    ev = Events()
    # Arrival order: the loss at 20 arrives after a restore that happened at 5 (late delivery).
    events = [ev(K.CAMERA_COMM_RESTORED, 5), ev(K.CAMERA_COMM_LOST, 20)]
    assert camera_timeline("cam-a", events, WINDOW).spans == [
        StateSpan(m(20), None, State.DOWN, frozenset({"comm_lost"}))  # still down: open
    ]


def test_a_bridge_outage_is_unknown_and_forgets_what_the_old_run_knew() -> None:
    ev = Events()
    sessions = [iv(0, 100), iv(120, None)]  # the bridge died at 100 (last heartbeat), restarted at 120
    events = [
        ev(K.CAMERA_COMM_LOST, 90),  # never restored in that run
        ev(K.CAMERA_COMM_RESTORED, 130, received=130),  # the new run knows nothing to restore
        ev(K.CAMERA_SIGNAL_LOSS, 80),
        ev(K.CAMERA_SIGNAL_LOSS, 121, received=121),  # re-reported by the new run's first sync
        ev(K.CAMERA_SIGNAL_RESTORED, 140, received=140),
    ]
    topology = Topology({"cam-a": "here"}, {"cam-a": "enc-1"})
    [timeline] = build_timelines(events, topology, iv(0, 200), sessions=sessions).values()
    assert timeline.spans == [
        StateSpan(m(80), m(90), State.DOWN, frozenset({"signal_loss"})),
        StateSpan(m(90), m(100), State.DOWN, frozenset({"signal_loss", "comm_lost"})),
        StateSpan(m(100), m(120), State.UNKNOWN, frozenset({"bridge_down"})),
        StateSpan(m(121), m(140), State.DOWN, frozenset({"signal_loss"})),
    ]


def test_down_evidence_during_a_bridge_outage_is_down_not_unknown() -> None:
    ev = Events()
    sessions = [iv(0, 100), iv(200, 300)]  # the bridge was not running 100..200 and after 300
    events = [
        # Backfilled with `events import` while the bridge was not running (received then):
        ev(K.CAMERA_COMM_LOST, 120, received=130),
        ev(K.CAMERA_COMM_RESTORED, 150, received=130),
        # Replayed by the VMS after the bridge resumed: happened in the outage, received at 201.
        ev(K.CAMERA_SIGNAL_LOSS, 170, received=201, source="xprotect:xp"),
        ev(K.CAMERA_SIGNAL_RESTORED, 180, received=201, source="xprotect:xp"),
        # Imported after the last run stopped, never restored: holds, and is still open at the end.
        ev(K.CAMERA_RECORDING_STOPPED, 320, received=330),
    ]
    topology = Topology({"cam-a": "here"}, {"cam-a": "enc-1"})
    [timeline] = build_timelines(events, topology, iv(0, 400), sessions=sessions).values()
    outage = frozenset({"bridge_down"})
    assert timeline.spans == [
        StateSpan(m(100), m(120), State.UNKNOWN, outage),
        StateSpan(m(120), m(150), State.DOWN, outage | {"comm_lost"}),
        StateSpan(m(150), m(170), State.UNKNOWN, outage),
        StateSpan(m(170), m(180), State.DOWN, outage | {"signal_loss"}),
        StateSpan(m(180), m(200), State.UNKNOWN, outage),
        StateSpan(m(300), m(320), State.UNKNOWN, outage),
        StateSpan(m(320), None, State.DEGRADED, outage | {"recording_stopped"}),  # open
    ]
    comm = next(c for c in timeline.causes if c.cause == "comm_lost")
    assert (comm.opened_by, comm.closed_by) == (1, 2)  # the evidence: the imported events


def test_a_loss_imported_during_an_outage_holds_until_the_next_run_starts() -> None:
    ev = Events()
    sessions = [iv(0, 100), iv(200, None)]
    events = [ev(K.CAMERA_COMM_LOST, 110, received=150)]  # no restore: the new run did not re-report it
    topology = Topology({"cam-a": "here"}, {"cam-a": "enc-1"})
    [timeline] = build_timelines(events, topology, iv(0, 300), sessions=sessions).values()
    assert timeline.spans == [
        StateSpan(m(100), m(110), State.UNKNOWN, frozenset({"bridge_down"})),
        StateSpan(m(110), m(200), State.DOWN, frozenset({"bridge_down", "comm_lost"})),
    ]


def test_an_interval_not_ended_by_the_window_end_stays_open() -> None:
    ev = Events()
    events = [
        ev(K.CAMERA_COMM_LOST, 10),
        ev(K.CAMERA_COMM_RESTORED, 50),  # after the window: not read back as ended within it
        ev(K.CAMERA_SIGNAL_LOSS, 5),
        ev(K.CAMERA_SIGNAL_RESTORED, 30),  # ends exactly at the window end: closed
    ]
    timeline = camera_timeline("cam-a", events[:2], iv(0, 30))
    assert timeline.spans == [StateSpan(m(10), None, State.DOWN, frozenset({"comm_lost"}))]
    assert [(c.cause, c.end, c.closed_by) for c in timeline.causes] == [("comm_lost", None, None)]
    # A cause ending exactly at the window's end ended within it; the camera's down state goes on.
    timeline = camera_timeline("cam-a", events, iv(0, 30))
    assert timeline.spans == [
        StateSpan(m(5), m(10), State.DOWN, frozenset({"signal_loss"})),
        StateSpan(m(10), None, State.DOWN, frozenset({"signal_loss", "comm_lost"})),
    ]
    assert [(c.cause, c.end) for c in timeline.causes] == [("signal_loss", m(30)), ("comm_lost", None)]
    # A report of yesterday while the camera is still down today: the outage is open at its end.
    timeline = camera_timeline("cam-a", [ev(K.CAMERA_COMM_LOST, 10)], iv(0, 30))
    assert timeline.spans == [StateSpan(m(10), None, State.DOWN, frozenset({"comm_lost"}))]
    # And the bridge not running at the end of a past window: unknown, open.
    topology = Topology({"cam-a": "here"}, {"cam-a": "enc-1"})
    [timeline] = build_timelines([], topology, iv(0, 30), sessions=[iv(0, 20), iv(40, None)]).values()
    assert timeline.spans == [StateSpan(m(20), None, State.UNKNOWN, frozenset({"bridge_down"}))]
    [timeline] = build_timelines([], topology, iv(0, 30), sessions=[iv(0, 20), iv(30, None)]).values()
    assert timeline.spans == [StateSpan(m(20), m(30), State.UNKNOWN, frozenset({"bridge_down"}))]


def test_clip_open_keeps_what_goes_on_past_the_window_open() -> None:
    assert clip_open([iv(-5, 5), iv(8, 10), iv(9, 40), iv(30, 50), iv(20, None)], iv(0, 10)) == [
        iv(0, 5),
        iv(8, None),
    ]
    assert clip_open([iv(8, 10)], iv(0, 10)) == [iv(8, 10)]


def test_a_vms_gap_makes_only_its_connectors_cameras_unknown() -> None:
    gap = StoredEvent(
        1,
        "xprotect:xprotect-main",
        "gap-1",
        K.VMS_GAP,
        "xprotect-main",
        "quad",
        m(10),
        m(25),
        {"from": m(10).isoformat(), "to": m(25).isoformat()},
    )
    topology = Topology(
        {"cam-x": "a", "cam-y": "b", "cam-o": "c"},
        {"cam-x": "xprotect-main", "cam-y": "xprotect-main", "cam-o": "enc-1"},
    )
    timelines = build_timelines([gap], topology, iv(0, 60))
    unknown = [StateSpan(m(10), m(25), State.UNKNOWN, frozenset({"vms_gap"}))]
    assert timelines["cam-x"].spans == unknown
    assert timelines["cam-y"].spans == unknown
    assert timelines["cam-o"].spans == []


def test_tamper_intervals_use_the_events_end_or_the_hold_and_ignore_lights() -> None:
    ev = Events()
    events = [
        ev(K.CAMERA_TAMPER, 10, tamper="covered", seconds=120),
        ev(K.CAMERA_TAMPER, 30, tamper="defocus"),  # no end given: held
        ev(K.CAMERA_TAMPER, 50, tamper="lights", seconds=600),
    ]
    hold = TAMPER_HOLD.total_seconds() / 60
    assert camera_timeline("cam-a", events, WINDOW).spans == [
        StateSpan(m(10), m(12), State.DEGRADED, frozenset({"tamper:covered"})),
        StateSpan(m(30), m(30 + hold), State.DEGRADED, frozenset({"tamper:defocused"})),
    ]


# -- coverage ----------------------------------------------------------------------------------


def timeline_of(camera: str, *causes: CauseInterval, window: Interval = WINDOW) -> object:
    from vmsbridge.health.timeline import CameraTimeline

    return CameraTimeline(camera, window, list(causes), resolve_states(causes))


def test_a_location_has_a_gap_only_while_every_camera_is_down() -> None:
    a = timeline_of("cam-a", CauseInterval(m(0), m(10), "comm_lost", State.DOWN))
    b = timeline_of("cam-b", CauseInterval(m(5), m(15), "signal_loss", State.DOWN))
    c = timeline_of(
        "cam-c",
        CauseInterval(m(0), m(8), "tamper:moved", State.DEGRADED),
        CauseInterval(m(8), m(30), "comm_lost", State.DOWN),
    )
    coverage = location_coverage("here", [a, b, c], WINDOW)  # type: ignore[list-item]
    assert coverage.spans == [
        StateSpan(
            m(5),
            m(8),
            State.DEGRADED,
            frozenset({"cam-a: comm_lost", "cam-b: signal_loss", "cam-c: tamper:moved"}),
        ),
        StateSpan(
            m(8), m(10), State.DOWN, frozenset({"cam-a: comm_lost", "cam-b: signal_loss", "cam-c: comm_lost"})
        ),
    ]
    assert coverage.seconds(State.DOWN, m(600)) == 120.0


def test_unknown_coverage_when_no_camera_is_known_to_work() -> None:
    a = timeline_of("cam-a", CauseInterval(m(0), m(10), "comm_lost", State.DOWN))
    b = timeline_of("cam-b", CauseInterval(m(0), m(20), "bridge_down", State.UNKNOWN))
    coverage = location_coverage("here", [a, b], WINDOW)  # type: ignore[list-item]
    assert [(s.start, s.end, s.state) for s in coverage.spans] == [(m(0), m(10), State.UNKNOWN)]


@given(
    st.lists(
        st.lists(
            st.tuples(st.integers(-50, 650), st.integers(1, 300), st.sampled_from(list(State)[1:])),
            max_size=6,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_coverage_gap_minutes_never_exceed_the_window(cameras: list[list[tuple[int, int, State]]]) -> None:
    window = iv(0, 600)
    timelines = []
    for n, spec in enumerate(cameras):
        causes = [CauseInterval(m(s), m(s + d), f"c{state.value}", state) for s, d, state in spec]
        clipped = [
            CauseInterval(p.start, p.end, c.cause, c.state)
            for c in causes
            for p in clip([c.interval], window)
        ]
        timelines.append(timeline_of(f"cam-{n}", *clipped, window=window))
    coverage = location_coverage("here", timelines, window)  # type: ignore[arg-type]
    total = sum(coverage.seconds(s, m(600)) for s in (State.DOWN, State.DEGRADED, State.UNKNOWN))
    assert total <= 600 * 60
    for span in coverage.spans:  # and each uncovered span is inside the window, never overlapping another
        assert window.start <= span.start
        assert span.end is not None
        assert span.end <= m(600)
    assert total == total_seconds([s.interval for s in coverage.spans], m(600))  # no span overlaps another


def test_a_lost_live_stream_is_its_own_cause_while_the_camera_still_answers() -> None:
    ev = Events()
    events = [ev(K.CAMERA_STREAM_LOST, 10), ev(K.CAMERA_COMM_LOST, 15), ev(K.CAMERA_COMM_RESTORED, 18)]
    events.append(ev(K.CAMERA_STREAM_RESTORED, 25))
    assert camera_timeline("cam-a", events, WINDOW).spans == [
        StateSpan(m(10), m(15), State.DOWN, frozenset({"stream_lost"})),
        StateSpan(m(15), m(18), State.DOWN, frozenset({"stream_lost", "comm_lost"})),
        StateSpan(m(18), m(25), State.DOWN, frozenset({"stream_lost"})),
    ]
