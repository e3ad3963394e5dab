"""The rule engine's own bookkeeping, without devices: fast-path moves, how many firings run at
once, and finding an open incident. Controls are fakes that block until released."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from evidence.store import ContentStore
from tests.rules.conftest import rules_site
from vmsbridge.config import Camera, SiteConfig, SiteDirectory
from vmsbridge.controls import Controls, PtzMove
from vmsbridge.correlate import Correlator
from vmsbridge.model import Event, EventKind, Priority, StoredEvent
from vmsbridge.model.events import AcceptedEvent
from vmsbridge.model.rules import INTERRUPTED
from vmsbridge.rules.actions import RuleContext
from vmsbridge.rules.engine import EARLY_KEEP, RuleEngine
from vmsbridge.rules.templates import active_rules
from vmsbridge.store.stores import Stores

WAIT = 60.0  # upper bound on any single wait; a healthy run takes a fraction of it

PHONE_PTZ = """
[[rules.custom]]
name = "phone-ptz"
on = ["phone.offhook"]
actions = [{ type = "ptz_goto" }]
"""


class SlowPtz:
    """A PTZ control whose moves last until released; it notes a move being cancelled."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def goto_preset(self, camera: Camera, preset_token: str, *, settle_seconds: float) -> PtzMove:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return PtzMove(datetime.now(UTC), 0.0, 0.0)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def engine_on(
    site: SiteConfig, stores: Stores, controls: Controls, tmp_path: Path, clock: Clock | None = None
) -> RuleEngine:
    directory = SiteDirectory(site)
    ctx = RuleContext(
        directory=directory,
        stores=stores,
        controls=controls,
        evidence=ContentStore(tmp_path / "evidence"),
        jobs=None,
        work_dir=tmp_path / "work",
    )
    correlator = Correlator(stores.incidents, directory, site.correlation)
    rules = active_rules(site.rules, raises_alarms=False)
    if clock is None:
        return RuleEngine(ctx, rules, correlator)
    return RuleEngine(ctx, rules, correlator, clock=clock)


def offhook(native_id: str, at: datetime) -> AcceptedEvent:
    event = Event(
        source="test",
        native_id=native_id,
        kind=EventKind.PHONE_OFFHOOK,
        device_id="bl-7",
        occurred_at=at,
        received_at=at,
    )
    return AcceptedEvent(event, "lot-b")


def early_moves_left() -> list[str]:
    names = (t.get_name() for t in asyncio.all_tasks() if not t.done())
    return [name for name in names if name.startswith("rule-early:")]


async def test_a_stop_waits_for_then_cancels_a_fast_path_move_still_under_way(
    stores: Stores, tmp_path: Path
) -> None:
    ptz = SlowPtz()
    engine = engine_on(rules_site(tmp_path, PHONE_PTZ), stores, Controls(ptz={"onvif-ptz": ptz}), tmp_path)
    engine.accepted([offhook("n1", datetime.now(UTC))])  # its stored event never comes
    await asyncio.wait_for(ptz.started.wait(), WAIT)  # awaits: the move reaching the camera

    engine.stop()
    assert await engine.drain(0) is False  # the move is still running: not drained
    await engine.cancel_firings()
    assert ptz.cancelled.is_set()
    assert early_moves_left() == []


async def test_a_fast_path_move_whose_event_never_gets_stored_is_cancelled_once_stale(
    stores: Stores, tmp_path: Path
) -> None:
    ptz = SlowPtz()
    clock = Clock()
    site = rules_site(tmp_path, PHONE_PTZ)
    engine = engine_on(site, stores, Controls(ptz={"onvif-ptz": ptz}), tmp_path, clock)
    engine.accepted([offhook("n1", clock.now)])
    await asyncio.wait_for(ptz.started.wait(), WAIT)  # awaits: the move reaching the camera

    clock.now += EARLY_KEEP + timedelta(seconds=1)
    await engine.process_batch()  # forgets the stale move
    await asyncio.wait_for(ptz.cancelled.wait(), WAIT)  # awaits: the stale move being cancelled
    assert early_moves_left() == []


DURING_INCIDENT = """
[[rules.custom]]
name = "while-open"
on = ["phone.offhook"]
during_open_incident = true
actions = [{ type = "notify_operator" }]
"""


