"""The product's main flow, end to end over loopback: a blue-light phone picked up on the ONVIF
I/O module -> PTZ to the phone's preset -> XProtect alarm showing that camera -> clip from the
camera's recording -> hashed evidence + motion report + redacted copy -> one incident with every
action's outcome; a forced door next door joins it. Then what still holds when a camera, the VMS
or a clip fails, on re-synced duplicates, and across a restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web

from connectors.onvif.client import OnvifClient
from connectors.onvif.config import onvif_connectors
from connectors.onvif.emulator import preset_position
from connectors.onvif.source import OnvifEventSource
from connectors.xprotect.sitespec import BLUE_LIGHT_EVENT
from evidence.custody import verify_chain
from recording.segments import SegmentStore
from tests.rules.conftest import (
    CLIP_WAIT,
    PTZ_VMS_ID,
    Bridge,
    ahead,
    eventually,
    rules_site,
    running_bridge,
    until,
)
from vmsbridge.bus import publish_durably
from vmsbridge.model import Event, EventKind

# The site file shortens the template's t-30 s .. t+60 s so the suite stays fast; the path is the same.
PRE, POST = 4.0, 2.0


async def _buffer_holds(bridge: Bridge, camera_id: str, seconds: float) -> None:
    """Wait until the bridge's recording of the camera's live RTSP reaches ``seconds`` back."""
    store = SegmentStore(bridge.runtime.site.storage.data_dir / "prerolls" / camera_id)  # type: ignore[operator]

    async def deep_enough() -> bool:
        segments = await asyncio.to_thread(store.segments)
        return bool(segments) and segments[0].start <= datetime.now(UTC) - timedelta(seconds=seconds)

    await until(deep_enough, f"{seconds:.0f} s of {camera_id} in the pre-roll buffer")


async def test_blue_light_callup_end_to_end(db_url: str, tmp_path: Path) -> None:
    site = rules_site(
        tmp_path,
        'templates = ["blue_light_callup", "door_forced"]\n'
        f"clip = {{ pre_seconds = {PRE}, post_seconds = {POST} }}",
    )
    async with running_bridge(site, db_url, tmp_path) as bridge:
        io, ptz = bridge.lab.device("onvif-io"), bridge.lab.device("onvif-ptz")
        gateway = bridge.lab.xprotect["xprotect-main"]
        # Nothing in the site file names a stream: the bridge asked the camera (GetStreamUri) and records it.
        await _buffer_holds(bridge, "cam-lotb-ptz", PRE + 1)

        io.set_input("DI1", True)  # the handset lifts

        # PTZ: exactly one GotoPreset to the phone's preset token, and GetStatus (asked over SOAP,
        # as an operator's tool would) now reports the preset's position.
        await eventually(
            lambda: ptz.goto_calls == [("Profile_1", "3")], "one GotoPreset to the phone's preset"
        )
        await eventually(lambda: ptz.ptz_status["Profile_1"] == "IDLE", "the PTZ camera to settle")
        lab_ptz = next(c for c in onvif_connectors(bridge.lab.site) if c.id == "onvif-ptz")
        async with OnvifClient(
            "check", "127.0.0.1", ptz.port, lab_ptz.username, _password(lab_ptz)
        ) as client:
            assert await client.ptz_position("Profile_1") == pytest.approx(preset_position("3"), abs=1e-4)

        # XProtect: an alarm whose source is the PTZ camera's VMS id.
        await eventually(lambda: len(gateway.alarms) == 1, "the XProtect alarm")
        alarm = gateway.alarms[0]
        assert alarm["source"]["id"] == PTZ_VMS_ID
        assert "Blue light 7" in alarm["name"]

        incident = await bridge.incident_at("lot-b")
        outcomes = await bridge.outcomes(incident.id, 4, within=CLIP_WAIT)
        by_type = {o.action: o for o in outcomes}
        assert set(by_type) == {"ptz_goto", "xprotect_alarm", "capture_clip", "open_incident"}
        assert all(o.ok for o in outcomes), [(o.action, o.detail) for o in outcomes]
        assert "preset bl-7 (token 3" in by_type["ptz_goto"].detail
        assert "cam-lotb-ptz" in by_type["capture_clip"].detail

        # The clip came from the bridge's buffer of the PTZ camera's live RTSP, for t-4 s .. t+2 s.
        offhook = next(
            e
            for e in await bridge.stores.incidents.events_of(incident.id)
            if e.kind is EventKind.PHONE_OFFHOOK
        )
        assert ptz.rtsp.replay_requests == [], "the clip came by replay, not from the buffer"
        start = offhook.occurred_at - timedelta(seconds=PRE)
        end = offhook.occurred_at + timedelta(seconds=POST)

        # Evidence: the original, its motion report and its redacted copy, each hashed, in one
        # verifiable custody chain on the incident.
        items = await bridge.stores.evidence.items(incident.id)
        assert sorted(i.role for i in items) == ["derived", "derived", "original"]
        original = next(i for i in items if i.role == "original")
        assert original.camera_id == "cam-lotb-ptz"
        assert all(i.derived_from == original.sha256 for i in items if i.role == "derived")
        assert (original.window_start, original.window_end) == (start, end)
        chain = await bridge.stores.evidence.chain(incident.id)
        assert [e.action for e in chain].count("acquired") == 1
        assert [e.action for e in chain].count("derived") == 2
        assert verify_chain(chain) == []
        report = next(i for i in items if i.media_type == "application/json")
        store_file = bridge.engine.ctx.evidence.path_for(report.sha256)
        motion = json.loads(await asyncio.to_thread(Path(store_file).read_text, encoding="utf-8"))
        # The whole window at 15 fps was analyzed, from the keyframe at or before t-4 s (up to 4 s apart).
        assert (PRE + POST) * 15 <= motion["frames"] <= (PRE + POST + 4) * 15, motion["frames"]
        # The downloaded clip and the derivatives' working copies are gone: the store has its own.
        leftovers = await asyncio.to_thread(
            lambda: [p for p in (tmp_path / "work").rglob("*") if p.is_file()]
        )
        assert leftovers == []

        # A door forced at the adjacent library some seconds later joins the same incident.
        io.fire("tns1:Door/State/DoorAlarm", {"DoorToken": "Door_2"}, {"State": "DoorForcedOpen"})

        async def joined() -> bool:
            events = await bridge.stores.incidents.events_of(incident.id)
            return any(e.kind is EventKind.DOOR_FORCED for e in events)

        await until(joined, "the forced door to join the incident")
        forced = next(
            e for e in await bridge.stores.incidents.events_of(incident.id) if e.kind is EventKind.DOOR_FORCED
        )
        assert forced.location_id == "library"
        # Dated by the device's clock mapped to ours (a skew estimate of about a second's grain),
        # never after its receipt.
        gap = (forced.occurred_at - offhook.occurred_at).total_seconds()
        assert gap == pytest.approx((forced.received_at - offhook.received_at).total_seconds(), abs=1.5)
        assert forced.occurred_at <= forced.received_at
        incidents = await bridge.stores.incidents.search()
        assert [i.id for i in incidents] == [incident.id]


async def test_a_window_older_than_the_buffer_comes_by_replay(db_url: str, tmp_path: Path) -> None:
    """Just after start the buffer holds seconds, not the template's 30 s of pre-roll: the camera's own
    recording (ONVIF Profile G replay over RTSP) gives the whole window."""
    site = rules_site(tmp_path, 'templates = ["blue_light_callup"]\nclip = { post_seconds = 1 }')
    async with running_bridge(site, db_url, tmp_path) as bridge:
        ptz = bridge.lab.device("onvif-ptz")
        bridge.lab.device("onvif-io").set_input("DI1", True)
        incident = await bridge.incident_at("lot-b")
        outcomes = {o.action: o for o in await bridge.outcomes(incident.id, 4, within=CLIP_WAIT)}
        assert outcomes["capture_clip"].ok, outcomes["capture_clip"].detail
        offhook = next(
            e
            for e in await bridge.stores.incidents.events_of(incident.id)
            if e.kind is EventKind.PHONE_OFFHOOK
        )
        assert len(ptz.rtsp.replay_requests) == 1, ptz.rtsp.replay_requests
        _, start, end = ptz.rtsp.replay_requests[0]
        # Asked in the device's clock (the connector's skew estimate has about a second's grain).
        assert abs((start - (offhook.occurred_at - timedelta(seconds=30))).total_seconds()) <= 1.5
        assert abs((end - (offhook.occurred_at + timedelta(seconds=1))).total_seconds()) <= 1.5
        items = await bridge.stores.evidence.items(incident.id)
        original = next(i for i in items if i.role == "original")
        assert original.camera_id == "cam-lotb-ptz"


async def test_ptz_offline_still_opens_incident_and_takes_fixed_camera(db_url: str, tmp_path: Path) -> None:
    site = rules_site(tmp_path)
    async with running_bridge(site, db_url, tmp_path, clock=ahead(61)) as bridge:
        ptz = bridge.lab.device("onvif-ptz")
        await ptz.stop()  # the PTZ camera's encoder is off the network
        bridge.lab.device("onvif-io").set_input("DI1", True)
        incident = await bridge.incident_at("lot-b")
        outcomes = {o.action: o for o in await bridge.outcomes(incident.id, 4, within=CLIP_WAIT)}
        assert not outcomes["ptz_goto"].ok
        assert outcomes["open_incident"].ok
        clip = outcomes["capture_clip"]
        assert clip.ok, clip.detail
        assert "cam-lotb-fixed" in clip.detail
        assert "missing: cam-lotb-ptz" in clip.detail
        items = await bridge.stores.evidence.items(incident.id)
        assert {i.camera_id for i in items} == {"cam-lotb-fixed"}


async def test_xprotect_unreachable_alarm_is_retried_not_lost(db_url: str, tmp_path: Path) -> None:
    site = rules_site(tmp_path, 'templates = ["blue_light_callup"]\nclip = { post_seconds = 0 }')
    async with running_bridge(site, db_url, tmp_path) as bridge:
        gateway = bridge.lab.xprotect["xprotect-main"]
        gateway.quirks.update({"http_500": True})
        bridge.lab.device("onvif-io").set_input("DI1", True)
        # The alarm request (its priority lookup first) meets the outage.
        await eventually(
            lambda: any("/alarm" in r for r in gateway.failed_requests),
            "the alarm request to meet the outage",
        )
        assert gateway.alarms == []
        gateway.quirks.update({"http_500": False})  # the VMS is back
        await eventually(lambda: len(gateway.alarms) == 1, "the retried alarm to be raised")
        incident = await bridge.incident_at("lot-b")
        outcomes = await bridge.outcomes_of(incident.id, "xprotect_alarm")
        assert outcomes["xprotect_alarm"].ok
        assert "attempts" in outcomes["xprotect_alarm"].detail


async def test_slow_clip_source_is_recorded_as_missing(db_url: str, tmp_path: Path) -> None:
    rule = """
