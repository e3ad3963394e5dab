"""Keeps the bridge's long-lived stages running: a stage that dies is restarted, within a budget.

A stage is given as a factory of coroutines (``ingest.run``), so each restart gets a fresh run.
A death is logged with its traceback and counted; the stage restarts after a capped backoff. A
stage that keeps dying (more than :attr:`RestartPolicy.restarts` restarts within
:attr:`RestartPolicy.within` seconds) is given up: :attr:`Supervisor.failed` is set, and
``vmsbridge run`` stops and exits 1 rather than run on without it.
"""

from __future__ import annotations

__all__ = ["RestartPolicy", "Supervisor"]

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from vmsbridge.backoff import Backoff

log = logging.getLogger(__name__)

StageFactory = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class RestartPolicy:
    restarts: int = 5  # restarts allowed within ``within`` seconds; one more death gives the stage up
    within: float = 600.0
    first_delay: float = 1.0
    max_delay: float = 60.0
    healthy_after: float = 300.0  # a stage that ran this long died of something new: backoff starts over


class Supervisor:
    """Runs stages as tasks and restarts those that die; see the module docstring."""

    def __init__(
        self, policy: RestartPolicy | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy or RestartPolicy()
        self._clock = clock
        self.failed = asyncio.Event()  # set when a stage has spent its restart budget
        self.restarts: Counter[str] = Counter()  # per stage, over the supervisor's life
        self.given_up: list[str] = []
        self._stopping = asyncio.Event()

    def watch(self, name: str, stage: StageFactory) -> asyncio.Task[None]:
        """Start ``stage()`` now, and again whenever it dies, until the budget is spent."""
        return asyncio.create_task(self._keep(name, stage), name=name)

    def stop(self) -> None:
        """Restart nothing from now on; a stage waiting to restart ends at once."""
        self._stopping.set()

    async def _keep(self, name: str, stage: StageFactory) -> None:
        policy = self.policy
        backoff = Backoff(initial=policy.first_delay, maximum=policy.max_delay)
        recent: deque[float] = deque()  # when the restarts within the window happened
        while True:
            started = self._clock()
            try:
                await stage()
                return  # asked to stop, and did
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the edge of a stage: whatever killed it, the bridge must hear of it
                error = exc
            died = self._clock()
            if self._stopping.is_set():
                log.error("the %s stage died while the bridge was stopping", name, exc_info=error)
                return
            while recent and died - recent[0] > policy.within:
                recent.popleft()
            if len(recent) >= policy.restarts:
                self.given_up.append(name)
                log.critical(
                    "the %s stage died again after %d restarts within %.0f s; stopping the bridge",
                    name,
                    len(recent),
                    policy.within,
                    exc_info=error,
                )
                self.failed.set()
                return
            if died - started >= policy.healthy_after:
                backoff.reset()
            recent.append(died)
            self.restarts[name] += 1
            delay = backoff.next()
            log.error(
                "the %s stage died; restarting in %.1f s (restart %d of %d allowed within %.0f s)",
                name,
                delay,
                len(recent),
                policy.restarts,
                policy.within,
                exc_info=error,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                return
