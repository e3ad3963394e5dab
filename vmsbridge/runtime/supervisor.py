"""Keeps the bridge's long-lived tasks running: a task that dies is restarted, within a budget.

A task is given as a factory of coroutines (``ingest.run``), so each restart gets a fresh run.
A death is logged with its traceback and counted; the task restarts after a capped backoff. A
task that keeps dying (more than :attr:`RestartPolicy.restarts` restarts within
:attr:`RestartPolicy.within` seconds) is given up: :attr:`Supervisor.failed` is set, and
``vmsbridge run`` stops and exits 1 rather than run on without it.

Tasks are halted one by one, each by its own ``stop`` (or cancelled); :meth:`Supervisor.halt`
bounds how long a task may take to finish what it is doing.
"""

from __future__ import annotations

__all__ = ["RestartPolicy", "Supervisor"]

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from vmsbridge.backoff import Backoff
from vmsbridge.runtime.options import RestartPolicy

log = logging.getLogger(__name__)

StageFactory = Callable[[], Awaitable[None]]

HALT_GRACE_SECONDS = 30.0  # a task asked to stop that is still busy after this is cancelled


@dataclass
class _Supervised:
    name: str
    policy: RestartPolicy
    stop: Callable[[], None] | None  # asks the task to finish; None: it is cancelled
    on_give_up: Callable[[], None] | None
    halting: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class Supervisor:
    """Runs tasks and restarts those that die; see the module docstring."""

    def __init__(
        self, policy: RestartPolicy | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy or RestartPolicy()
        self._clock = clock
        self.failed = asyncio.Event()  # set when a task has spent its restart budget
        self.restarts: Counter[str] = Counter()  # per task, over the supervisor's life
        self.given_up: list[str] = []
        self.started: list[str] = []  # names, in the order they were started
        self.stopped: list[str] = []  # names, in the order they were halted
        self._tasks: dict[str, _Supervised] = {}

    def start(
        self,
        name: str,
        stage: StageFactory,
        *,
        policy: RestartPolicy | None = None,
        stop: Callable[[], None] | None = None,
        on_give_up: Callable[[], None] | None = None,
    ) -> asyncio.Task[None]:
        """Start ``stage()`` now, and again whenever it dies, until it is halted or its budget is spent.

        ``stop`` asks a running stage to finish (it then returns); without one, halting cancels it.
        ``on_give_up`` runs once if the budget is spent.
        """
        if name in self._tasks:
            raise ValueError(f"a task named {name!r} is already supervised")
        entry = _Supervised(name, policy or self.policy, stop, on_give_up)
        entry.task = asyncio.create_task(self._keep(entry, stage), name=name)
        self._tasks[name] = entry
        self.started.append(name)
        return entry.task

    def task(self, name: str) -> asyncio.Task[None]:
        task = self._tasks[name].task
        assert task is not None
        return task

    async def halt(self, name: str, *, grace: float = HALT_GRACE_SECONDS) -> None:
        """Stop ``name`` for good: ask it to finish (or cancel it), and wait until it has."""
        entry = self._tasks[name]
        task = entry.task
        assert task is not None
        entry.halting.set()
        self.stopped.append(name)
        if task.done():
            return
        if entry.stop is None:
            task.cancel()
        else:
            entry.stop()
            await asyncio.wait({task}, timeout=grace)
            if not task.done():
                log.error(
                    "the %s stage did not finish within %.0f s of being asked to; cancelled", name, grace
                )
                task.cancel()
        await asyncio.wait({task})  # its outcome is the supervisor's business, already logged

    async def halt_together(self, names: list[str]) -> None:
        """Halt several tasks at once (in the order given, without waiting for one before the next)."""
        await asyncio.gather(*(self.halt(name) for name in names))

    async def shutdown(self) -> None:
        """Halt every task not halted yet, the last started first."""
        for name in reversed(self.started):
            if not self._tasks[name].halting.is_set():
                await self.halt(name)

    def stop(self) -> None:
        """Restart nothing from now on; a task waiting to restart ends at once."""
        for entry in self._tasks.values():
            entry.halting.set()

    async def _keep(self, entry: _Supervised, stage: StageFactory) -> None:
        name, policy = entry.name, entry.policy
        backoff = Backoff(initial=policy.first_delay, maximum=policy.max_delay)
        recent: deque[float] = deque()  # when the restarts within the window happened
        while True:
            started = self._clock()
            try:
                await stage()
                return  # asked to stop, and did
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the edge of a task: whatever killed it, the bridge must hear of it
                error = exc
            died = self._clock()
            if entry.halting.is_set():
                log.error("the %s stage died while the bridge was stopping", name, exc_info=error)
                return
            while recent and died - recent[0] > policy.within:
                recent.popleft()
            if policy.restarts is not None and len(recent) >= policy.restarts:
                self.given_up.append(name)
                log.critical(
                    "the %s stage died again after %d restarts within %.0f s; stopping the bridge",
                    name,
                    len(recent),
                    policy.within,
                    exc_info=error,
                )
                if entry.on_give_up is not None:
                    entry.on_give_up()
                self.failed.set()
                return
            if died - started >= policy.healthy_after:
                backoff.reset()
            recent.append(died)
            self.restarts[name] += 1
            delay = backoff.next()
            allowed = (
                f"restart {len(recent)} of {policy.restarts} allowed within {policy.within:.0f} s"
                if policy.restarts is not None
                else f"restart {self.restarts[name]}"
            )
            log.error("the %s stage died; restarting in %.1f s (%s)", name, delay, allowed, exc_info=error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(entry.halting.wait(), delay)
            if entry.halting.is_set():
                return
