"""Profile G through the connector: recordings and replay URI over SOAP, and clips replayed for a window."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest

from connectors.onvif.cli import _probe
from connectors.onvif.client import OnvifClient
from connectors.onvif.config import OnvifSource, onvif_connectors
from connectors.onvif.control import OnvifControl, with_credentials
from connectors.onvif.emulator import EmulatedDevice, OnvifEmulator
from connectors.onvif.sitedevices import emulated_devices
from recording.live import RecordingError, open_live
from vmsbridge.config import Camera, SiteConfig
from vmsbridge.sources import ClipNotFound

CLIP = Path(__file__).parents[3] / "fixtures" / "video" / "scene.mp4"


@pytest.fixture
async def recorder(site: SiteConfig) -> AsyncIterator[tuple[EmulatedDevice, OnvifSource, list[Camera]]]:
    """The site's first ONVIF device with cameras, streaming RTSP and keeping recordings."""
    connector = next(
        c
        for c in onvif_connectors(site)
        if any(cam.source.connector == c.id and cam.source.profile for cam in site.cameras)
    )
    spec = next(s for s in emulated_devices(site, clip=CLIP) if s.id == connector.id)
    cameras = [c for c in site.cameras if c.source.connector == connector.id and c.source.profile]
    async with OnvifEmulator([spec]) as emu:
        device = emu.device(spec.id)
        config = connector.model_copy(update={"host": "127.0.0.1", "port": device.port, "username": "admin"})
        yield device, config, cameras


async def test_recordings_and_replay_uri_over_soap(
    recorder: tuple[EmulatedDevice, OnvifSource, list[Camera]],
) -> None:
    device, config, _ = recorder
    async with OnvifClient(config.id, "127.0.0.1", device.port, "admin", "admin") as client:
        recordings = await client.recordings()
        profiles = await client.profiles()
        assert {r.source for r in recordings} == {p.video_source for p in profiles}
        first = recordings[0]
        assert first.earliest is not None
        assert first.latest is not None
        assert first.earliest == device.rtsp.recorded_from.replace(microsecond=first.earliest.microsecond)
        assert abs((first.latest - datetime.now(UTC)).total_seconds()) < 60
        assert await client.replay_uri(first.token) == device.rtsp.replay_url(first.token)
        assert (await client.stream_uri(profiles[0].token)).startswith(
            f"rtsp://127.0.0.1:{device.rtsp.port}/live/"
        )


async def test_clip_source_replays_the_window(
    recorder: tuple[EmulatedDevice, OnvifSource, list[Camera]], tmp_path: Path
) -> None:
    device, config, cameras = recorder
    camera = cameras[-1]
    control = OnvifControl(config, "admin", cameras, tmp_path)
    end = datetime.now(UTC) - timedelta(seconds=100)
    start = end - timedelta(seconds=20)
    try:
        clip = await control.fetch_clip(camera.id, start, end)
    finally:
        await control.close()

    [(token, asked_start, asked_end)] = device.rtsp.replay_requests
    source = next(p.video_source for p in device.spec.profiles if p.token == camera.source.profile)
    assert token == f"Recording_{source}"
    # Asked in the device's time: ours plus the skew GetSystemDateAndTime measured (whole seconds, so up
    # to a second off, plus the request's latency on a busy machine).
    assert abs(asked_start - start) < timedelta(seconds=2)
    assert asked_end - asked_start == end - start
    frames = await asyncio.to_thread(_count_frames, clip.file)
    assert clip.frames == frames
    # The clip's real times are in our clock again, from the keyframe at or before the window.
    assert start - timedelta(seconds=6) <= clip.start <= start + timedelta(seconds=2)
    assert 20 * 15 - 2 <= frames <= (20 + 4) * 15  # the window, from the keyframe before it


async def test_clip_source_refused_credentials_leave_nothing(
    recorder: tuple[EmulatedDevice, OnvifSource, list[Camera]], tmp_path: Path
) -> None:
    device, config, cameras = recorder
    control = OnvifControl(config, "admin", cameras, tmp_path)
    device.rtsp.password = "changed-on-the-camera-only"
    end = datetime.now(UTC) - timedelta(seconds=100)
    try:
        with pytest.raises(ClipNotFound, match="refused the credentials"):
            await control.fetch_clip(cameras[0].id, end - timedelta(seconds=10), end)
    finally:
        await control.close()
    assert await asyncio.to_thread(lambda: sorted(p.name for p in tmp_path.rglob("*") if p.is_file())) == []


