"""An event a rule keeps failing on is set aside for that rule after a few attempts, and the engine
goes on; a database outage is waited out, never set aside; the claims of old firings are pruned."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from tests.rules.conftest import rules_site
from tests.rules.test_engine_bookkeeping import Clock, CountingPtz, engine_on, stored_pickups
from tests.rules.test_engine_position import no_save
from vmsbridge.cli.main import main
from vmsbridge.config.rules import Rule
from vmsbridge.controls import Controls
from vmsbridge.model import StoredEvent
from vmsbridge.model.rules import RuleFailure
from vmsbridge.rules.engine import EVENT_ATTEMPTS, FIRINGS_KEPT, READING, RULES_STAGE, RuleEngine
from vmsbridge.rules.matching import Decision
from vmsbridge.runtime import RestartPolicy
from vmsbridge.runtime.supervisor import Supervisor
from vmsbridge.store.database import resolve_db_url
from vmsbridge.store.stores import Stores, open_store
from vmsbridge.store.tables import EventRow

WAIT = 60.0

TWO_RULES = """
[[rules.custom]]
name = "phone-ptz"
on = ["phone.offhook"]
cooldown_seconds = 0
actions = [{ type = "ptz_goto" }]

[[rules.custom]]
name = "phone-note"
on = ["phone.offhook"]
cooldown_seconds = 0
actions = [{ type = "notify_operator" }]
"""

WHILE_OPEN = """
[[rules.custom]]
name = "while-open"
on = ["phone.offhook"]
during_open_incident = true
actions = [{ type = "notify_operator" }]
"""


class ConditionBug(Exception):
    """What a faulty condition raises on one particular event."""


def failing_on(engine: RuleEngine, rule_name: str, event_id: int) -> list[int]:
    """Make ``rule_name``'s decision raise on ``event_id`` (a condition bug, a malformed event);
    returns the ids of the events that rule was asked about, in order."""
    decide = engine.matcher.decide
    asked: list[int] = []

    def deciding(rule: Rule, event: StoredEvent, **kwargs: object) -> Decision:
        if rule.name == rule_name:
            asked.append(event.id)
            if event.id == event_id:
                raise ConditionBug(f"no 'zone' attribute on event {event_id}")
        return decide(rule, event, **kwargs)  # type: ignore[arg-type]

    engine.matcher.decide = deciding  # type: ignore[method-assign]
    return asked


async def test_a_poison_event_between_two_good_ones_is_set_aside_and_the_engine_runs_on(
    stores: Stores, tmp_path: Path
) -> None:
    site = rules_site(tmp_path, TWO_RULES)
    ptz = CountingPtz()
    await stores.events.save_stage_position(RULES_STAGE, (0, 0))
    good, poison, good_too = await stored_pickups(stores, 3)
    engine = engine_on(site, stores, Controls(ptz={"onvif-ptz": ptz}), tmp_path)
    asked = failing_on(engine, "phone-ptz", poison.id)
    # A tight budget: before the fix one poison event spent it in moments.
    supervisor = Supervisor(RestartPolicy(restarts=2, within=600.0, first_delay=0.01, max_delay=0.01))
    supervisor.start("rules", engine.run, stop=engine.stop)
    try:

        async def through_or_given_up() -> None:
            while ("phone-ptz", good_too.id) not in engine.fired and not supervisor.failed.is_set():  # noqa: ASYNC110 - polls the engine's record of firings
                await asyncio.sleep(0.02)

        try:
            await asyncio.wait_for(through_or_given_up(), WAIT)
        except TimeoutError:
            raise AssertionError(f"gave up after {WAIT:.0f} s awaiting the event after the poison") from None
        assert not supervisor.failed.is_set(), f"the engine was given up: {supervisor.given_up}"
        assert supervisor.restarts["rules"] == 0
        fired = list(engine.fired)
        assert ("phone-ptz", good.id) in fired
        assert ("phone-ptz", poison.id) not in fired
        assert ("phone-note", poison.id) in fired, "the other rule handles the poison event all the same"
        assert asked.count(poison.id) == EVENT_ATTEMPTS
        [failure] = await stores.rule_actions.failures()
        assert (failure.rule, failure.event_id, failure.error, failure.attempts) == (
            "phone-ptz",
            poison.id,
            "ConditionBug",
            EVENT_ATTEMPTS,
        )
        assert failure.message == f"no 'zone' attribute on event {poison.id}"
    finally:
        await supervisor.halt("rules")
        await engine.cancel_firings()


async def test_a_restart_does_not_try_a_set_aside_event_again(stores: Stores, tmp_path: Path) -> None:
    site = rules_site(tmp_path, TWO_RULES)
    ptz = CountingPtz()
    await stores.events.save_stage_position(RULES_STAGE, (0, 0))
    good, poison, good_too = await stored_pickups(stores, 3)
    first = engine_on(site, stores, Controls(ptz={"onvif-ptz": ptz}), tmp_path)
    failing_on(first, "phone-ptz", poison.id)
    first._save_position = no_save  # type: ignore[method-assign]
    while await first.process_batch():
        pass  # killed now: the position it handled is never saved
    assert {("phone-ptz", good.id), ("phone-ptz", good_too.id)} <= set(first.fired)
    assert await stores.events.stage_position(RULES_STAGE) == (0, 0)
    await first.cancel_firings()

    second = engine_on(site, stores, Controls(ptz={"onvif-ptz": ptz}), tmp_path)
    asked = failing_on(second, "phone-ptz", poison.id)
    await second.recall_firings()
    while await second.process_batch():
        pass
    assert poison.id not in asked, "the set-aside event is not tried again after a restart"
    assert second.fire_count == 0, "nothing fires twice: the good events' firings were claimed"
    assert len(await stores.rule_actions.failures()) == 1
    await second.cancel_firings()


async def test_a_stored_row_that_is_no_event_is_set_aside_once_and_the_rest_fire(
    stores: Stores, tmp_path: Path
) -> None:
    site = rules_site(tmp_path, TWO_RULES)
    ptz = CountingPtz()
    await stores.events.save_stage_position(RULES_STAGE, (0, 0))
    good, bad, good_too = await stored_pickups(stores, 3)
    async with stores.db.transaction() as session:  # as an older or newer version might leave it
        await session.execute(update(EventRow).where(EventRow.id == bad.id).values(kind="phone.teleport"))
    for restarted in (False, True):  # the second engine: a restart, the first one's position unsaved
        engine = engine_on(site, stores, Controls(ptz={"onvif-ptz": ptz}), tmp_path)
        engine._save_position = no_save  # type: ignore[method-assign]
        while await engine.process_batch():
            pass
        await engine.cancel_firings()
        if not restarted:
            assert {event_id for _, event_id in engine.fired} == {good.id, good_too.id}
            assert engine.set_aside_count == 1
    assert engine.set_aside_count == 0, "a restart does not set it aside (or log it) again"
    [failure] = await stores.rule_actions.failures()
    assert (failure.rule, failure.event_id, failure.error) == (READING, bad.id, "ValueError")
    assert "phone.teleport" in failure.message


@pytest.mark.parametrize("error", [OSError("disk gone"), OperationalError("SELECT", {}, Exception("locked"))])
async def test_a_database_outage_is_waited_out_and_never_sets_the_event_aside(
    error: Exception, stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await stores.events.save_stage_position(RULES_STAGE, (0, 0))
    await stored_pickups(stores, 1)
    engine = engine_on(rules_site(tmp_path, WHILE_OPEN), stores, Controls(), tmp_path)
    open_before = stores.incidents.open_before
    outage = EVENT_ATTEMPTS * 3  # well past what an error tied to the event is given
    calls = 0

    async def away(location_id: str, at: object) -> bool:
        nonlocal calls
        calls += 1
        if calls <= outage:
            raise error
        return await open_before(location_id, at)  # type: ignore[arg-type]

    monkeypatch.setattr(stores.incidents, "open_before", away)
    for _ in range(outage):
        with pytest.raises(type(error)):
            await engine.process_batch()  # the engine's loop backs off and calls it again
    assert await engine.process_batch() == 1, "the event is handled once the database is back"
    assert calls == outage + 1
    assert await stores.rule_actions.failures() == []
    assert engine.set_aside_count == 0


async def test_old_claims_behind_the_position_are_pruned_and_the_restart_check_keeps_its_own(
    stores: Stores, tmp_path: Path
) -> None:
    clock = Clock()
    engine = engine_on(rules_site(tmp_path, WHILE_OPEN), stores, Controls(), tmp_path, clock)
    events = await stored_pickups(stores, 3)
    positions = {e.id: position for e, position in await stores.events.positioned_after((0, 0), 10)}
    handled, beyond, recent = events
    long_ago = clock.now - FIRINGS_KEPT - timedelta(hours=1)
    claims = stores.rule_actions
    assert await claims.claim_firing("while-open", handled.id, long_ago)
    assert await claims.claim_firing("while-open", beyond.id, long_ago)
    assert await claims.claim_firing("while-open", recent.id, clock.now - timedelta(minutes=5))
    await claims.set_aside(RuleFailure("while-open", handled.id, "KeyError", "'zone'", 3, long_ago))
    await stores.events.save_stage_position(RULES_STAGE, positions[handled.id])
    await engine.locate()

    assert await engine.prune() == 1, "only the old claim on an event behind the position goes"
    # The claims a restart reads again are kept: those events do not fire a second time.
    assert not await claims.claim_firing("while-open", beyond.id, clock.now)
    assert not await claims.claim_firing("while-open", recent.id, clock.now)
    assert await claims.claim_firing("while-open", handled.id, clock.now), "its claim was pruned"
    assert len(await claims.failures()) == 1, "set-aside events are kept longer, for operators"

    clock.now += timedelta(days=120)
    await stores.events.save_stage_position(RULES_STAGE, positions[recent.id])
    engine = engine_on(rules_site(tmp_path, WHILE_OPEN), stores, Controls(), tmp_path, clock)
    await engine.locate()
    assert await claims.prune_firings(clock.now, positions[recent.id], limit=2) == 2, "a chunk at a time"
    assert await engine.prune() == 2, "the last claim and the failure, now both behind and old"
    assert await claims.failures() == []


def test_rules_failed_lists_the_set_aside_events_with_their_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'failed.db'}"
    assert main(["db", "upgrade", "--db", db]) == 0
    assert main(["rules", "--failed", "--db", db]) == 0
    assert "no events set aside" in capsys.readouterr().out

    async def set_one_aside() -> int:
        async with open_store(resolve_db_url(db, None, tmp_path)) as stores:
            [event] = await stored_pickups(stores, 1)
            failure = RuleFailure("phone-ptz", event.id, "KeyError", "'zone'", 3, event.received_at)
            await stores.rule_actions.set_aside(failure)
            return event.id

    event_id = asyncio.run(set_one_aside())
    assert main(["rules", "--failed", "--db", db]) == 0
    assert f"phone-ptz  event {event_id}  after 3 attempts: KeyError: 'zone'" in capsys.readouterr().out
    assert main(["rules", "--failed", "--json", "--db", db]) == 0
    [shown] = json.loads(capsys.readouterr().out)
    assert (shown["rule"], shown["event_id"], shown["error"], shown["attempts"]) == (
        "phone-ptz",
        event_id,
        "KeyError",
        3,
    )
