"""Placing packets in real time: the stream's timestamps, anchored to the wall clock by least delay.

A packet cannot have been captured after it arrived, so for every packet ``capture = t + C`` with
``C <= arrival - t`` (``t`` its timestamp in seconds). The packet that arrived with the least delay bounds
``C`` best, which is why the estimate is a minimum: the packets FFmpeg buffers while it opens the stream
all arrive at once, late, and must not set the clock. The minimum is taken over a window (the last two
segments) so that a camera clock running slower than ours is followed, not frozen at its first value.
"""

from __future__ import annotations

__all__ = ["WallClock"]

import math
from datetime import UTC, datetime


class WallClock:
    """Estimates the wall-clock offset of one stream from (timestamp, arrival) pairs."""

    def __init__(self) -> None:
        self._previous = math.inf
        self._current = math.inf

    def observe(self, t: float, arrival: float) -> None:
        self._current = min(self._current, arrival - t)

    def roll(self) -> None:
        """Start a new window (at a segment boundary): older observations age out one window later."""
        self._previous, self._current = self._current, math.inf

    @property
    def offset(self) -> float:
        return min(self._previous, self._current)

    def at(self, t: float) -> datetime:
        """The real time of stream time ``t``; call :meth:`observe` at least once first."""
        return datetime.fromtimestamp(t + self.offset, UTC)
