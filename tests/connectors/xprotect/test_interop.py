"""API Gateway behaviours seen in the field (issue #15), each against the emulator quirk that
reproduces it: undocumented PTZ task ids, hardware-level events, alarm levels as ids, alarms from
inputs and user-defined events, and what must outlive a restart of the bridge."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest

from connectors.xprotect.client import XProtectClient
from connectors.xprotect.config import XProtectSource, xprotect_connectors
from connectors.xprotect.control import NO_PRESET_TASK, XProtectControl
from connectors.xprotect.emulator import XProtectEmulator
from connectors.xprotect.sitespec import BLUE_LIGHT_EVENT, emulated_gateway
from connectors.xprotect.source import SEEN_ALARMS_KEPT, XProtectEventSource
from evidence.store import ContentStore
from tests.connectors.conftest import eventually
from tests.connectors.xprotect.conftest import Running
from vmsbridge.config import Camera, CameraSource, SiteConfig, SiteDirectory
from vmsbridge.config.rules import Rule
from vmsbridge.controls import Controls, PtzMove, PtzUnavailable
from vmsbridge.model import EventKind, StoredEvent
from vmsbridge.rules.actions import Firing, RuleContext, run_action
from vmsbridge.sources import SourceMemory
from vmsbridge.store.stores import Stores, open_store

K = EventKind
QUAD = "0d3c1f2e-7b5a-4c0e-9a51-6e2f3b8d1a01"  # cam-quad-ptz in the example campus
MAPLE = "0d3c1f2e-7b5a-4c0e-9a51-6e2f3b8d1a02"  # cam-maple-entry
LIBRARY = "0d3c1f2e-7b5a-4c0e-9a51-6e2f3b8d1a03"  # cam-library-lobby
DOOR_CONTACT = "0d3c1f2e-7b5a-4c0e-9a51-6e2f3b8d1b01"  # io-maple input -> door-maple-main
SHARED_HARDWARE = "hw-shared-0000-4000-8000-000000000000"


@pytest.fixture
async def memory(tmp_path: Path) -> AsyncIterator[SourceMemory]:
    """The bridge's store as a source sees it, in a SQLite file of this test's own."""
    async with open_store(f"sqlite+aiosqlite:///{tmp_path / 'bridge.db'}", migrate=True) as stores:
        yield stores.source_memory.for_source("xprotect:xprotect-main")


def camera(site: SiteConfig, camera_id: str) -> Camera:
    return next(c for c in site.cameras if c.id == camera_id)


# -- finding 6: PTZ go-to ---------------------------------------------------------------------


async def test_ptz_goto_runs_the_preset_task_the_gateway_offers_under_its_own_name(
    gateway: XProtectEmulator, connector: XProtectSource, site: SiteConfig
) -> None:
    control = XProtectControl(XProtectEventSource(connector, SiteDirectory(site), "admin"))
    try:
        move = await control.goto_preset(camera(site, "cam-quad-ptz"), "5", settle_seconds=10)
        await control.goto_preset(camera(site, "cam-quad-ptz"), "6", settle_seconds=10)
    finally:
        await control.source.client.close()
    assert gateway.ptz_gotos == [(QUAD, "5"), (QUAD, "6")]
    assert move.settled_seconds is not None
    assert gateway.counters["tasks"] == 2


class RecordingPtz:
    """The camera's other control (its ONVIF device, as the core sees it): notes each move."""

    def __init__(self) -> None:
        self.moves: list[tuple[str, str]] = []

    async def goto_preset(self, camera: Camera, preset_token: str, *, settle_seconds: float) -> PtzMove:
        self.moves.append((camera.id, preset_token))
        return PtzMove(datetime.now(UTC), 0.01, 0.02)


