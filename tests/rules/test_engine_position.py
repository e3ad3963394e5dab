"""The rule engine's saved log position after a crash mid-batch: the rest of the batch is handled
after a restart, and no event it had handled fires a rule again (its firings are claimed)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tests.rules.conftest import rules_site
from tests.rules.test_engine_bookkeeping import CountingPtz, engine_on, phone_moves, stored_pickups
from vmsbridge.controls import Controls
from vmsbridge.model import StoredEvent
from vmsbridge.rules.engine import RULES_STAGE, RuleEngine
from vmsbridge.store.stores import Stores


class Crash(BaseException):
    """What ends the engine mid-batch in these tests (as a dying process would): not an error tied
    to the event, which the engine retries and sets aside (tests/rules/test_poison_events.py)."""


def crash_on(engine: RuleEngine, event_id: int) -> None:
    """Make ``engine`` fail as it comes to ``event_id`` (as a bug or a dying process would)."""
    observe = engine.matcher.observe

    def failing(event: StoredEvent) -> None:
        if event.id == event_id:
            raise Crash(f"crash at event {event_id}")
        observe(event)

    engine.matcher.observe = failing  # type: ignore[method-assign]


async def no_save() -> None:
    """A killed process saves nothing more: the position stays where it was last saved."""


@pytest.mark.parametrize("how", ["raise", "kill"])
async def test_a_crash_mid_batch_leaves_no_event_of_the_batch_unhandled_or_handled_twice(
    how: str, stores: Stores, tmp_path: Path
) -> None:
    site = rules_site(tmp_path, phone_moves(10))
    ptz = CountingPtz()  # moves never end: nothing about them is recorded before the crash
    await stores.events.save_stage_position(RULES_STAGE, (0, 0))  # both engines read from the start
    events = await stored_pickups(stores, 6)
    ids = [e.id for e in events]

    first = engine_on(site, stores, Controls(ptz={"onvif-ptz": ptz}), tmp_path)
    crash_on(first, ids[3])
    if how == "kill":
        first._save_position = no_save  # type: ignore[method-assign]
    with pytest.raises(Crash):
        await first.run()
    assert [event_id for _, event_id in first.fired] == ids[:3]

    second = engine_on(site, stores, Controls(ptz={"onvif-ptz": ptz}), tmp_path)
    await second.recall_firings()
    while await second.process_batch():
        pass

    fired = [event_id for _, event_id in first.fired] + [event_id for _, event_id in second.fired]
    assert fired == ids, "every event of the batch fires the rule exactly once across the restart"
    await ptz.until_running(6)  # awaits: each event's one PTZ move under way
    assert ptz.calls == 6
    for engine in (first, second):
        await engine.cancel_firings()
    assert await stores.events.stage_position(RULES_STAGE) is not None


async def test_an_event_retried_after_a_read_error_is_handled_and_counts_once_in_a_window(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = rules_site(
        tmp_path,
        """
[[rules.custom]]
name = "three-pickups"
on = ["phone.offhook"]
count = { at_least = 3, within_seconds = 60, same = "device" }
actions = [{ type = "notify_operator" }]

[[rules.custom]]
name = "while-open"
on = ["phone.offhook"]
during_open_incident = true
actions = [{ type = "notify_operator" }]
""",
    )
    await stores.events.save_stage_position(RULES_STAGE, (0, 0))
    events = await stored_pickups(stores, 2)
    engine = engine_on(site, stores, Controls(), tmp_path)
    observe = engine.matcher.observe
    observed: list[int] = []

    def noting(event: StoredEvent) -> None:
        observed.append(event.id)
        observe(event)

    engine.matcher.observe = noting  # type: ignore[method-assign]
    open_before = stores.incidents.open_before
    asked: list[datetime] = []

    async def failing_once(location_id: str, at: datetime) -> bool:
        asked.append(at)
        if len(asked) == 2:  # the second event, after it was observed
            raise OSError("disk gone")
        return await open_before(location_id, at)

    monkeypatch.setattr(stores.incidents, "open_before", failing_once)
    with pytest.raises(OSError, match="disk gone"):
        await engine.process_batch()  # the engine's loop backs off and calls it again
    while await engine.process_batch():
        pass
    assert asked == [events[0].occurred_at, events[1].occurred_at, events[1].occurred_at]
    assert observed == [events[0].id, events[1].id]
    assert engine.fire_count == 0, "two pickups are not three, however often one is retried"
