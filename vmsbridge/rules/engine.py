"""The rule engine: follows stored events, decides which rules fire, and runs their actions.

It follows the event log in commit order from its own position, so it sees each stored event
once, right after ingest stores it. Reading takes no write lock (on SQLite the writers queue for
one), so a busy store does not hold back a PTZ command. The position moves past an event only once
the event is handled, and is saved in the background after each batch. A firing is claimed in the
store, keyed by (rule, event), before its actions start. A firing starts all its actions at once, each
in its own task; the incident comes from correlation (or is opened for the rule), and every
action's outcome is recorded on it as soon as that action ends. The engine never waits for an
action: a clip that takes two minutes does not delay the next phone call's PTZ move.

The fast path: a rule whose decision needs nothing but the event itself (no window condition,
no "during an open incident") starts its PTZ moves as soon as ingest has validated the event,
before it is stored: a camera turning to a caller should not wait for a disk. Everything else
about that firing (the incident, the clip, the record of the move) waits for the stored event,
as above.

At most ``[rules] max_concurrent_firings`` firings run their actions at once (a storm of events
must not start thousands of clip downloads); later firings wait in order and start as earlier
ones end, none is dropped. Fast-path PTZ moves do not count against the limit.

After a crash the engine resumes from the last saved position: events it had handled but not yet
saved (the last few milliseconds) are considered again, and the rest of a batch it was handling is
not skipped. A rule fires on a considered-again event only if it had not claimed it: a replay never
moves a camera or raises an alarm a second time (a firing whose actions a crash cut short is not
repeated either; a camera should not swing late). On start it recalls the firings claimed or
recorded on incidents (``recall_firings``), so cooldowns span a restart. If a claim cannot be
written (the database is failing) the rule fires all the same: a caller's camera matters more than
a possible repeat. Actions on events older than ``max_age_seconds`` never run
(a camera should not swing to a phone that was picked up an hour ago). On first start it begins
at the end of the log.

Errors are of two kinds. A transient one (the database unavailable, a connection lost: an
``SQLAlchemyError`` or ``OSError``) stops the batch; the loop backs off and reads the same event
again, however long that takes: no event is skipped because the disk was away. Any other error
is tied to the event (a condition that raises on it, an attribute it lacks): the rule tries it
``EVENT_ATTEMPTS`` times, then sets the event aside for that rule (``rule_failures``, with the
error, logged once at ERROR, listed for operators by the command line) and goes on. The other rules
handle the event all the same, and one bad event never stops the engine. A restart does not try
a set-aside event again.

The claims are pruned once their event lies behind the saved position (the engine never reads it
again) and they are older than ``FIRINGS_KEPT`` (more than any cooldown looks back, see
``recall_firings``); set-aside events are kept ``FAILURES_KEPT`` for operators.
"""

from __future__ import annotations

__all__ = ["EVENT_ATTEMPTS", "READING", "RULES_STAGE", "WINDOWS", "RuleEngine"]

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from vmsbridge.backoff import Backoff
from vmsbridge.bus import EventPayload
from vmsbridge.config.rules import Action, OpenIncident, PtzGoto, Rule, XProtectAlarm
from vmsbridge.correlate import CORRELATOR_STAGE, Correlator
from vmsbridge.ingest import validate_payload
from vmsbridge.model import Event, StoredEvent
from vmsbridge.model.events import AcceptedEvent, LogPosition, UnreadableEvent
from vmsbridge.model.rules import INTERRUPTED, ActionOutcome, RuleFailure
from vmsbridge.rules.actions import Firing, RuleContext, run_action
from vmsbridge.rules.matching import Matcher

log = logging.getLogger(__name__)

RULES_STAGE = "rules"
INCIDENT_WAIT_SECONDS = 10.0
EARLY_KEEP = timedelta(minutes=10)
RECENT_FIRINGS = 1_000
HELD_BACK_RETRY_SECONDS = 0.05
# An error tied to the event: tried this many times, a short pause apart, then set aside.
EVENT_ATTEMPTS = 3
EVENT_RETRY_SECONDS = 0.05
SET_ASIDE_KEPT = 1_000  # the set-aside (rule, event) pairs remembered in memory
# What fails when remembering an event for window conditions raises: not one rule, but the event.
WINDOWS = "(window conditions)"
# What fails on a stored row that does not make an event (a kind this version does not know).
READING = "(reading the event)"
FIRINGS_KEPT = timedelta(days=1)  # at least: the longest max_age + cooldown of any rule counts too
FAILURES_KEPT = timedelta(days=90)
PRUNE_EVERY_SECONDS = 3600.0


