"""The XProtect connector against the API Gateway emulator over loopback (REST + WebSocket)."""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest

from connectors.xprotect.client import XProtectClient
from connectors.xprotect.clips import DropFolderClipSource
from connectors.xprotect.config import XProtectSource, xprotect_connectors
from connectors.xprotect.emulator import INPUT_ACTIVATED, MOTION_STARTED, CameraSpec, XProtectEmulator
from connectors.xprotect.errors import ApiError, AuthenticationFailed
from connectors.xprotect.mapping import XProtectMap, to_events
from connectors.xprotect.sitespec import BLUE_LIGHT_EVENT, emulated_gateway
from tests.connectors.conftest import eventually
from tests.connectors.xprotect.conftest import Running
from vmsbridge.bus import InProcessBus
from vmsbridge.config import SiteConfig, SiteDirectory
from vmsbridge.ingest import IngestStage
from vmsbridge.model import EventKind
from vmsbridge.sources import ClipNotFound
from vmsbridge.store.stores import Stores

SCENE = Path(__file__).resolve().parents[3] / "fixtures" / "video" / "scene.mp4"

K = EventKind
QUAD = "0d3c1f2e-7b5a-4c0e-9a51-6e2f3b8d1a01"  # cam-quad-ptz in the example campus
MAPLE = "0d3c1f2e-7b5a-4c0e-9a51-6e2f3b8d1a02"  # cam-maple-entry
DOOR_CONTACT = "0d3c1f2e-7b5a-4c0e-9a51-6e2f3b8d1b01"  # io-maple input -> door-maple-main


async def test_events_arrive_normalized_and_mapped_to_site_devices(
    gateway: XProtectEmulator, connector: XProtectSource, site: SiteConfig, running: Running
) -> None:
    source, bus = await running.start(connector, site)
    gateway.motion(QUAD, True)
    gateway.communication(MAPLE, False)
    gateway.recording(MAPLE, False)
    gateway.input(DOOR_CONTACT, True)
    gateway.fire(BLUE_LIGHT_EVENT, f"userDefinedEvents/{BLUE_LIGHT_EVENT}")
    gateway.fire("99999999-0000-4000-8000-000000000000", f"cameras/{QUAD}", {"vendor": "thing"})
    expected = {
        (K.MOTION_START, "cam-quad-ptz"),
        (K.CAMERA_COMM_LOST, "cam-maple-entry"),
        (K.CAMERA_RECORDING_STOPPED, "cam-maple-entry"),
        (K.DOOR_OPENED, "door-maple-main"),
        (K.VMS_USER_EVENT, "xprotect-main"),
        (K.VMS_UNKNOWN, "cam-quad-ptz"),
    }
    await bus.wait_for(lambda events: expected <= {(e.kind, e.device_id) for e in events})
    [unknown] = bus.of_kind(K.VMS_UNKNOWN)
    assert unknown.raw is not None
    assert "99999999" in unknown.raw
    assert source.unknown_types["99999999-0000-4000-8000-000000000000"] == 1
    assert all(e.source == "xprotect:xprotect-main" for e in bus.events)


async def test_a_dropped_socket_is_resumed_and_missed_events_replayed_exactly_once(
    gateway: XProtectEmulator, connector: XProtectSource, site: SiteConfig, running: Running
) -> None:
    source, bus = await running.start(connector, site)
    gateway.motion(QUAD, True)
    await bus.wait_kind(K.MOTION_START)
    await gateway.drop_sockets()
    for on in (False, True, False):
        gateway.motion(QUAD, on)  # while the socket is down, or just back
    await bus.wait_for(lambda events: len(events) >= 4)
    await eventually(lambda: source.ess.stats.resumed_sessions >= 1)
    ids = [e.native_id for e in bus.events]
    assert len(ids) == len(set(ids)) == 4, "every event exactly once"
    assert source.ess.stats.new_sessions == 1
    assert source.ess.stats.gaps == 0
    assert bus.of_kind(K.VMS_GAP) == []
    assert source.ess.stats.last_resume_seconds is not None