def _count_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for p in container.demux(container.streams.video[0]) if p.size)


async def test_probe_lists_recordings_with_their_replay_uri(
    recorder: tuple[EmulatedDevice, OnvifSource, list[Camera]],
) -> None:
    device, _, _ = recorder
    report = await _probe("127.0.0.1", device.port, "admin", "admin")
    assert [r["replay_uri"] for r in report["recordings"]] == [
        device.rtsp.replay_url(token) for token in device.rtsp.recordings
    ]
    assert "recordings_error" not in report


async def test_a_camera_without_recordings_gives_a_clear_missing_clip(
    site: SiteConfig, tmp_path: Path
) -> None:
    connector = next(
        c
        for c in onvif_connectors(site)
        if any(cam.source.connector == c.id and cam.source.profile for cam in site.cameras)
    )
    spec = next(s for s in emulated_devices(site, clip=CLIP) if s.id == connector.id)
    spec.recordings = False  # live RTSP only, no Profile G
    cameras = [c for c in site.cameras if c.source.connector == connector.id and c.source.profile]
    async with OnvifEmulator([spec]) as emu:
        device = emu.device(spec.id)
        config = connector.model_copy(update={"host": "127.0.0.1", "port": device.port, "username": "admin"})
        control = OnvifControl(config, "admin", cameras, tmp_path)
        end = datetime.now(UTC) - timedelta(seconds=100)
        try:
            with pytest.raises(
                ClipNotFound, match=r"lists no recordings \(Profile G\).*offers no search service"
            ):
                await control.fetch_clip(cameras[0].id, end - timedelta(seconds=10), end)
        finally:
            await control.close()
        assert device.rtsp.replay_requests == []


async def test_the_live_address_is_get_stream_uri_with_the_connectors_account(
    recorder: tuple[EmulatedDevice, OnvifSource, list[Camera]], tmp_path: Path
) -> None:
    """What the pre-roll recorder records when the site file gives no stream_uri: the profile's
    GetStreamUri, opened with the connector's user and password (the emulator's RTSP asks for them)."""
    device, config, cameras = recorder
    control = OnvifControl(config, "admin", cameras, tmp_path)
    try:
        url = await control.live_stream_url(cameras[0])
    finally:
        await control.close()
    profile = cameras[0].source.profile
    assert url == f"rtsp://admin:admin@127.0.0.1:{device.rtsp.port}/live/{profile}"

    def first_packet_size(address: str) -> int:
        live = open_live(address, open_timeout=60, read_timeout=60)
        try:
            return int(next(iter(live.packets())).size)
        finally:
            live.container.close()

    assert await asyncio.to_thread(first_packet_size, url) > 0
    with pytest.raises(RecordingError, match=r"401|denied|refused|nauthori"):
        await asyncio.to_thread(first_packet_size, url.replace("admin:admin@", "admin:wrong@"))


def test_an_account_goes_into_the_address_percent_encoded() -> None:
    assert (
        with_credentials("rtsp://10.0.0.5:554/live/1", "op:1", "p@ss/w rd")
        == "rtsp://op%3A1:p%40ss%2Fw%20rd@10.0.0.5:554/live/1"
    )
    assert with_credentials("rtsp://own:x@10.0.0.5/a", "op", "pw") == "rtsp://own:x@10.0.0.5/a"
    with pytest.raises(ValueError, match="GetStreamUri: expected an rtsp:// address"):
        with_credentials("http://10.0.0.5/video.mp4", "op", "pw")


async def test_addresses_asked_at_once_leave_no_http_session_open(
    recorder: tuple[EmulatedDevice, OnvifSource, list[Camera]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The recorder asks for every camera's address at once; the connector's HTTP sessions all close."""
    device, config, cameras = recorder
    control = OnvifControl(config, "admin", cameras, tmp_path)
    try:
        urls = await asyncio.gather(*(control.live_stream_url(c) for c in cameras * 3))
    finally:
        await control.close()
    assert all(u.startswith(f"rtsp://admin:admin@127.0.0.1:{device.rtsp.port}/live/") for u in urls)
    gc.collect()
    await asyncio.sleep(0)  # the loop's exception handler runs what collection reported
    assert "Unclosed" not in caplog.text