[[rules.custom]]
name = "slow clip"
on = ["phone.offhook"]
actions = [
  { type = "capture_clip", cameras = ["cam-lotb-ptz"], post_seconds = 0, wait_seconds = 0.5 },
  { type = "open_incident", priority = "high" },
]
"""
    site = rules_site(tmp_path, rule)
    async with running_bridge(site, db_url, tmp_path) as bridge:
        # The PTZ camera's encoder answers, but only after 5 s; the phone's I/O module is fine.
        bridge.lab.device("onvif-ptz").quirks.update({"delay_seconds": 5.0})
        bridge.lab.device("onvif-io").set_input("DI1", True)
        incident = await bridge.incident_at("lot-b")
        outcomes = {o.action: o for o in await bridge.outcomes(incident.id, 2)}
        assert outcomes["open_incident"].ok
        assert not outcomes["capture_clip"].ok
        assert "no clip within 0.5 s (recorded as missing)" in outcomes["capture_clip"].detail
        assert await bridge.stores.evidence.items(incident.id) == []


async def test_resynced_duplicate_phone_event_moves_ptz_once(db_url: str, tmp_path: Path) -> None:
    site = rules_site(tmp_path, 'templates = ["blue_light_callup"]\nclip = { post_seconds = 0 }')
    async with running_bridge(site, db_url, tmp_path) as bridge:
        io, ptz = bridge.lab.device("onvif-io"), bridge.lab.device("onvif-ptz")
        io.quirks.update({"initialized_now": True})
        io.set_input("DI1", True)
        await eventually(lambda: len(ptz.goto_calls) == 1, "the first GotoPreset")
        # A second subscriber with no memory of the first (a connector restarted after a crash)
        # is told on subscribing that DI1 is active: the same pickup arrives again as a new event.
        connector = next(c for c in onvif_connectors(bridge.lab.site) if c.id == "onvif-io")
        again = OnvifEventSource(connector, bridge.directory, _password(connector))
        task = asyncio.create_task(again.run(bridge.bus))
        try:

            async def phone_events() -> int:
                events = await bridge.stores.events.recent(limit=50)
                return sum(e.kind is EventKind.PHONE_OFFHOOK for e in events)

            await until(lambda: _at_least(phone_events, 2), "the re-sent pickup to be stored")
            await until(lambda: _seen_all(bridge), "the rules to see every stored event")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert len(ptz.goto_calls) == 1
        assert [f[0] for f in bridge.engine.fired] == ["blue_light_callup"]
        incidents = await bridge.stores.incidents.search()
        assert len([i for i in incidents if i.location_id == "lot-b"]) == 1


async def test_failing_action_does_not_stop_the_others(db_url: str, tmp_path: Path) -> None:
    rule = """