async def test_past_the_resume_window_a_new_session_resyncs_state_and_records_the_gap(
    gateway: XProtectEmulator, connector: XProtectSource, site: SiteConfig, running: Running
) -> None:
    source, bus = await running.start(connector, site)
    gateway.expire_sessions()
    await gateway.drop_sockets()
    gateway.communication(MAPLE, False)  # during the outage (or just after): must arrive once either way
    [gap] = await bus.wait_kind(K.VMS_GAP)
    assert gap.device_id == "xprotect-main"
    assert gap.attributes["seconds"] >= 0
    await bus.wait_kind(K.CAMERA_COMM_LOST)
    assert source.ess.stats.new_sessions == 2
    assert gateway.counters["getState"] >= 2
    assert len(bus.of_kind(K.CAMERA_COMM_LOST)) == 1


async def test_tokens_are_renewed_before_expiry_and_a_revoked_token_costs_one_retry(
    gateway: XProtectEmulator, connector: XProtectSource, site: SiteConfig, running: Running
) -> None:
    gateway.token_lifetime_seconds = 0.5
    source, bus = await running.start(connector, site)
    await eventually(lambda: source.client.tokens_issued >= 3)  # the alarm poller keeps the REST side busy
    gateway.expire_tokens()
    before = gateway.counters.get("401", 0)
    gateway.token_lifetime_seconds = 3600
    await eventually(lambda: gateway.counters.get("401", 0) > before)
    gateway.motion(QUAD, True)
    await bus.wait_kind(K.MOTION_START)  # the open socket was never dropped for the token
    assert source.ess.stats.connects == 1


async def test_a_wrong_password_is_a_clear_error_retried_with_backoff(
    gateway: XProtectEmulator,
    connector: XProtectSource,
    site: SiteConfig,
    running: Running,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="connectors.xprotect.source"):
        source, _ = await running.start(connector, site, password="wrong", wait=False)
        await eventually(lambda: len(source.connect_retry_delays) >= 3)
    messages = [r.getMessage() for r in caplog.records]
    assert any("XProtect xprotect-main" in m and "refused user 'admin'" in m for m in messages), messages
    first, second, third = source.connect_retry_delays[:3]
    assert first < second < third, "each retry waits longer than the one before (jitter included)"
    assert gateway.counters["token_rejected"] >= 3
    assert not source.ready.is_set()


async def test_malformed_frames_are_counted_kept_and_survived(
    gateway: XProtectEmulator, connector: XProtectSource, site: SiteConfig, running: Running
) -> None:
    source, bus = await running.start(connector, site)
    await gateway.send_malformed()
    await eventually(lambda: source.ess.stats.malformed_frames >= 2)
    assert source.ess.stats.malformed_samples
    gateway.quirks.malformed_json = True
    gateway.motion(QUAD, True)
    await eventually(lambda: source.ess.stats.malformed_frames >= 3)
    gateway.quirks.malformed_json = False
    gateway.motion(QUAD, False)
    await bus.wait_kind(K.MOTION_STOP)


async def test_a_frame_with_a_lone_surrogate_in_its_data_is_stored_as_an_event_and_ingest_goes_on(
    gateway: XProtectEmulator,
    connector: XProtectSource,
    site: SiteConfig,
    running: Running,
    stores: Stores,
    directory: SiteDirectory,
) -> None:
    bus = InProcessBus()
    ingest = asyncio.create_task(IngestStage(bus, stores.events, directory).run())
    try:
        source, _ = await running.start(connector, site, sink=bus)
        # The emulator writes data as JSON, so the frame carries "\udfff" and "\u0000" escapes, which
        # the connector's JSON parser turns into a lone surrogate and a NUL.
        gateway.fire(MOTION_STARTED, f"cameras/{QUAD}", {"label": "gate \udfff", "note": "a\x00b"})
        await eventually(lambda: source.outcomes["stored"] >= 1)
        gateway.fire(MOTION_STARTED, f"cameras/{QUAD}", {"reading": math.nan})
        await eventually(lambda: source.outcomes["rejected"] >= 1)
        gateway.motion(QUAD, False)
        await eventually(lambda: source.outcomes["stored"] >= 2)
        assert not ingest.done(), "the ingest stage is still running"
    finally:
        bus.close()
        ingest.cancel()
        await asyncio.gather(ingest, return_exceptions=True)
    first, second = await stores.events.recent(5)
    assert (first.kind, first.device_id) == (K.MOTION_START, "cam-quad-ptz")
    assert first.attributes["data"] == {"label": "gate \\udfff", "note": "a\\u0000b"}
    assert second.kind is K.MOTION_STOP
    [kept] = await stores.events.rejected(5)
    assert kept.reason.startswith("attributes.data.reading: NaN "), kept.reason
    assert kept.source == "xprotect:xprotect-main"


