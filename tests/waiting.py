"""Bounded waits for tests: a limit generous enough for a busy 2-core machine, and a failure that
names what was awaited (a bare TimeoutError says nothing about which step hung)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

WAIT = 60.0  # upper bound on any one wait: a loaded machine slows a test down, never fails it


async def awaited(step: Awaitable[T], what: str, within: float = WAIT) -> T:
    """``step``'s result; fails naming ``what`` if it takes longer than ``within`` seconds."""
    try:
        return await asyncio.wait_for(step, within)
    except TimeoutError:
        raise AssertionError(f"gave up after {within:.0f} s waiting for {what}") from None


async def holds(check: Callable[[], bool], what: str, within: float = WAIT) -> None:
    """Await state that nothing announces (counters, task state); fails naming ``what``."""

    async def poll() -> None:
        while not check():  # noqa: ASYNC110 - there is no event to await for this state
            await asyncio.sleep(0.005)

    await awaited(poll(), what, within)
