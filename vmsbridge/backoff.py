"""Capped exponential backoff with jitter, for everything that retries a remote peer."""

from __future__ import annotations

__all__ = ["Backoff"]

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """``next()`` gives the wait before the next attempt; ``reset()`` after a success.

    Jitter (+-20 %) keeps a fleet of devices that failed together from retrying in lockstep.
    """

    initial: float = 1.0
    maximum: float = 60.0
    factor: float = 2.0
    jitter: float = 0.2
    attempts: int = 0
    _current: float = field(default=0.0, repr=False)

    def next(self) -> float:
        self._current = self.initial if self.attempts == 0 else min(self._current * self.factor, self.maximum)
        self.attempts += 1
        return self._current * random.uniform(1 - self.jitter, 1 + self.jitter)

    def reset(self) -> None:
        self.attempts = 0
        self._current = 0.0