async def test_an_alarm_raised_for_an_incident_shows_the_camera_and_closes_with_it(
    gateway: XProtectEmulator, connector: XProtectSource
) -> None:
    async with XProtectClient("xprotect-main", gateway.url, "admin", "admin") as client:
        alarm_id = await client.create_alarm("Blue light: Quad", "Incident #12 opened", QUAD, priority="High")
        [alarm] = [a for a in gateway.alarms if str(a["id"]) == alarm_id]
        assert alarm["source"]["id"] == QUAD
        assert alarm["priority"]["name"] == "High"
        await client.update_alarm(alarm_id, state="Closed", comment="incident #12 closed")
        closed = await client.alarm(alarm_id)
    assert closed["state"]["name"] == "Closed"
    assert closed["comment"] == "incident #12 closed"


async def test_vms_alarms_arrive_as_events_on_the_related_camera(
    gateway: XProtectEmulator, connector: XProtectSource, site: SiteConfig, running: Running
) -> None:
    source, bus = await running.start(connector, site)
    gateway.input(DOOR_CONTACT, True)  # matches the door-contact alarm definition
    [alarm] = await bus.wait_kind(K.VMS_ALARM)
    assert alarm.device_id == "cam-maple-entry"
    assert alarm.attributes["name"].startswith("Door contact")
    own = await source.raise_alarm("raised by the bridge", "incident #3", QUAD, priority="Medium")
    assert own in {str(a["id"]) for a in gateway.alarms}
    polls = source.alarm_polls
    await eventually(lambda: source.alarm_polls >= polls + 2)  # it has seen the new alarm twice since
    assert len(bus.of_kind(K.VMS_ALARM)) == 1, "an alarm the bridge raised is not echoed back as a VMS alarm"


async def test_user_defined_event_trigger_reaches_the_vms_and_comes_back_on_the_socket(
    gateway: XProtectEmulator, connector: XProtectSource, site: SiteConfig, running: Running
) -> None:
    source, bus = await running.start(connector, site)
    await source.client.trigger_event(BLUE_LIGHT_EVENT)
    assert gateway.triggered_events[-1]["type"] == BLUE_LIGHT_EVENT
    [event] = await bus.wait_kind(K.VMS_USER_EVENT)
    assert event.attributes["type"] == "Blue light activated"


async def test_ptz_presets_through_rest_tasks(gateway: XProtectEmulator) -> None:
    async with XProtectClient("xprotect-main", gateway.url, "admin", "admin") as client:
        presets = await client.presets(QUAD)
        assert presets == {"5": "bl-quad", "6": "library-steps", "1": "overview"}
        task, _ = await client.preset_task(QUAD, "5")
        assert task is not None
        seconds = await client.goto_preset(QUAD, "5", task)
        assert seconds > 0
        assert gateway.ptz_gotos == [(QUAD, "5")]
        gateway.quirks.fail_tasks = True
        with pytest.raises(ApiError, match="task"):
            await client.goto_preset(QUAD, "6", task)
    assert gateway.ptz_gotos == [(QUAD, "5")]


async def test_wrong_credentials_for_the_client_name_the_gateway_and_user(gateway: XProtectEmulator) -> None:
    with pytest.raises(AuthenticationFailed, match="XProtect gw: the identity provider refused user 'eve'"):
        async with XProtectClient("gw", gateway.url, "eve", "nope"):
            pass