@dataclass
class _EarlyMoves:
    started: datetime
    tasks: list[asyncio.Task[tuple[bool, str, int]]]


@dataclass(frozen=True)
class _Work:
    """A firing waiting for its turn: how to run it, and how to record it if a stop comes first."""

    name: str
    run: Callable[[], Coroutine[Any, Any, None]]
    interrupted: Callable[[], Coroutine[Any, Any, None]]


def _fast_kinds(rules: list[Rule]) -> frozenset[str]:
    """Event kinds that may start a fast-path PTZ move."""
    return frozenset(
        kind.value
        for rule in rules
        if _decides_alone(rule) and any(isinstance(a, PtzGoto) for a in rule.actions)
        for kind in rule.on
    )


def _decides_alone(rule: Rule) -> bool:
    """Whether the rule's decision needs only the event (and the rule's own cooldown)."""
    return rule.unless is None and rule.count is None and not rule.during_open_incident


class RuleEngine:
    def __init__(
        self,
        ctx: RuleContext,
        rules: list[Rule],
        correlator: Correlator,
        *,
        batch_size: int = 500,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_firings: int | None = None,
    ) -> None:
        """``max_firings`` defaults to the site's ``[rules] max_concurrent_firings``."""
        self.ctx = ctx
        self.matcher = Matcher(rules)
        self._fast_kinds = _fast_kinds(rules)
        self._correlator = correlator
        self._batch_size = batch_size
        self._clock = clock
        self._wake = asyncio.Event()
        self._stopping = False
        self._firings: set[asyncio.Task[None]] = set()
        if max_firings is None:
            max_firings = ctx.directory.site.rules.max_concurrent_firings
        self._max_firings = max_firings
        self._waiting: deque[_Work] = deque()
        # Every fast-path move still running, whether or not its stored event has claimed it: a
        # stop waits for them and then cancels them, as it does firings.
        self._early_tasks: set[asyncio.Task[tuple[bool, str, int]]] = set()
        # The latest firings as (rule, event id), and how many there were: a long-running
        # bridge keeps a bounded window, not every firing since it started.
        self.fired: deque[tuple[str, int]] = deque(maxlen=RECENT_FIRINGS)
        self.fire_count = 0
        self.seen = 0
        # Fast-path PTZ moves by (source, native_id, rule), waiting for their stored event.
        self._early: dict[tuple[str, str, str], _EarlyMoves] = {}
        # How far the engine has handled the log (not merely read it): what it saves.
        self._position: LogPosition | None = None
        self._last_observed: int | None = None  # an event retried after an error is observed once
        self._saved: LogPosition | None = None
        self._saver: asyncio.Task[None] | None = None
        # Failed attempts by (rule, event id) not yet given up on, and the (rule, event id) given up
        # on lately: an event read again (after a transient error, or a restart) is not tried again.
        self._attempts: dict[tuple[str, int], int] = {}
        self._set_aside: OrderedDict[tuple[str, int], None] = OrderedDict()
        self.set_aside_count = 0
        self._next_prune = 0.0  # monotonic time of the next pruning of old claims

    @property
    def rules(self) -> list[Rule]:
        return self.matcher.rules

    def notify(self) -> None:
        self._wake.set()

    def tap(self, payload: EventPayload) -> None:
        """A payload entering the bus (not stored yet): start its fast-path PTZ moves now."""
        kind = payload.kind if isinstance(payload, Event) else payload.get("kind")
        if kind not in self._fast_kinds:  # most events: one set lookup
            return
        checked = validate_payload(payload, self.ctx.directory)  # the same check ingest makes
        if isinstance(checked, AcceptedEvent):
            self.accepted([checked])

    def accepted(self, events: Sequence[AcceptedEvent]) -> None:
        """Valid events not stored yet: start the fast-path PTZ moves now."""
        now = self._clock()
        for accepted in events:
            event = accepted.event
            provisional = StoredEvent(
                0,
                event.source,
                event.native_id,
                event.kind,
                event.device_id,
                accepted.location_id,
                event.occurred_at,
                event.received_at,
                event.attributes,
            )
            for rule in self.matcher.rules:
                moves = [a for a in rule.actions if isinstance(a, PtzGoto)]
                if not moves or not _decides_alone(rule) or event.kind not in rule.on:
                    continue
                key = (event.source, event.native_id, rule.name)
                if key in self._early or not self._decides_early(rule, provisional, now):
                    continue
                firing = Firing(rule, provisional, asyncio.get_running_loop().create_future())
                started = self._clock()
                tasks = [
                    asyncio.create_task(
                        self._timed(a, firing), name=f"rule-early:{rule.name}:{event.native_id}"
                    )
                    for a in moves
                ]
                for task in tasks:
                    self._early_tasks.add(task)
                    task.add_done_callback(self._early_tasks.discard)
                self._early[key] = _EarlyMoves(started, tasks)
                log.info(
                    "rule %s moves PTZ for %s %s before it is stored",
                    rule.name,
                    event.kind.value,
                    event.device_id,
                )

    def _decides_early(self, rule: Rule, event: StoredEvent, now: datetime) -> bool:
        """The fast-path decision; one that raises is left to the stored event (retried, set aside)."""
        try:
            return self.matcher.decide(rule, event, now=now).fires
        except Exception as exc:
            log.warning(
                "rule %s could not decide on %s before it is stored: %s", rule.name, event.native_id, exc
            )
            return False

    async def _timed(self, action: Action, firing: Firing) -> tuple[bool, str, int]:
        t0 = time.perf_counter()
        try:
            detail, ok = await run_action(action, firing, self.ctx), True
        except Exception as exc:  # recorded with the stored event's other outcomes
            detail, ok = _describe(exc), False
        return ok, detail, round((time.perf_counter() - t0) * 1000)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def reload(self, rules: list[Rule]) -> None:
        """Swap in a new rule set; window memory and cooldowns carry over. Runs between events."""
        fresh = Matcher(rules)
        fresh.adopt_memory(self.matcher)
        self.matcher = fresh
        self._fast_kinds = _fast_kinds(rules)
        log.info("rules reloaded: %s", ", ".join(r.name for r in rules) or "(none)")

    async def run(self) -> None:
        backoff = Backoff(initial=0.5, maximum=30.0)
        try:
            await self._follow(backoff)
        finally:
            if self._saver is not None:
                await asyncio.gather(self._saver, return_exceptions=True)
            await self._save_position()

    async def _follow(self, backoff: Backoff) -> None:
        while not self._stopping:
            try:
                while await self.process_batch():
                    pass
                # Events a running transaction holds back (PostgreSQL) need a second look soon:
                # their commit has already woken us, and nothing else may.
                held_back = await self.ctx.stores.events.held_back(self._position)
                backoff.reset()
            except (SQLAlchemyError, OSError) as exc:
                delay = backoff.next()
                log.error("rule engine could not read events, retrying in %.1f s: %s", delay, exc)
                await asyncio.sleep(delay)
                continue
            idle = HELD_BACK_RETRY_SECONDS if held_back else 30.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=idle)
            self._wake.clear()

    async def locate(self) -> None:
        """Take up the saved position, else (a new install) the end of the log: events stored from
        now on are considered, whenever the engine gets to them. The events set aside beyond it
        (read again now) are not tried again."""
        if self._position is None:
            events_store = self.ctx.stores.events
            saved = await events_store.stage_position(RULES_STAGE)
            position = saved if saved is not None else await events_store.log_position()
            for key in await self.ctx.stores.rule_actions.set_aside_after(position):
                self._set_aside[key] = None
            self._position = self._saved = position

    async def process_batch(self) -> int:
        events_store = self.ctx.stores.events
        await self.locate()
        assert self._position is not None
        batch = await events_store.positioned_after(self._position, self._batch_size)
        if self._early:
            self._forget_stale_early()
        for event, position in batch:
            if isinstance(event, UnreadableEvent):  # reading it again gives the same: no retries
                await self._set_aside_unreadable(event)
            else:
                await self.consider(event)
            # Past this event only now: an error or a crash mid-batch resumes with the next one.
            self._position = position
            self.seen += 1
        if batch and (self._saver is None or self._saver.done()):
            self._saver = asyncio.create_task(self._save_position(), name="rules:position")
        return len(batch)

    async def _save_position(self) -> None:
        position = self._position
        if position is None or position == self._saved:
            return
        try:
            await self.ctx.stores.events.save_stage_position(RULES_STAGE, position)
            self._saved = position
        except (SQLAlchemyError, OSError) as exc:  # the next batch tries again
            log.warning("could not save the rule engine's position: %s", exc)
            return
        if time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
            try:
                await self.prune()
            except (SQLAlchemyError, OSError) as exc:  # in an hour, then
                log.warning("could not prune old rule firings: %s", exc)

    async def prune(self) -> int:
        """Delete the claims and set-aside records nothing needs any more (see the module
        docstring); how many went. Only behind the saved position: a restart reads from there."""
        if self._saved is None:
            return 0
        reach = max(
            (timedelta(seconds=r.max_age_seconds + r.cooldown_seconds) for r in self.matcher.rules),
            default=timedelta(0),
        )
        now = self._clock()
        store = self.ctx.stores.rule_actions
        pruned = 0
        for prune, before in (
            (store.prune_firings, now - max(FIRINGS_KEPT, 2 * reach)),
            (store.prune_failures, now - FAILURES_KEPT),
        ):
            while chunk := await prune(before, self._saved):  # a chunk at a time, see the store
                pruned += chunk
        if pruned:
            log.info("pruned %d rule firings and set-aside events behind the engine's position", pruned)
        return pruned

    async def consider(self, event: StoredEvent) -> None:
        """Let every rule handle the event. A transient error is raised (the event is read again);
        an error tied to the event is retried, then set aside for the rule that met it."""
        if event.id != self._last_observed:  # an event retried after a read error counts once
            await self._guarded(WINDOWS, event, partial(self._observe, event))
            self._last_observed = event.id
        now = self._clock()
        for rule in self.matcher.rules:
            await self._guarded(rule.name, event, partial(self._consider_rule, rule, event, now))

    async def _observe(self, event: StoredEvent) -> None:
        self.matcher.observe(event)

    async def _guarded(self, name: str, event: StoredEvent, handle: Callable[[], Awaitable[None]]) -> None:
        """``handle()`` the event for ``name`` (a rule), retrying an error tied to the event a few
        times before setting the event aside for it; a transient error goes to the caller."""
        key = (name, event.id)
        if key in self._set_aside:
            return
        pause = Backoff(initial=EVENT_RETRY_SECONDS, maximum=1.0)
        while True:
            try:
                await handle()
            except (SQLAlchemyError, OSError):
                raise  # transient: the engine's loop backs off and reads this event again
            except Exception as exc:
                attempts = self._attempts[key] = self._attempts.get(key, 0) + 1
                if attempts >= EVENT_ATTEMPTS:
                    await self._give_up(name, event, exc, attempts)
                    return
                log.warning(
                    "%s failed on event %d (attempt %d of %d): %s",
                    name,
                    event.id,
                    attempts,
                    EVENT_ATTEMPTS,
                    _describe(exc),
                )
                await asyncio.sleep(pause.next())
            else:
                self._attempts.pop(key, None)
                return

    async def _give_up(self, name: str, event: StoredEvent, exc: Exception, attempts: int) -> None:
        failure = RuleFailure(name, event.id, type(exc).__name__, str(exc), attempts, self._clock())
        await self._set_aside_failure(failure, f"{event.kind.value} {event.device_id}", exc)

    async def _set_aside_unreadable(self, event: UnreadableEvent) -> None:
        if (READING, event.id) in self._set_aside:
            return
        failure = RuleFailure(READING, event.id, event.error, event.message, 1, self._clock())
        await self._set_aside_failure(failure, "unreadable", None)

    async def _set_aside_failure(self, failure: RuleFailure, what: str, exc: Exception | None) -> None:
        """Set the event aside for the failure's rule: on record first (a transient error writing it
        is raised, and the event read again), then logged once, and never tried again."""
        await self.ctx.stores.rule_actions.set_aside(failure)
        key = (failure.rule, failure.event_id)
        self._attempts.pop(key, None)
        self._set_aside[key] = None
        while len(self._set_aside) > SET_ASIDE_KEPT:
            self._set_aside.popitem(last=False)
        self.set_aside_count += 1
        log.error(
            "%s failed on event %d (%s) %d times: set aside, the engine goes on: %s: %s",
            failure.rule,
            failure.event_id,
            what,
            failure.attempts,
            failure.error,
            failure.message,
            exc_info=exc,
        )

    async def _consider_rule(self, rule: Rule, event: StoredEvent, now: datetime) -> None:
        early = self._early.pop((event.source, event.native_id, rule.name), None)
        if early is not None:  # decided on the fast path, its PTZ moves already under way
            self._start(rule, event, early)
            await self._claim(rule, event)  # a replay after a crash must not move it again
            return
        open_here = False
        if rule.during_open_incident and event.kind in rule.on:
            open_here = await self._open_incident_before(event)
        decision = self.matcher.decide(rule, event, now=now, open_incident_here=open_here)
        if not decision.fires:
            if event.kind in rule.on:
                log.debug("rule %s skips event %d: %s", rule.name, event.id, decision.why)
            return
        if not await self._claim(rule, event):
            return
        log.info("rule %s fires on event %d (%s %s)", rule.name, event.id, event.kind.value, event.device_id)
        self._start(rule, event, None)

    async def _claim(self, rule: Rule, event: StoredEvent) -> bool:
        """Claim the firing in the store; False if it was claimed before (the event is read again
        after a crash)."""
        try:
            claimed = await self.ctx.stores.rule_actions.claim_firing(rule.name, event.id, self._clock())
        except (SQLAlchemyError, OSError) as exc:
            log.error(
                "rule %s: could not record its firing on event %d, firing all the same: %s",
                rule.name,
                event.id,
                exc,
            )
            return True
        if not claimed:
            log.info("rule %s fired on event %d before a restart: not again", rule.name, event.id)
        return claimed

    def _start(self, rule: Rule, event: StoredEvent, early: _EarlyMoves | None) -> None:
        self.fired.append((rule.name, event.id))
        self.fire_count += 1
        self._submit(
            _Work(
                f"rule:{rule.name}:{event.id}",
                partial(self._fire, rule, event, early),
                partial(self._fire, rule, event, early, interrupted=True),
            )
        )

    def _submit(self, work: _Work) -> None:
        if len(self._firings) < self._max_firings:
            self._launch(work)
            return
        if not self._waiting:
            log.warning(
                "%d rule firings are running, the limit; later ones wait their turn", len(self._firings)
            )
        self._waiting.append(work)

    def _launch(self, work: _Work) -> None:
        task = asyncio.create_task(work.run(), name=work.name)
        self._firings.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._firings.discard(task)
        while self._waiting and len(self._firings) < self._max_firings:
            self._launch(self._waiting.popleft())

    async def _open_incident_before(self, event: StoredEvent) -> bool:
        """An open incident at the event's place that began before it (not one the event opened)."""
        return await self.ctx.stores.incidents.open_before(event.location_id, event.occurred_at)

    async def _fire(
        self, rule: Rule, event: StoredEvent, early: _EarlyMoves | None, *, interrupted: bool = False
    ) -> None:
        """Run the firing's actions; ``interrupted``: a stop came while it waited its turn, so its
        incident is still found (or opened) and each action is recorded as interrupted."""
        loop = asyncio.get_running_loop()
        firing = Firing(rule, event, loop.create_future())
        opener = next((a for a in rule.actions if isinstance(a, OpenIncident)), None)
        others = [a for a in rule.actions if not isinstance(a, OpenIncident)]
        if early is not None:
            others = [a for a in others if not isinstance(a, PtzGoto)]
        if interrupted:
            tasks = [asyncio.create_task(self._record_interrupted(firing, a)) for a in others]
        else:
            # The side effects go first: the incident lookup below waits for the database.
            tasks = [asyncio.create_task(self._run_one(a, firing)) for a in others]
        if early is not None:
            tasks.append(asyncio.create_task(self._record_early(firing, early)))
        # Shielded: a stop cancels the actions, and each cancelled action still records itself as
        # interrupted on the incident, so the incident must be found even while stopping.
        resolver = asyncio.create_task(self._resolve_incident(firing, opener))
        try:
            await asyncio.gather(*tasks, asyncio.shield(resolver), return_exceptions=True)
        finally:
            await asyncio.gather(resolver, *tasks, return_exceptions=True)

    async def _resolve_incident(self, firing: Firing, opener: OpenIncident | None) -> None:
        try:
            await self._resolve_incident_of(firing, opener)
        finally:
            # Whatever happened, the actions waiting to record their outcomes are released.
            if not firing.incident.done():
                firing.incident.set_result(None)

    async def _resolve_incident_of(self, firing: Firing, opener: OpenIncident | None) -> None:
        started, t0 = self._clock(), time.perf_counter()
        try:
            linked = await self._correlated_incident(firing.event)
            incident_id = linked
            if opener is not None:
                incident_id = await self.ctx.stores.incidents.claim_for_rule(
                    firing.event,
                    linked,
                    priority=opener.priority,
                    summary=firing.render(opener.summary, self.ctx.directory),
                    actor=firing.actor,
                )
        except Exception as exc:
            firing.incident.set_result(None)
            if opener is not None:
                await self._record(
                    firing, opener, started, t0, ok=False, detail=f"{type(exc).__name__}: {exc}"
                )
            raise
        firing.incident.set_result(incident_id)
        if opener is not None:
            how = "joined the incident correlation opened" if linked is not None else "opened for this rule"
            await self._record(
                firing,
                opener,
                started,
                t0,
                ok=True,
                detail=f"incident {incident_id} ({how}; {opener.priority.value})",
            )

    async def _correlated_incident(self, event: StoredEvent) -> int | None:
        """The incident correlation put the event in, once correlation has seen it."""
        deadline = time.monotonic() + INCIDENT_WAIT_SECONDS
        incidents = self.ctx.stores.incidents
        while True:
            await self._correlator.catch_up()
            linked = await incidents.incident_of_event(event.id)
            if linked is not None or await incidents.correlated(CORRELATOR_STAGE, event.id):
                return linked
            if time.monotonic() > deadline:
                log.warning(
                    "correlation has not reached event %d after %.0f s", event.id, INCIDENT_WAIT_SECONDS
                )
                return None
            # PostgreSQL: an older transaction still open holds the correlator back briefly.
            await asyncio.sleep(0.05)

    async def _record_early(self, firing: Firing, early: _EarlyMoves) -> None:
        moves = [a for a in firing.rule.actions if isinstance(a, PtzGoto)]
        for action, task in zip(moves, early.tasks, strict=True):
            try:
                ok, detail, ms = await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # this firing is being cancelled, not just the move
                ms = round((self._clock() - early.started).total_seconds() * 1000)
                ok, detail = False, INTERRUPTED
            outcome = ActionOutcome(
                firing.rule.name, action.type, ok, ms, detail, early.started, firing.event.id
            )
            await self._save(firing, outcome)

    def _forget_stale_early(self) -> None:
        """Fast-path moves whose event never got stored (a duplicate, a refused row): drop them,
        cancelling a move still under way (nothing will ever record it)."""
        cutoff = self._clock() - EARLY_KEEP
        for key, early in list(self._early.items()):
            if early.started < cutoff:
                del self._early[key]
                for task in early.tasks:
                    if not task.done():
                        log.warning("cancelling a PTZ move whose event was never stored: %s", task.get_name())
                        task.cancel()

    async def _run_one(self, action: Action, firing: Firing) -> None:
        started, t0 = self._clock(), time.perf_counter()
        try:
            detail = await run_action(action, firing, self.ctx)
            ok = True
        except asyncio.CancelledError:
            await self._record(firing, action, started, t0, ok=False, detail=INTERRUPTED)
            raise
        except Exception as exc:  # an action's failure is its outcome, never the engine's
            ok, detail = False, _describe(exc)
            log.warning("rule %s: %s failed: %s", firing.rule.name, action.type, detail)
        await self._record(firing, action, started, t0, ok=ok, detail=detail)

    async def _record(
        self, firing: Firing, action: Action, started: datetime, t0: float, *, ok: bool, detail: str
    ) -> None:
        ms = round((time.perf_counter() - t0) * 1000)
        await self._save(
            firing, ActionOutcome(firing.rule.name, action.type, ok, ms, detail, started, firing.event.id)
        )

    async def _save(self, firing: Firing, outcome: ActionOutcome) -> None:
        """Put ``outcome`` on the firing's incident once that is known. A stop meanwhile does not cut
        this short: the cancellation is passed on once the outcome is on record."""
        saving = asyncio.ensure_future(self._write(firing, outcome))
        try:
            await asyncio.shield(saving)
        except asyncio.CancelledError:
            await saving
            raise

    async def _write(self, firing: Firing, outcome: ActionOutcome) -> None:
        incident_id = await firing.incident_id()
        try:
            await self.ctx.stores.rule_actions.record([outcome], incident_id)
        except (SQLAlchemyError, OSError) as exc:
            log.error(
                "could not record the outcome of %s for rule %s: %s (%s)",
                outcome.action,
                firing.rule.name,
                exc,
                outcome.detail,
            )

    async def _record_interrupted(self, firing: Firing, action: Action) -> None:
        await self._record(firing, action, self._clock(), time.perf_counter(), ok=False, detail=INTERRUPTED)

    async def recall_firings(self) -> int:
        """Remember the firings of earlier runs that cooldowns and the replay check can still
        concern, so a device re-sync after a restart (the phone still off hook) does not move the
        camera and open an incident a second time."""
        reach = max(
            (r.max_age_seconds + r.cooldown_seconds for r in self.matcher.rules),
            default=0.0,
        )
        if not reach:
            return 0
        firings = await self.ctx.stores.rule_actions.firings_since(self._clock() - timedelta(seconds=reach))
        for rule_name, event in firings:
            self.matcher.remember(rule_name, event)
        return len(firings)

    async def resume_interrupted(self) -> int:
        """VMS alarms a stop cut short (the VMS was unreachable) are raised now, within their
        rule's ``retry_seconds``: an alarm is not lost because the bridge restarted meanwhile."""
        rules = {r.name: r for r in self.matcher.rules}
        oldest = max(
            (a.retry_seconds for r in rules.values() for a in r.actions if isinstance(a, XProtectAlarm)),
            default=0,
        )
        if not oldest:
            return 0
        resumed = 0
        since = self._clock() - timedelta(seconds=oldest)
        for outcome in await self.ctx.stores.rule_actions.interrupted("xprotect_alarm", since):
            rule = rules.get(outcome.rule)
            alarm = next((a for a in rule.actions if isinstance(a, XProtectAlarm)), None) if rule else None
            event = await self.ctx.stores.events.get(outcome.event_id)
            if rule is None or alarm is None or event is None:
                continue  # the rule is gone from the site file: nothing to honour
            if outcome.started_at < self._clock() - timedelta(seconds=alarm.retry_seconds):
                continue
            firing = Firing(rule, event, asyncio.get_running_loop().create_future())
            firing.incident.set_result(outcome.incident_id)
            log.info(
                "rule %s: raising the XProtect alarm for event %d that a stop interrupted",
                rule.name,
                event.id,
            )
            self._submit(
                _Work(
                    f"rule:{rule.name}:{event.id}:resumed",
                    partial(self._run_one, alarm, firing),
                    partial(self._record_interrupted, firing, alarm),
                )
            )
            resumed += 1
        return resumed

    async def drain(self, seconds: float) -> bool:
        """Wait for firings (running and waiting) and fast-path moves to finish; True if all did."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while running := self._firings | self._early_tasks:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            # A firing ending starts a waiting one (its done callback runs before this returns).
            await asyncio.wait(running, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        return not self._waiting

    async def cancel_firings(self) -> None:
        """Cancel the firings and fast-path moves still running, record the waiting firings as
        interrupted, and wait until all of that has ended."""
        waiting = list(self._waiting)
        self._waiting.clear()
        running = self._firings | self._early_tasks
        for task in running:
            task.cancel()
        recorders = [asyncio.create_task(w.interrupted(), name=f"{w.name}:interrupted") for w in waiting]
        await asyncio.gather(*running, *recorders, return_exceptions=True)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