async def test_without_a_preset_task_the_gateway_says_so_once_and_the_cameras_onvif_control_moves_it(
    gateway: XProtectEmulator,
    connector: XProtectSource,
    site: SiteConfig,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateway.quirks.no_ptz_preset_task = True
    # The same physical camera as the bridge's ONVIF connector reaches it, named by its VMS id.
    as_onvif = Camera(
        id="cam-quad-onvif",
        name="Quad PTZ (direct)",
        location="quad",
        source=CameraSource(connector="onvif-north", profile="Profile_9"),
        ptz=True,
        presets={"bl-quad": "onvif-7"},
        vms_camera_id=QUAD,
    )
    with_onvif = site.model_copy(update={"cameras": [*site.cameras, as_onvif]})
    control = XProtectControl(XProtectEventSource(connector, SiteDirectory(with_onvif), "admin"))
    onvif = RecordingPtz()
    ctx = RuleContext(
        directory=SiteDirectory(with_onvif),
        stores=cast(Stores, None),  # a PTZ move stores nothing
        controls=Controls(ptz={"xprotect-main": control, "onvif-north": onvif}),
        evidence=ContentStore(tmp_path / "evidence"),
        jobs=None,
        work_dir=tmp_path / "work",
    )
    rule = Rule.model_validate(
        {
            "name": "quad-ptz",
            "on": ["phone.offhook"],
            "actions": [{"type": "ptz_goto", "camera": "cam-quad-ptz", "preset": "bl-quad"}],
        }
    )
    now = datetime.now(UTC)
    event = StoredEvent(1, "test", "n1", K.PHONE_OFFHOOK, "bl-quad", "quad", now, now)
    done: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    try:
        with caplog.at_level(logging.WARNING, logger="connectors.xprotect.control"):
            details = [await run_action(rule.actions[0], Firing(rule, event, done), ctx) for _ in range(2)]
            with pytest.raises(PtzUnavailable, match="offers no PTZ-preset task"):
                await control.goto_preset(camera(site, "cam-library-lobby"), "1", settle_seconds=1)
    finally:
        await control.source.client.close()
    assert onvif.moves == [("cam-quad-onvif", "onvif-7")] * 2
    assert "through onvif-north (cam-quad-onvif)" in details[0]
    assert gateway.ptz_gotos == []
    said = [r.getMessage() for r in caplog.records if NO_PRESET_TASK in r.getMessage()]
    assert len(said) == 1, f"said once, not per move: {said}"


# -- finding 7: hardware communication ----------------------------------------------------------


async def test_hardware_communication_events_reach_every_camera_on_that_hardware(
    site: SiteConfig, running: Running
) -> None:
    spec = emulated_gateway(site, "xprotect-main")
    for item in spec.cameras:
        if item.id in (QUAD, MAPLE):
            item.hardware_id = SHARED_HARDWARE  # one encoder carrying two cameras
    async with XProtectEmulator(spec) as gateway:
        connector = xprotect_connectors(site)[0].model_copy(
            update={"url": gateway.url, "username": "admin", "alarm_poll_seconds": 0.1}
        )
        source, bus = await running.start(connector, site)
        try:
            gateway.hardware_communication(SHARED_HARDWARE, "stopped")
            lost = await bus.wait_kind(K.CAMERA_COMM_LOST, 2)
            gateway.hardware_communication(SHARED_HARDWARE, "started")
            restored = await bus.wait_kind(K.CAMERA_COMM_RESTORED, 2)
        finally:
            await running.stop_last()  # before its gateway goes: the gateway waits for its sockets
    assert sorted(e.device_id for e in lost) == ["cam-maple-entry", "cam-quad-ptz"]
    assert sorted(e.device_id for e in restored) == ["cam-maple-entry", "cam-quad-ptz"]
    assert bus.of_kind(K.VMS_UNKNOWN) == []
    assert not source.unknown_types


# -- finding 8: alarm state and priority as ids -------------------------------------------------


async def test_alarm_levels_sent_as_ids_are_named_and_a_closed_alarm_is_not_ingested(
    gateway: XProtectEmulator, connector: XProtectSource, site: SiteConfig, running: Running
) -> None:
    gateway.quirks.alarm_levels_as_ids = True
    source, bus = await running.start(connector, site)
    gateway.input(DOOR_CONTACT, True)  # raises "Door contact: ..." (New, High)
    [alarm] = await bus.wait_kind(K.VMS_ALARM)
    assert (alarm.attributes["state"], alarm.attributes["priority"]) == ("New", "High")
    # An alarm closed before the bridge sees it is history, not a live alarm.
    async with XProtectClient("operator", gateway.url, "admin", "admin") as client:
        closed_id = await client.create_alarm("closed already", "handled by the operator", LIBRARY)
        await client.update_alarm(closed_id, state="Closed")
    polls = source.alarm_polls
    await eventually(lambda: source.alarm_polls >= polls + 2)
    assert [e.attributes["alarm_id"] for e in bus.of_kind(K.VMS_ALARM)] == [alarm.attributes["alarm_id"]]
    assert source.alarm_levels.listings <= 4, "the level lists are cached, not fetched per alarm"


# -- finding 11: alarms whose source is not a camera --------------------------------------------


async def test_alarms_from_an_input_or_a_user_defined_event_are_filed_on_that_device(
    gateway: XProtectEmulator, connector: XProtectSource, site: SiteConfig, running: Running
) -> None:
    gateway.quirks.alarm_source_from_event = True
    source, bus = await running.start(connector, site)
    gateway.input(DOOR_CONTACT, True)
    [from_input] = await bus.wait_kind(K.VMS_ALARM)
    assert from_input.device_id == "door-maple-main"
    assert from_input.attributes["vms_source"] == f"inputEvents/{DOOR_CONTACT}"
    assert source.map.source_path(BLUE_LIGHT_EVENT) == f"userDefinedEvents/{BLUE_LIGHT_EVENT}"
    [(device, _, notes)] = source.map.subjects(source.map.source_path(BLUE_LIGHT_EVENT), K.VMS_ALARM)
    assert (device, notes) == ("xprotect-main", {"user_event": BLUE_LIGHT_EVENT})
    assert "unmapped_source" not in from_input.attributes


# -- finding 9: our own alarms after a restart --------------------------------------------------


async def test_alarms_the_bridge_raised_are_not_ingested_after_a_restart(
    gateway: XProtectEmulator,
    connector: XProtectSource,
    site: SiteConfig,
    running: Running,
    memory: SourceMemory,
) -> None:
    first, _ = await running.start(connector, site, memory=memory)
    own = await first.raise_alarm("raised by the bridge", "incident #3", QUAD, priority="Medium")
    await running.stop_last()
    second, bus = await running.start(connector, site, memory=memory)
    polls = second.alarm_polls
    await eventually(lambda: second.alarm_polls >= polls + 2)  # the alarm list has been read since
    assert own in second.own_alarms
    assert bus.of_kind(K.VMS_ALARM) == [], "an alarm the bridge raised before its restart is not echoed"


# -- finding 10: the events session across a restart --------------------------------------------


async def test_a_restart_within_the_resume_window_resumes_the_session_and_replays_what_was_missed(
    gateway: XProtectEmulator,
    connector: XProtectSource,
    site: SiteConfig,
    running: Running,
    memory: SourceMemory,
) -> None:
    first, before = await running.start(connector, site, memory=memory)
    gateway.motion(QUAD, True)
    await before.wait_kind(K.MOTION_START)
    await running.stop_last()
    gateway.motion(QUAD, False)  # while the bridge is down
    second, after = await running.start(connector, site, memory=memory)
    [stopped] = await after.wait_kind(K.MOTION_STOP)
    assert second.ess.stats.resumed_sessions == 1
    assert second.ess.stats.new_sessions == 0
    assert second.ess.session_id == first.ess.session_id
    assert after.of_kind(K.VMS_GAP) == []
    assert after.of_kind(K.MOTION_START) == [], "only what was missed is replayed"
    assert stopped.device_id == "cam-quad-ptz"


async def test_a_restart_past_the_resume_window_records_the_downtime_as_a_gap_and_rereads_state(
    gateway: XProtectEmulator,
    connector: XProtectSource,
    site: SiteConfig,
    running: Running,
    memory: SourceMemory,
) -> None:
    await running.start(connector, site, memory=memory)
    await running.stop_last()
    stopped_at = datetime.now(UTC)
    gateway.expire_sessions()  # the bridge was down longer than the gateway keeps a session
    gateway.communication(MAPLE, False)
    states_read = gateway.counters["getState"]
    second, bus = await running.start(connector, site, memory=memory)
    [gap] = await bus.wait_kind(K.VMS_GAP)
    assert datetime.fromisoformat(gap.attributes["from"]) <= stopped_at
    assert gap.attributes["seconds"] >= 0
    [lost] = await bus.wait_kind(K.CAMERA_COMM_LOST)  # from getState: the current state, re-read
    assert lost.device_id == "cam-maple-entry"
    assert gateway.counters["getState"] == states_read + 1
    assert second.ess.stats.new_sessions == 1


class FirstKeepHeld:
    """A store whose first write is slow (a busy database): held until the test lets it go."""

    def __init__(self) -> None:
        self.kept: dict[str, dict[str, object]] = {}
        self.writes = 0
        self.first_write_started = asyncio.Event()
        self.let_first_write_go = asyncio.Event()

    async def recall(self, key: str) -> dict[str, object] | None:
        return self.kept.get(key)

    async def keep(self, key: str, value: dict[str, object]) -> None:
        self.writes += 1
        if self.writes == 1:
            self.first_write_started.set()
            await self.let_first_write_go.wait()
        self.kept[key] = value


async def test_two_alarms_raised_at_once_are_both_kept_whichever_write_ends_last(
    gateway: XProtectEmulator, connector: XProtectSource, site: SiteConfig
) -> None:
    source = XProtectEventSource(connector, SiteDirectory(site), "admin")
    memory = FirstKeepHeld()
    source.remember_with(cast(SourceMemory, memory))
    try:
        await source.client.open()
        first = asyncio.create_task(source.raise_alarm("first", "incident #1", QUAD))
        await asyncio.wait_for(memory.first_write_started.wait(), 60)
        second = asyncio.create_task(source.raise_alarm("second", "incident #2", QUAD))
        await eventually(lambda: len(source.own_alarms) == 2)  # the second alarm exists in the VMS
        memory.let_first_write_go.set()
        ids = await asyncio.wait_for(asyncio.gather(first, second), 60)
    finally:
        await source.client.close()
    assert memory.kept["own_alarms"]["ids"] == ids, "the last write kept holds both alarms"


async def test_the_alarms_already_seen_are_remembered_within_a_bound(
    connector: XProtectSource, site: SiteConfig
) -> None:
    """A site raises alarms for years: what the poll has judged cannot grow without end. One
    forgotten and listed again is stored once all the same (its id is its native id)."""
    source = XProtectEventSource(connector, SiteDirectory(site), "admin")
    for number in range(SEEN_ALARMS_KEPT + 100):
        await source._alarm_seen({"id": f"alarm-{number}", "stateName": "Closed"})
    assert len(source.seen_alarms) == SEEN_ALARMS_KEPT
    assert f"alarm-{SEEN_ALARMS_KEPT + 99}" in source.seen_alarms, "the newest are the ones kept"


async def test_an_alarm_raised_before_the_source_has_recalled_its_list_keeps_the_older_ones(
    gateway: XProtectEmulator, connector: XProtectSource, site: SiteConfig, memory: SourceMemory
) -> None:
    """At start-up the rule engine may raise an alarm (a firing it catches up on) before the
    source has read back what it kept: that write must add to the kept list, not replace it."""
    await memory.keep("own_alarms", {"ids": ["raised-before-the-restart"]})
    source = XProtectEventSource(connector, SiteDirectory(site), "admin")
    source.remember_with(memory)
    try:
        await source.client.open()
        new = await source.raise_alarm("raised at start-up", "incident #4", QUAD)
    finally:
        await source.client.close()
    kept = await memory.recall("own_alarms")
    assert kept == {"ids": ["raised-before-the-restart", new]}
    assert list(source.own_alarms) == ["raised-before-the-restart", new]
