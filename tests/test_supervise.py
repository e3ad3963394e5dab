"""A stage that dies is restarted with capped backoff and reported; one that keeps dying stops the bridge."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Sequence

import pytest

from tests.conftest import EventFactory
from vmsbridge.app import running_services
from vmsbridge.bus import Delivery
from vmsbridge.config import SiteConfig
from vmsbridge.ingest import IngestFailed, IngestStage
from vmsbridge.supervise import RestartPolicy, Supervisor

WAIT = 60.0  # generous bound on each awaited condition; a healthy run takes milliseconds
FAST = RestartPolicy(restarts=5, within=600.0, first_delay=0.01, max_delay=0.04)


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
    with caplog.at_level(logging.ERROR, logger="vmsbridge.supervise"):
        task = supervisor.watch("parser", stage.run)
        await asyncio.wait_for(_until(lambda: stage.runs == 5), WAIT)
    assert supervisor.restarts["parser"] == 4
    assert not supervisor.failed.is_set()
    assert not task.done(), "the fifth run is alive"
    waits = restart_waits(caplog, "parser")
    assert len(waits) == 4
    assert waits[0] < waits[1] < waits[2], "each restart waits longer (20 % jitter cannot reorder 2x steps)"
    assert waits[3] <= 0.45 * 1.2, "the wait is capped"
    assert all(r.exc_info for r in caplog.records), "each death is logged with its traceback"
    stage.release.set()
    await asyncio.wait_for(task, WAIT)  # a stage that ends by itself is not restarted
    assert stage.runs == 5


async def test_a_stage_that_keeps_dying_spends_its_budget_and_fails_the_bridge(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor = Supervisor(FAST)
    stage = Crashing(times=None)
    with caplog.at_level(logging.ERROR, logger="vmsbridge.supervise"):
        task = supervisor.watch("parser", stage.run)
        await asyncio.wait_for(supervisor.failed.wait(), WAIT)
        await asyncio.wait_for(task, WAIT)
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

    with caplog.at_level(logging.ERROR, logger="vmsbridge.supervise"):
        task = supervisor.watch("parser", runs_five_minutes_then_dies)
        await asyncio.wait_for(_until(lambda: stage.runs == 13), WAIT)
    assert supervisor.restarts["parser"] == 12
    assert not supervisor.failed.is_set(), "never more than 2 restarts within 10 minutes"
    waits = restart_waits(caplog, "parser")
    assert max(waits) <= 0.1 * 1.2, "a stage that had run for a while starts its backoff over"
    supervisor.stop()
    stage.release.set()
    await asyncio.wait_for(task, WAIT)


async def test_stopping_ends_a_stage_waiting_to_restart() -> None:
    supervisor = Supervisor(RestartPolicy(first_delay=30.0))
    stage = Crashing(times=None)
    task = supervisor.watch("parser", stage.run)
    await asyncio.wait_for(_until(lambda: supervisor.restarts["parser"] == 1), WAIT)
    supervisor.stop()
    await asyncio.wait_for(task, 5.0)  # not the 30 s backoff
    assert stage.runs == 1
    assert not supervisor.failed.is_set()


async def test_ingest_that_dies_is_restarted_its_batch_told_and_later_events_stored(
    site: SiteConfig,
    db_url: str,
    make_event: EventFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr("vmsbridge.app.STAGE_RESTARTS", FAST)
    process = IngestStage.process
    calls = [0]

    async def dies_once(self: IngestStage, deliveries: Sequence[Delivery]) -> None:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("a bug in ingest")
        await process(self, deliveries)

    monkeypatch.setattr(IngestStage, "process", dies_once)
    with caplog.at_level(logging.ERROR, logger="vmsbridge.supervise"):
        async with running_services(site, db_url) as services:
            with pytest.raises(IngestFailed):  # told, not left waiting
                await asyncio.wait_for(services.bus.publish(make_event()), WAIT)
            again = await asyncio.wait_for(services.bus.publish(make_event(minutes=1)), WAIT)
            assert again.status == "stored"
            assert services.supervisor.restarts["ingest"] == 1
            assert not services.failed.is_set()
    assert any("the ingest stage died; restarting" in r.getMessage() for r in caplog.records)


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():  # noqa: ASYNC110 - the supervisor has no event for "n runs so far"
        await asyncio.sleep(0.005)
