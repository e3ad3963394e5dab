"""Static privacy masks per camera: permanent ones, and liftable ones with time-bounded lifts.

A *permanent* mask is applied to every frame, always. A *liftable* mask is applied unless a
:class:`MaskLift` that names it (by label) is active at the instant asked about. A lift records who
granted it, why, when and until when; it is bounded (at most :data:`MAX_LIFT`) and uses timezone-aware
datetimes only. Writing the audit record is the service layer's job; this module only refuses lifts
that could not be audited (no actor, no reason, unbounded, naive times) and answers which masks apply.

Rasters are computed once per frame size and set of applied masks (:meth:`MaskSet.mask_for`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import numpy as np

from analytics.geometry import Polygon, polygon_mask

__all__ = ["MAX_LIFT", "MaskKind", "MaskLift", "MaskSet", "StaticMask", "polygons_of"]

MaskKind = Literal["permanent", "liftable"]

#: The longest a single lift may last; a longer need is a new, separately audited lift.
MAX_LIFT = timedelta(hours=24)


def _require_aware(name: str, value: datetime) -> None:
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (e.g. UTC), got the naive {value.isoformat()}")


@dataclass(frozen=True)
class StaticMask:
    """One polygon (source-frame pixels) that is blanked out with a solid fill."""

    polygon: Polygon
    kind: MaskKind
    label: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("permanent", "liftable"):
            raise ValueError(f"mask kind must be 'permanent' or 'liftable', got {self.kind!r}")
        if len(self.polygon) < 3:
            raise ValueError(f"mask {self.label!r}: needs 3 points or more, got {len(self.polygon)}")
        for x, y in self.polygon:
            if x < 0 or y < 0:
                raise ValueError(f"mask {self.label!r}: negative coordinate in point ({x},{y})")
        if self.kind == "liftable" and not self.label.strip():
            raise ValueError("a liftable mask needs a label: lifts name the mask they lift")


@dataclass(frozen=True)
class MaskLift:
    """Permission to show what a liftable mask hides, for a bounded time, with who and why."""

    mask_label: str
    actor: str
    reason: str
    granted_at: datetime
    until: datetime

    def __post_init__(self) -> None:
        if not self.mask_label.strip():
            raise ValueError("a lift must name the mask it lifts (mask_label)")
        if not self.actor.strip():
            raise ValueError(f"lift of {self.mask_label!r}: the actor (who lifts it) is required")
        if not self.reason.strip():
            raise ValueError(f"lift of {self.mask_label!r}: a reason is required")
        _require_aware("granted_at", self.granted_at)
        _require_aware("until", self.until)
        if self.until <= self.granted_at:
            raise ValueError(
                f"lift of {self.mask_label!r}: until ({self.until.isoformat()}) must be after "
                f"granted_at ({self.granted_at.isoformat()})"
            )
        if self.until - self.granted_at > MAX_LIFT:
            raise ValueError(
                f"lift of {self.mask_label!r}: lasts {self.until - self.granted_at}, longer than the "
                f"maximum {MAX_LIFT}; grant a new lift when this one ends"
            )

    @property
    def duration(self) -> timedelta:
        return self.until - self.granted_at

    def active_at(self, t: datetime) -> bool:
        """Whether the lift is in force at ``t`` (``granted_at <= t < until``)."""
        _require_aware("t", t)
        return self.granted_at <= t < self.until

    def covers(self, start: datetime, end: datetime) -> bool:
        """Whether the lift is in force for the whole of ``[start, end)``."""
        _require_aware("start", start)
        _require_aware("end", end)
        return self.granted_at <= start and end <= self.until


@dataclass
class MaskSet:
    """The static masks of one camera and the lifts granted on them."""

    masks: Sequence[StaticMask]
    lifts: Sequence[MaskLift] = ()
    _rasters: dict[tuple[int, int, tuple[int, ...]], np.ndarray] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self.masks = tuple(self.masks)
        self.lifts = tuple(self.lifts)
        liftable: set[str] = set()
        for m in self.masks:
            if m.kind == "liftable":
                if m.label in liftable:
                    raise ValueError(f"two liftable masks share the label {m.label!r}: a lift must name one")
                liftable.add(m.label)
        permanent = {m.label for m in self.masks if m.kind == "permanent" and m.label}
        for lift in self.lifts:
            if lift.mask_label in liftable:
                continue
            if lift.mask_label in permanent:
                raise ValueError(f"mask {lift.mask_label!r} is permanent and cannot be lifted")
            raise ValueError(f"lift names {lift.mask_label!r}, which is no liftable mask of this camera")

    def _lifted(self, mask: StaticMask, at: datetime) -> bool:
        return mask.kind == "liftable" and any(
            lift.mask_label == mask.label and lift.active_at(at) for lift in self.lifts
        )

    def _applied_indices(self, at: datetime) -> tuple[int, ...]:
        _require_aware("at", at)
        return tuple(i for i, m in enumerate(self.masks) if not self._lifted(m, at))

    def effective(self, at: datetime) -> list[StaticMask]:
        """Masks applied at ``at``: permanent ones always, liftable ones unless an active lift names them."""
        return [self.masks[i] for i in self._applied_indices(at)]

    def effective_between(self, start: datetime, end: datetime) -> list[StaticMask]:
        """The masks to apply to footage spanning ``[start, end)`` (e.g. one clip).

        Conservative: a liftable mask is left off only if one lift covers the whole span.
        """
        _require_aware("start", start)
        _require_aware("end", end)
        if end < start:
            raise ValueError(f"span ends ({end.isoformat()}) before it starts ({start.isoformat()})")
        return [
            m
            for m in self.masks
            if not (
                m.kind == "liftable"
                and any(lift.mask_label == m.label and lift.covers(start, end) for lift in self.lifts)
            )
        ]

    def active_lifts(self, at: datetime) -> list[MaskLift]:
        _require_aware("at", at)
        return [lift for lift in self.lifts if lift.active_at(at)]

    def mask_for(self, width: int, height: int, at: datetime) -> np.ndarray:
        """uint8 0/255 ``height x width`` raster of the masks applied at ``at``.

        Computed once per frame size and set of applied masks; treat the result as read-only.
        """
        applied = self._applied_indices(at)
        key = (width, height, applied)
        raster = self._rasters.get(key)
        if raster is None:
            raster = polygon_mask([self.masks[i].polygon for i in applied], width, height)
            raster.setflags(write=False)
            self._rasters[key] = raster
        return raster


def polygons_of(masks: Iterable[StaticMask]) -> list[Polygon]:
    """The polygons of ``masks`` (e.g. ``polygons_of(mask_set.effective(at))`` for :class:`RedactOptions`)."""
    return [m.polygon for m in masks]
