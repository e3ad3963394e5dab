"""A task that dies is restarted with capped backoff and reported; one that keeps dying stops the
bridge; the bridge's tasks (the rule engine's too) are supervised and stop in reverse order."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import EventFactory
from tests.waiting import awaited, holds
from vmsbridge.bus import Delivery, EventSink
from vmsbridge.config import SiteConfig, parse_site_config
from vmsbridge.ingest import IngestFailed, IngestStage
from vmsbridge.model import Event, EventKind
from vmsbridge.model.health import BridgeRun
from vmsbridge.rules.engine import RuleEngine
from vmsbridge.runtime import BridgeOptions, RestartPolicy, Supervisor, build_bridge, running_services
from vmsbridge.sources import EventSource
from vmsbridge.store.stores import open_store

FAST = RestartPolicy(restarts=5, within=600.0, first_delay=0.01, max_delay=0.04)
SUPERVISOR = "vmsbridge.runtime.supervisor"
UNLIMITED = RestartPolicy(restarts=None, first_delay=0.01, max_delay=0.04)


class Crashing:
    """A stage that dies ``times`` times, then runs until released."""

    def __init__(self, times: int | None) -> None:
        self.times = times
        self.runs = 0
        self.release = asyncio.Event()

    async def run(self) -> None:
        self.runs += 1
        if self.times is None or self.runs <= self.times:
            raise RuntimeError(f"bug number {self.runs}")
        await self.release.wait()


def restart_waits(caplog: pytest.LogCaptureFixture, name: str) -> list[float]:
    pattern = re.compile(rf"the {name} stage died; restarting in ([0-9.]+) s")
    return [float(m.group(1)) for r in caplog.records if (m := pattern.match(r.getMessage()))]


async def test_a_stage_that_dies_is_restarted_with_capped_backoff_logged_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor = Supervisor(RestartPolicy(restarts=5, within=600.0, first_delay=0.1, max_delay=0.45))
    stage = Crashing(times=4)
    with caplog.at_level(logging.ERROR, logger=SUPERVISOR):
        task = supervisor.start("parser", stage.run)
        await holds(lambda: stage.runs == 5, "the fifth run")
    assert supervisor.restarts["parser"] == 4
    assert not supervisor.failed.is_set()
    assert not task.done(), "the fifth run is alive"
    waits = restart_waits(caplog, "parser")
    assert len(waits) == 4
    assert waits[0] < waits[1] < waits[2], "each restart waits longer (20 % jitter cannot reorder 2x steps)"
    assert waits[3] <= 0.45 * 1.2, "the wait is capped"
    assert all(r.exc_info for r in caplog.records), "each death is logged with its traceback"
    stage.release.set()
    await awaited(task, "the released stage to end")  # one that ends by itself is not restarted
    assert stage.runs == 5


async def test_a_stage_that_keeps_dying_spends_its_budget_and_fails_the_bridge(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor = Supervisor(FAST)
    stage = Crashing(times=None)
    with caplog.at_level(logging.ERROR, logger=SUPERVISOR):
        task = supervisor.start("parser", stage.run)
        await awaited(supervisor.failed.wait(), "the supervisor to give up")
        await awaited(task, "the given-up task to end")
    assert (stage.runs, supervisor.restarts["parser"]) == (6, 5), "5 restarts, then given up"
    assert supervisor.given_up == ["parser"]
    [critical] = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert "parser stage died again after 5 restarts" in critical.getMessage()


async def test_deaths_further_apart_than_the_window_never_spend_the_budget(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    supervisor = Supervisor(
        RestartPolicy(restarts=2, within=600.0, first_delay=0.1, max_delay=10.0, healthy_after=250.0),
        clock=lambda: now[0],
    )
    stage = Crashing(times=12)
    original = stage.run

    async def runs_five_minutes_then_dies() -> None:
        now[0] += 301.0
        await original()

    with caplog.at_level(logging.ERROR, logger=SUPERVISOR):
        task = supervisor.start("parser", runs_five_minutes_then_dies)
        await holds(lambda: stage.runs == 13, "the thirteenth run")
    assert supervisor.restarts["parser"] == 12
    assert not supervisor.failed.is_set(), "never more than 2 restarts within 10 minutes"
    waits = restart_waits(caplog, "parser")
    assert max(waits) <= 0.1 * 1.2, "a stage that had run for a while starts its backoff over"
    supervisor.stop()
    stage.release.set()
    await awaited(task, "the released stage to end")


async def test_stopping_ends_a_stage_waiting_to_restart() -> None:
    supervisor = Supervisor(RestartPolicy(first_delay=3600.0))  # far beyond any wait below
    stage = Crashing(times=None)
    task = supervisor.start("parser", stage.run)
    await holds(lambda: supervisor.restarts["parser"] == 1, "the first death to schedule a restart")
    supervisor.stop()
    await awaited(task, "the stopped task to end, not to wait out its hour of backoff")
    assert stage.runs == 1
    assert not supervisor.failed.is_set()


async def test_ingest_that_dies_is_restarted_its_batch_told_and_later_events_stored(
    site: SiteConfig,
    db_url: str,
    make_event: EventFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr("vmsbridge.runtime.options.CORE_RESTARTS", FAST)
    process = IngestStage.process
    calls = [0]

    async def dies_once(self: IngestStage, deliveries: Sequence[Delivery]) -> None:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("a bug in ingest")
        await process(self, deliveries)

    monkeypatch.setattr(IngestStage, "process", dies_once)
    with caplog.at_level(logging.ERROR, logger=SUPERVISOR):
        async with running_services(site, db_url) as services:
            with pytest.raises(IngestFailed):  # told, not left waiting
                await awaited(services.bus.publish(make_event()), "ingest to fail the first event")
            again = await awaited(services.bus.publish(make_event(minutes=1)), "the next event to be stored")
            assert again.status == "stored"
            assert services.supervisor.restarts["ingest"] == 1
            assert not services.failed.is_set()
    assert any("the ingest stage died; restarting" in r.getMessage() for r in caplog.records)


async def test_a_task_without_a_budget_is_restarted_however_often_it_dies() -> None:
    supervisor = Supervisor(FAST)
    stage = Crashing(times=12)
    task = supervisor.start("source:door-panel", stage.run, policy=UNLIMITED)
    await holds(lambda: stage.runs == 13, "the thirteenth run")
    assert supervisor.restarts["source:door-panel"] == 12
    assert not supervisor.failed.is_set(), "a device that is away is waited out"
    await supervisor.halt("source:door-panel")
    assert task.cancelled()


async def test_shutdown_halts_the_last_started_first_each_by_its_own_stop() -> None:
    supervisor = Supervisor(FAST)
    ended: list[str] = []

    def stage(name: str) -> tuple[Callable[[], Awaitable[None]], Callable[[], None]]:
        asked = asyncio.Event()

        async def run() -> None:
            await asked.wait()
            ended.append(name)

        return run, asked.set

    for name in ("first", "second", "third"):
        run, stop = stage(name)
        supervisor.start(name, run, stop=stop)
    cancelled = Crashing(times=0)  # no stop of its own: it is cancelled
    supervisor.start("fourth", cancelled.run)
    await awaited(supervisor.shutdown(), "the shutdown")
    assert supervisor.stopped == ["fourth", "third", "second", "first"]
    assert ended == ["third", "second", "first"], "each finished before the next was asked"
    assert supervisor.task("fourth").cancelled()


async def test_a_task_that_ignores_its_stop_is_cancelled_after_the_grace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor = Supervisor(FAST)
    stuck = Crashing(times=0)
    task = supervisor.start("digest", stuck.run, stop=lambda: None)
    with caplog.at_level(logging.ERROR, logger=SUPERVISOR):
        await awaited(supervisor.halt("digest", grace=0.05), "the halt past its grace")
    assert task.cancelled()
    assert any("digest stage did not finish within 0 s" in r.getMessage() for r in caplog.records)


# -- the bridge's tasks ---------------------------------------------------------------------------

CAMPUS = """
[site]
name = "Supervision College"
timezone = "America/Chicago"