async def test_cameras_in_the_vms_and_the_site_are_reconciled(site: SiteConfig) -> None:
    spec = emulated_gateway(site, "xprotect-main")
    spec.cameras = [c for c in spec.cameras if c.id != MAPLE]
    spec.cameras.append(CameraSpec("11111111-2222-4333-8444-555555555555", "Loading dock (new)", "hw-9"))
    async with (
        XProtectEmulator(spec) as gateway,
        XProtectClient("gw", gateway.url, "admin", "admin") as client,
    ):
        inventory = await client.inventory()
    from connectors.xprotect.mapping import XProtectMap

    check = XProtectMap(xprotect_connectors(site)[0], SiteDirectory(site)).reconcile(inventory)
    assert check.vms_only == [("11111111-2222-4333-8444-555555555555", "Loading dock (new)")]
    assert check.site_only == [("cam-maple-entry", MAPLE)]


async def test_exports_are_picked_from_the_drop_folder_by_camera_and_window(tmp_path: Path) -> None:
    source = DropFolderClipSource(
        tmp_path, {"cam-quad-ptz": [QUAD, "Quad PTZ (clock tower)"]}, wait_seconds=5
    )
    start = datetime(2026, 11, 20, 22, 14, tzinfo=UTC)
    (tmp_path / "Quad PTZ (clock tower) 2026-11-20 20-00-00 2026-11-20 20-05-00.mp4").write_bytes(b"x" * 10)
    (tmp_path / "Library lobby 2026-11-20 22-13-00 2026-11-20 22-16-00.mp4").write_bytes(b"x" * 10)
    (tmp_path / "notes.txt").write_text("Quad PTZ 2026-11-20 22-13-00")

    async def export_later() -> None:
        await asyncio.sleep(0.3)  # simulates XProtect finishing an export while we wait
        (tmp_path / "exports").mkdir()
        await asyncio.to_thread(
            _remux, SCENE, tmp_path / "exports" / f"{QUAD}_20261120T221300_20261120T221600.mkv"
        )

    writer = asyncio.create_task(export_later())
    found = await asyncio.wait_for(source.fetch_clip("cam-quad-ptz", start, start + timedelta(minutes=1)), 10)
    await writer
    assert found.file.name.startswith(QUAD)
    # What the export holds, read from it; its times from its name (UTC by default).
    assert (found.codec, found.width, found.height, found.frames) == ("h264", 480, 270, _packets(SCENE))
    assert found.start == datetime(2026, 11, 20, 22, 13, tzinfo=UTC)
    assert found.end == datetime(2026, 11, 20, 22, 16, tzinfo=UTC)
    assert (found.reencoded, found.transcoded_by) == (False, None)


async def test_an_avi_export_is_marked_as_a_vms_transcode(tmp_path: Path) -> None:
    # XProtect's AVI export encodes the video anew with the codec the operator picks.
    source = DropFolderClipSource(tmp_path, {"cam-quad-ptz": [QUAD]}, wait_seconds=5)
    start = datetime(2026, 11, 20, 22, 14, tzinfo=UTC)
    await asyncio.to_thread(_as_mjpeg_avi, SCENE, tmp_path / f"{QUAD}_20261120T221300_20261120T221600.avi")
    found = await asyncio.wait_for(source.fetch_clip("cam-quad-ptz", start, start + timedelta(minutes=1)), 10)
    assert (found.codec, found.frames) == ("mjpeg", 10)
    assert (found.reencoded, found.transcoded_by) == (True, "vms")


async def test_an_export_that_is_not_video_is_a_clear_error(tmp_path: Path) -> None:
    source = DropFolderClipSource(tmp_path, {"cam-quad-ptz": [QUAD]}, wait_seconds=5)
    start = datetime(2026, 11, 20, 22, 14, tzinfo=UTC)
    (tmp_path / f"{QUAD}_20261120T221300_20261120T221600.mkv").write_bytes(b"y" * 100)
    with pytest.raises(ClipNotFound, match=r"export .*\.mkv: .*not a readable video"):
        await asyncio.wait_for(source.fetch_clip("cam-quad-ptz", start, start + timedelta(minutes=1)), 10)