[[rules.custom]]
name = "door with a broken action"
on = ["door.forced"]
actions = [
  { type = "ptz_goto", camera = "phone" },
  { type = "notify_operator", message = "forced: {device_name}" },
  { type = "open_incident", priority = "high", summary = "Forced: {device_name}" },
]
"""
    site = rules_site(tmp_path, rule)
    async with running_bridge(site, db_url, tmp_path) as bridge:
        bridge.lab.device("onvif-io").door_alarm("Door_2", "DoorForcedOpen")
        incident = await bridge.incident_at("library")
        outcomes = {o.action: o for o in await bridge.outcomes(incident.id, 3)}
        assert not outcomes["ptz_goto"].ok
        assert "no PTZ camera covers door-library-staff" in outcomes["ptz_goto"].detail
        assert outcomes["notify_operator"].ok
        assert outcomes["open_incident"].ok
        assert (await bridge.stores.incidents.get(incident.id)).summary == "Forced: Library staff entrance"


# -- helpers -------------------------------------------------------------------------------------


def _password(connector: object) -> str:
    path = getattr(connector, "password_file", None)
    assert path is not None
    return str(Path(path).read_text(encoding="utf-8").strip())


async def _at_least(count: Callable[[], Awaitable[int]], n: int) -> bool:
    return await count() >= n


async def _seen_all(bridge: Bridge) -> bool:
    return bridge.engine.seen >= await bridge.stores.events.count()


async def test_ptz_moves_before_the_event_is_stored(tmp_path: Path) -> None:
    """The call-up's PTZ move does not wait for the store: with every write held up, the camera
    still turns; the move is recorded on the incident once the event is stored."""
    site = rules_site(tmp_path, 'templates = ["blue_light_callup"]\nclip = { post_seconds = 0 }')
    async with running_bridge(site, f"sqlite+aiosqlite:///{tmp_path / 'held.db'}", tmp_path) as bridge:
        ptz = bridge.lab.device("onvif-ptz")
        release = asyncio.Event()
        held = asyncio.Event()

        async def hold_the_store() -> None:
            async with bridge.stores.db.transaction():
                held.set()
                await release.wait()

        holder = asyncio.create_task(hold_the_store())
        await held.wait()
        bridge.lab.device("onvif-io").set_input("DI1", True)
        await eventually(lambda: ptz.goto_calls == [("Profile_1", "3")], "the GotoPreset sent before storing")
        assert await bridge.stores.events.count() == 0  # nothing stored yet
        release.set()
        await holder
        incident = await bridge.incident_at("lot-b")
        outcomes = await bridge.outcomes_of(incident.id, "ptz_goto")
        assert outcomes["ptz_goto"].ok
        assert "preset bl-7" in outcomes["ptz_goto"].detail
        assert len(ptz.goto_calls) == 1  # the stored event did not move it again


async def test_an_alarm_interrupted_by_a_restart_is_raised_by_the_next_run(
    db_url: str, tmp_path: Path
) -> None:
    """XProtect is down when the phone is picked up and the bridge restarts before it is back: the
    next run raises the alarm (within the rule's retry_seconds) instead of losing it."""
    site = rules_site(tmp_path, 'templates = ["blue_light_callup"]\nclip = { post_seconds = 0 }')
    async with running_bridge(site, db_url, tmp_path) as first:
        gateway = first.lab.xprotect["xprotect-main"]
        gateway.quirks.update({"http_500": True})
        first.lab.device("onvif-io").set_input("DI1", True)
        await eventually(
            lambda: any("/alarm" in r for r in gateway.failed_requests),
            "the alarm request to meet the outage",
        )
        incident = await first.incident_at("lot-b")
    # The first run stopped while retrying: its attempt is on record as interrupted.
    async with running_bridge(site, db_url, tmp_path) as second:
        gateway = second.lab.xprotect["xprotect-main"]  # a VMS that answers again
        await eventually(lambda: len(gateway.alarms) == 1, "the next run to raise the interrupted alarm")
        assert gateway.alarms[0]["source"]["id"] == PTZ_VMS_ID
        store = second.stores.rule_actions

        async def alarm_outcomes() -> list[tuple[bool, bool]]:
            found = [o for o in await store.for_incident(incident.id) if o.action == "xprotect_alarm"]
            return [(o.ok, o.detail.startswith("cancelled")) for o in found]

        async def recorded() -> bool:
            return len(await alarm_outcomes()) == 2

        await until(recorded, "both alarm attempts on record")
        assert await alarm_outcomes() == [(False, True), (True, False)]
        assert len(second.lab.device("onvif-ptz").goto_calls) == 0  # nothing else was done again


async def test_two_rules_clipping_one_camera_at_once_keep_their_own_files(tmp_path: Path) -> None:
    """Two rules fire on one pickup and both clip the PTZ camera for the same window: each
    download and its derivatives live in a folder of their own, so neither loses its files to the
    other's clean-up, and nothing is left behind once both are in the evidence store."""
    rules = """templates = ["blue_light_callup"]
clip = { post_seconds = 0 }
[[rules.custom]]
name = "second look"
on = ["phone.offhook"]
actions = [
  { type = "capture_clip", cameras = ["cam-lotb-ptz"], pre_seconds = 30, post_seconds = 0 },
  { type = "open_incident", priority = "high" },
]
"""
    site = rules_site(tmp_path, rules)
    async with running_bridge(site, f"sqlite+aiosqlite:///{tmp_path / 'two.db'}", tmp_path) as bridge:
        bridge.lab.device("onvif-io").set_input("DI1", True)
        incident = await bridge.incident_at("lot-b")
        outcomes = await bridge.outcomes(incident.id, 6, within=CLIP_WAIT)
        clips = [(o.rule, o.ok, o.detail) for o in outcomes if o.action == "capture_clip"]
        assert len(clips) == 2
        assert all(ok and "motion:" in detail and "redacted" in detail for _, ok, detail in clips), clips
        leftovers = await asyncio.to_thread(
            lambda: [p for p in (tmp_path / "work").rglob("*") if p.is_file()]
        )
        assert leftovers == []


async def test_user_event_webhook_draft_and_camera_down_during_incident(tmp_path: Path) -> None:
    """The actions the call-up does not use, against the same emulators: an XProtect user-defined
    event (REST), an operator webhook (a local receiver), a notification draft that nobody has
    approved (nothing is sent), and the camera_down_during_incident template on a camera that
    stops working at a location with an open incident."""
    received: list[dict[str, object]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site_server = web.TCPSite(runner, "127.0.0.1", 0)
    await site_server.start()
    port = site_server._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    rules = f"""templates = ["camera_down_during_incident"]
[[rules.custom]]
name = "staff door"
on = ["door.forced"]
actions = [
  {{ type = "open_incident", priority = "high", summary = "Forced: {{device_name}}" }},
  {{ type = "xprotect_user_event", event = "{BLUE_LIGHT_EVENT}" }},
  {{ type = "notify_operator", channel = "webhook", url = "http://127.0.0.1:{port}/hook" }},
  {{ type = "draft_notification", kind = "timely_warning" }},
]
"""
    try:
        site = rules_site(tmp_path, rules)
        async with running_bridge(site, f"sqlite+aiosqlite:///{tmp_path / 'acts.db'}", tmp_path) as bridge:
            io = bridge.lab.device("onvif-io")
            gateway = bridge.lab.xprotect["xprotect-main"]
            io.door_alarm("Door_2", "DoorForcedOpen")
            incident = await bridge.incident_at("library")
            outcomes = await bridge.outcomes(incident.id, 4)
            assert all(o.ok for o in outcomes), [(o.action, o.detail) for o in outcomes]
            assert [e["type"] for e in gateway.triggered_events] == [BLUE_LIGHT_EVENT]
            await eventually(lambda: len(received) == 1, "the webhook call")
            assert received[0]["rule"] == "staff door"
            assert received[0]["location"] == "library"
            drafts = await bridge.stores.notifications.search()
            assert [(d.kind, d.incident_id, d.status) for d in drafts] == [
                ("timely_warning", incident.id, "draft")
            ]

            # The library's camera stops talking to the VMS (over the events WebSocket) while the
            # library has an open incident: the template tells the operator.
            gateway.communication("0d3c1f2e-7b5a-4c0e-9a51-6e2f3b8d1a03", False)

            async def told() -> bool:
                found = await bridge.stores.rule_actions.for_incident(incident.id)
                return any(o.rule == "camera_down_during_incident" for o in found)

            await until(told, "camera_down_during_incident to tell the operator")
            down = [
                o
                for o in await bridge.stores.rule_actions.for_incident(incident.id)
                if o.rule == "camera_down_during_incident"
            ]
            assert {o.action for o in down} >= {"notify_operator"}
            assert all(o.ok for o in down), [(o.action, o.detail) for o in down]
            assert any("Library lobby stopped working" in o.detail for o in down)
    finally:
        await runner.cleanup()


async def test_a_restart_remembers_its_firings_so_a_resync_does_not_fire_again(
    db_url: str, tmp_path: Path
) -> None:
    """The phone is still off hook when the bridge restarts: the device re-sends the pickup (the
    same message, or re-stamped a moment later). The new run remembers the firing from the store:
    no second PTZ move, no second firing."""
    site = rules_site(
        tmp_path, 'templates = ["blue_light_callup", "door_forced"]\nclip = { post_seconds = 0 }'
    )
    now = datetime.now(UTC)

    def pickup(native_id: str, seconds_ago: float) -> Event:
        at = now - timedelta(seconds=seconds_ago)
        return Event(
            source="onvif:onvif-io",
            native_id=native_id,
            kind=EventKind.PHONE_OFFHOOK,
            device_id="bl-7",
            occurred_at=at,
            received_at=at,
            attributes={},
        )

    async with running_bridge(site, db_url, tmp_path) as first:
        await publish_durably(first.bus, [pickup("pickup-1", 10)])
        incident = await first.incident_at("lot-b")
        await first.outcomes_of(incident.id, "ptz_goto", "open_incident")
        assert len(first.lab.device("onvif-ptz").goto_calls) == 1
        # Let the clip and the alarm finish: this test is about what the next run remembers, not
        # about actions a stop cuts short (the restart test above covers those).
        assert await first.engine.drain(CLIP_WAIT)
    async with running_bridge(site, db_url, tmp_path) as second:
        outcomes = await publish_durably(second.bus, [pickup("pickup-1", 10), pickup("pickup-1-resync", 8)])
        assert [o.status for o in outcomes] == ["duplicate", "stored"]
        # A forced door stored after them: once its rule fires, the engine has considered the
        # re-sync too (it follows the log in commit order).
        forced = pickup("door", 0).model_copy(
            update={"kind": EventKind.DOOR_FORCED, "device_id": "door-library-staff"}
        )
        await publish_durably(second.bus, [forced])
        await eventually(
            lambda: any(rule == "door_forced" for rule, _ in second.engine.fired),
            "the door_forced rule to fire",
        )
        assert [rule for rule, _ in second.engine.fired] == ["door_forced"]
        assert second.lab.device("onvif-ptz").goto_calls == []