[[locations]]
id = "lot-b"
name = "Parking Lot B"
clery_geography = "on_campus"
public_label = "Parking Lot B"

[[phones]]
id = "bl-9"
name = "Blue light 9"
location = "lot-b"

[rules]
[[rules.custom]]
name = "pickup"
on = ["phone.offhook"]
cooldown_seconds = 0
actions = [{ type = "open_incident", priority = "high" }]
"""


class QuietSource:
    """A source that publishes nothing and runs until cancelled."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def run(self, bus: EventSink) -> None:
        await asyncio.Event().wait()


def campus(tmp_path: Path) -> SiteConfig:
    return parse_site_config(CAMPUS + f"\n[storage]\ndata_dir = '{tmp_path / 'data'}'\n", "campus")


def pickup(native_id: str) -> Event:
    now = datetime.now(UTC)
    return Event(
        source="test",
        native_id=native_id,
        kind=EventKind.PHONE_OFFHOOK,
        device_id="bl-9",
        occurred_at=now,
        received_at=now,
    )


def bridge_options(db_url: str, tmp_path: Path, *sources: EventSource) -> BridgeOptions:
    return BridgeOptions(
        db_url=db_url,
        work_dir=tmp_path / "work",
        clip_workers=1,
        extra_sources=sources,
        core_restarts=FAST,
        source_restarts=UNLIMITED,
    )