def _remux(source: Path, out: Path) -> None:
    with av.open(str(source)) as reading, av.open(str(out), "w") as writing:
        stream = writing.add_stream_from_template(reading.streams.video[0])
        for packet in reading.demux(reading.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                writing.mux(packet)


def _as_mjpeg_avi(source: Path, out: Path, frames: int = 10) -> None:
    with av.open(str(source)) as reading, av.open(str(out), "w") as writing:
        stream = writing.add_stream("mjpeg", rate=15)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = 480, 270, "yuvj420p"
        for i, frame in enumerate(reading.decode(video=0)):
            if i == frames:
                break
            writing.mux(stream.encode(frame.reformat(format="yuvj420p")))
        writing.mux(stream.encode(None))


def _packets(path: Path) -> int:
    with av.open(str(path)) as reading:
        return sum(1 for p in reading.demux(reading.streams.video[0]) if p.size)


async def test_no_export_within_the_wait_is_a_clear_error(tmp_path: Path) -> None:
    source = DropFolderClipSource(tmp_path, {"cam-quad-ptz": [QUAD]}, wait_seconds=0.3)
    start = datetime(2026, 11, 20, 22, 14, tzinfo=UTC)
    with pytest.raises(ClipNotFound, match=r"no export for camera cam-quad-ptz covering .* within 0 s"):
        await source.fetch_clip("cam-quad-ptz", start, start + timedelta(minutes=1))
    with pytest.raises(ClipNotFound, match="not exported"):
        await source.fetch_clip("cam-elsewhere", start, start)


async def test_a_bookmark_marks_the_camera_and_window(gateway: XProtectEmulator) -> None:
    async with XProtectClient("xprotect-main", gateway.url, "admin", "admin") as client:
        bookmark_id = await client.create_bookmark(
            QUAD, "Blue light call", "incident #7", "2026-11-20T22:14:00Z", "2026-11-20T22:16:00Z"
        )
    [stored] = [b for b in gateway.bookmarks if str(b["id"]) == bookmark_id]
    assert stored["devicePath"] == {"type": "cameras", "id": QUAD}
    assert (stored["header"], stored["timeBegin"]) == ("Blue light call", "2026-11-20T22:14:00Z")


@pytest.mark.parametrize(
    "sent",
    ["9999-12-31T23:00:00-14:00", "0001-01-01T00:00:00+14:00", "2031-01-01T00:00:00Z", "yesterday", 12345],
)
def test_an_unbelievable_vms_time_dates_the_event_on_receipt_and_keeps_the_time_sent(
    sent: object, site: SiteConfig
) -> None:
    device_map = XProtectMap(xprotect_connectors(site)[0], SiteDirectory(site))
    received = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
    raw = {
        "id": "e-1",
        "type": "6eb95dd6-7ccc-4bce-99f8-af0d0b582d77",
        "source": f"cameras/{QUAD}",
        "time": sent,
    }
    [event] = to_events(device_map, raw, received_at=received)
    assert (event.kind, event.occurred_at) == (K.MOTION_START, received)
    assert event.attributes["clock_suspect"] is True
    assert event.attributes["device_time"] == str(sent)


async def test_events_and_alarms_timed_far_ahead_are_kept_dated_on_receipt_and_the_connector_goes_on(
    gateway: XProtectEmulator, connector: XProtectSource, site: SiteConfig, running: Running
) -> None:
    source, bus = await running.start(connector, site)
    ahead = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
    gateway.fire(INPUT_ACTIVATED, f"inputEvents/{DOOR_CONTACT}", time=ahead)  # also raises a VMS alarm
    [opened] = await bus.wait_kind(K.DOOR_OPENED)
    [alarm] = await bus.wait_kind(K.VMS_ALARM)
    for event in (opened, alarm):
        assert event.occurred_at == event.received_at
        assert event.attributes["clock_suspect"] is True
        assert event.attributes["device_time"].startswith("9999-12-31T23:00:00")
    gateway.motion(QUAD, True)
    [motion] = await bus.wait_kind(K.MOTION_START)
    assert "clock_suspect" not in motion.attributes
    assert source.clock_suspects == 2
