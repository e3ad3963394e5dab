"""Static masks: permanent and liftable masks, bounded audited lifts, rasters, solid fill on yuv planes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics.geometry import polygon_mask
from privacy.masks import MAX_LIFT, MaskLift, MaskSet, StaticMask, polygons_of
from privacy.people import SOLID_STATIC, PlaneMask, YuvFrame, fill_mask

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
DOOR = [(10, 10), (60, 10), (60, 50), (10, 50)]
WINDOW = [(100, 20), (150, 20), (150, 70), (100, 70)]


def _lift(label: str = "window", *, start: datetime = T0, hours: float = 1.0, **kw: str) -> MaskLift:
    args = {"actor": "officer.lee", "reason": "incident 2024-031 review"} | kw
    return MaskLift(label, args["actor"], args["reason"], start, start + timedelta(hours=hours))


def _set(*lifts: MaskLift) -> MaskSet:
    return MaskSet(
        [StaticMask(DOOR, "permanent", "door"), StaticMask(WINDOW, "liftable", "window")], lifts=lifts
    )


def test_permanent_always_and_liftable_unless_lifted() -> None:
    masks = _set(_lift(start=T0, hours=2))
    before, during, at_until, after = (
        T0 - timedelta(seconds=1),
        T0 + timedelta(hours=1),
        T0 + timedelta(hours=2),
        T0 + timedelta(hours=3),
    )
    assert [m.label for m in masks.effective(before)] == ["door", "window"]
    assert [m.label for m in masks.effective(T0)] == ["door"]  # granted_at is inclusive
    assert [m.label for m in masks.effective(during)] == ["door"]
    assert [m.label for m in masks.effective(at_until)] == ["door", "window"]  # until is exclusive
    assert [m.label for m in masks.effective(after)] == ["door", "window"]
    assert polygons_of(masks.effective(during)) == [DOOR]


def test_lift_active_at_and_other_timezones() -> None:
    lift = _lift(start=T0, hours=1)
    cet = timezone(timedelta(hours=1))
    assert lift.active_at(datetime(2024, 3, 1, 13, 30, tzinfo=cet))  # 12:30 UTC
    assert not lift.active_at(datetime(2024, 3, 1, 14, 0, tzinfo=cet))  # 13:00 UTC == until
    assert lift.duration == timedelta(hours=1)


def test_raster_follows_the_lift_and_is_computed_once() -> None:
    masks = _set(_lift(start=T0, hours=1))
    during = masks.mask_for(160, 120, T0 + timedelta(minutes=5))
    after = masks.mask_for(160, 120, T0 + timedelta(hours=2))
    assert during[30, 30] == 255
    assert during[40, 120] == 0
    assert after[30, 30] == 255
    assert after[40, 120] == 255
    assert masks.mask_for(160, 120, T0 + timedelta(minutes=50)) is during  # cached, not recomputed
    assert masks.mask_for(160, 120, T0 - timedelta(days=1)) is after
    assert not during.flags.writeable
    assert np.array_equal(after, polygon_mask([DOOR, WINDOW], 160, 120))


def test_effective_between_is_conservative() -> None:
    masks = _set(_lift(start=T0, hours=1))
    inside = masks.effective_between(T0 + timedelta(minutes=1), T0 + timedelta(minutes=30))
    straddling = masks.effective_between(T0 + timedelta(minutes=50), T0 + timedelta(minutes=70))
    assert [m.label for m in inside] == ["door"]
    assert [m.label for m in straddling] == ["door", "window"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: _lift(hours=0), "must be after"),
        (lambda: _lift(hours=-1), "must be after"),
        (lambda: _lift(hours=MAX_LIFT / timedelta(hours=1) + 0.01), "longer than the maximum"),
        (lambda: _lift(actor=" "), "actor"),
        (lambda: _lift(reason=""), "reason"),
        (lambda: _lift(label=""), "name the mask"),
        (lambda: MaskLift("window", "a", "b", datetime(2024, 3, 1, 12), T0 + timedelta(hours=1)), "naive"),
        (lambda: MaskLift("window", "a", "b", T0, datetime(2024, 3, 1, 13)), "naive"),
    ],
)
def test_invalid_lifts_are_rejected(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


def test_lift_of_exactly_max_is_allowed() -> None:
    assert _lift(hours=MAX_LIFT / timedelta(hours=1)).duration == MAX_LIFT


def test_lifts_must_name_a_liftable_mask() -> None:
    with pytest.raises(ValueError, match="permanent and cannot be lifted"):
        _set(_lift("door"))
    with pytest.raises(ValueError, match="no liftable mask"):
        _set(_lift("garage"))
    with pytest.raises(ValueError, match="share the label"):
        MaskSet([StaticMask(DOOR, "liftable", "x"), StaticMask(WINDOW, "liftable", "x")])


def test_naive_query_time_and_bad_masks_are_rejected() -> None:
    with pytest.raises(ValueError, match="naive"):
        _set().effective(datetime(2024, 3, 1, 12))
    with pytest.raises(ValueError, match="naive"):
        _lift().active_at(datetime(2024, 3, 1, 12))
    with pytest.raises(ValueError, match="needs a label"):
        StaticMask(DOOR, "liftable")
    with pytest.raises(ValueError, match="3 points"):
        StaticMask([(0, 0), (5, 5)], "permanent")
    with pytest.raises(ValueError, match="kind"):
        StaticMask(DOOR, "sometimes")  # type: ignore[arg-type]


@given(
    start_min=st.integers(-10_000, 10_000),
    length_min=st.integers(1, 24 * 60),
    probe_min=st.integers(-20_000, 20_000),
)
def test_lift_window_property(start_min: int, length_min: int, probe_min: int) -> None:
    start = T0 + timedelta(minutes=start_min)
    lift = MaskLift("window", "a", "b", start, start + timedelta(minutes=length_min))
    t = T0 + timedelta(minutes=probe_min)
    masks = _set(lift)
    applied = [m.label for m in masks.effective(t)]
    assert "door" in applied  # a permanent mask is never lifted
    assert ("window" not in applied) == (start <= t < start + timedelta(minutes=length_min))


def test_fill_mask_replaces_every_pixel_exactly() -> None:
    rng = np.random.default_rng(7)
    w, h = 96, 64
    frame = YuvFrame.from_buffer(rng.integers(0, 256, w * h * 3 // 2, dtype=np.uint8), w, h)
    before = frame.buffer.copy()
    raster = polygon_mask([[(5, 7), (60, 3), (41, 50)]], w, h)
    fill_mask(frame, PlaneMask.from_raster(raster), SOLID_STATIC)
    on = raster > 0
    assert np.all(frame.y[on] == SOLID_STATIC[0])
    orig = YuvFrame.from_buffer(before, w, h)
    assert np.array_equal(frame.y[~on], orig.y[~on])
    # a chroma sample is masked when any of its four luma samples is; the others are untouched
    chroma_on = on.reshape(h // 2, 2, w // 2, 2).any(axis=(1, 3))
    assert np.all(frame.u[chroma_on] == SOLID_STATIC[1])
    assert np.all(frame.v[chroma_on] == SOLID_STATIC[2])
    assert np.array_equal(frame.u[~chroma_on], orig.u[~chroma_on])
    assert np.array_equal(frame.v[~chroma_on], orig.v[~chroma_on])
    assert PlaneMask.from_raster(np.zeros((h, w), np.uint8)) is None