async def test_the_bridge_stops_its_tasks_in_the_reverse_order_it_started_them(
    db_url: str, tmp_path: Path
) -> None:
    options = bridge_options(db_url, tmp_path, QuietSource("panel-a"), QuietSource("panel-b"))
    async with build_bridge(campus(tmp_path), options) as bridge:
        started = list(bridge.supervisor.started)
    assert started[:3] == ["heartbeat", "ingest", "correlator"]
    assert started.index("rules") < started.index("notifications") < started.index("source:panel-a")
    assert started[-2:] == ["source:panel-a", "source:panel-b"]
    assert bridge.supervisor.stopped == started[::-1]
    assert not bridge.failed.is_set()
    runs = await _runs(db_url)
    assert runs[-1].stopped_at is not None, "the heartbeat, stopped last, recorded the clean stop"


async def test_a_rule_engine_that_dies_is_restarted_and_its_rules_fire_again(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    process = RuleEngine.process_batch
    crashed = asyncio.Event()

    async def dies_once(self: RuleEngine) -> int:
        if not crashed.is_set():
            crashed.set()
            raise RuntimeError("a bug in the rule engine")
        return await process(self)

    monkeypatch.setattr(RuleEngine, "process_batch", dies_once)
    with caplog.at_level(logging.ERROR, logger=SUPERVISOR):
        async with build_bridge(campus(tmp_path), bridge_options(db_url, tmp_path)) as bridge:
            await awaited(crashed.wait(), "the rule engine's crash")
            assert (await bridge.bus.publish(pickup("call-1"))).status == "stored"
            await holds(
                lambda: bridge.engine.fire_count == 1,
                "the restarted engine to fire on the pickup stored after its crash",
            )
            assert bridge.supervisor.restarts["rules"] == 1
            assert not bridge.failed.is_set()
    assert any("the rules stage died; restarting" in r.getMessage() for r in caplog.records)


async def test_a_source_that_keeps_dying_is_restarted_and_never_fails_the_bridge(
    db_url: str, tmp_path: Path
) -> None:
    dying = Crashing(times=None)

    class DyingSource:
        name = "door-panel"

        async def run(self, bus: EventSink) -> None:
            await dying.run()

    async with build_bridge(campus(tmp_path), bridge_options(db_url, tmp_path, DyingSource())) as bridge:
        await holds(lambda: dying.runs > 7, "an eighth run, past the core budget of 5")
        assert not bridge.failed.is_set()
        assert bridge.supervisor.restarts["source:door-panel"] >= 7


async def _runs(db_url: str) -> list[BridgeRun]:
    async with open_store(db_url) as stores:
        now = datetime.now(UTC)
        return await stores.health.runs_between(now - timedelta(days=1), now + timedelta(minutes=1))