async def test_an_open_incident_here_counts_however_many_are_open_elsewhere(
    stores: Stores, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    here = await stores.incidents.open(
        location_id="lot-b", summary="old", priority=Priority.HIGH, actor="test", at=now - timedelta(hours=1)
    )
    for n in range(150):  # newer, and elsewhere: a list of the latest 100 open ones misses ``here``
        await stores.incidents.open(
            location_id="library", summary=f"other {n}", priority=Priority.LOW, actor="test", at=now
        )
    assert await stores.incidents.open_before("lot-b", now) is True
    assert await stores.incidents.open_before("lot-b", here.started_at) is False  # began at, not before
    assert await stores.incidents.open_before("far", now) is False

    engine = engine_on(rules_site(tmp_path, DURING_INCIDENT), stores, Controls(), tmp_path)
    event = offhook("n1", now).event
    stored = StoredEvent(1, event.source, event.native_id, event.kind, "bl-7", "lot-b", now, now)
    await engine.consider(stored)
    assert list(engine.fired) == [("while-open", 1)]
    await engine.cancel_firings()


def phone_moves(limit: int) -> str:
    return f"""
max_concurrent_firings = {limit}

[[rules.custom]]
name = "phone-ptz"
on = ["phone.offhook"]
cooldown_seconds = 0
actions = [{{ type = "ptz_goto" }}]
"""


class CountingPtz:
    """Moves that last until released, counting how many run at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.running = 0
        self.peak = 0
        self.calls = 0
        self._changed = asyncio.Condition()

    async def goto_preset(self, camera: Camera, preset_token: str, *, settle_seconds: float) -> PtzMove:
        self.calls += 1
        self.running += 1
        self.peak = max(self.peak, self.running)
        async with self._changed:
            self._changed.notify_all()
        try:
            await self.release.wait()
        finally:
            self.running -= 1
        return PtzMove(datetime.now(UTC), 0.0, 0.0)

    async def until_running(self, count: int) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: self.running == count), WAIT)


async def stored_pickups(stores: Stores, count: int) -> list[StoredEvent]:
    now = datetime.now(UTC)
    accepted = [offhook(f"n{i}", now + timedelta(milliseconds=i)) for i in range(count)]
    new, _ = await stores.events.write_batch(accepted, [])
    found = [await stores.events.get(event_id) for event_id in sorted(new.values())]
    return [e for e in found if e is not None]


async def test_firings_beyond_the_limit_wait_their_turn_and_all_run(stores: Stores, tmp_path: Path) -> None:
    ptz = CountingPtz()
    engine = engine_on(
        rules_site(tmp_path, phone_moves(2)), stores, Controls(ptz={"onvif-ptz": ptz}), tmp_path
    )
    events = await stored_pickups(stores, 10)
    for event in events:
        await engine.consider(event)
    assert engine.fire_count == 10
    await ptz.until_running(2)  # awaits: two moves under way
    assert ptz.calls == 2  # the other eight wait, none started

    ptz.release.set()
    assert await engine.drain(WAIT) is True
    assert ptz.peak == 2
    assert ptz.calls == 10
    recorded = await stores.rule_actions.firings_since(datetime.now(UTC) - timedelta(hours=1))
    assert sorted(event.id for _, event in recorded) == [e.id for e in events]


async def test_a_stop_records_the_waiting_firings_as_interrupted(stores: Stores, tmp_path: Path) -> None:
    ptz = CountingPtz()
    engine = engine_on(
        rules_site(tmp_path, phone_moves(1)), stores, Controls(ptz={"onvif-ptz": ptz}), tmp_path
    )
    events = await stored_pickups(stores, 3)
    for event in events:
        await engine.consider(event)
    await ptz.until_running(1)  # awaits: the first move under way

    engine.stop()
    assert await engine.drain(0) is False
    await engine.cancel_firings()
    assert ptz.calls == 1
    incident = await stores.incidents.incident_of_event(events[0].id)
    assert incident is not None
    outcomes = await stores.rule_actions.for_incident(incident)
    assert sorted((o.event_id, o.action, o.detail) for o in outcomes) == [
        (e.id, "ptz_goto", INTERRUPTED) for e in events
    ]
