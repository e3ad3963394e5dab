"""XProtect recorded video over the ImageServer protocol, against the emulated recording server."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import pytest

from connectors.xprotect import recorded as recorded_module
from connectors.xprotect.client import XProtectClient
from connectors.xprotect.config import XProtectSource
from connectors.xprotect.control import build_xprotect_controls
from connectors.xprotect.emulator import XProtectEmulator
from connectors.xprotect.emulator.imageserver import ImageServerEmulator
from connectors.xprotect.emulator.recording import Recording
from connectors.xprotect.errors import AuthenticationFailed, ProtocolError
from connectors.xprotect.imageserver import ImageServerSession, RecorderAddress
from connectors.xprotect.lab import emulated_xprotect
from connectors.xprotect.recorded_clips import RecordedClipSource, recorder_tls
from connectors.xprotect.source import XProtectEventSource
from evidence.store import ContentStore
from recording.result import ClipResult
from tests.clip_capture import capture
from tests.connectors.conftest import WAIT, free_ports, read_line, vmsbridge
from vmsbridge.clip_fetch import fetch_window
from vmsbridge.config import SiteConfig, SiteDirectory
from vmsbridge.config.connectors import ConnectorsConfig
from vmsbridge.controls import Controls
from vmsbridge.evidence_service import clip_facts, export_packet
from vmsbridge.sources import ClipNotFound
from vmsbridge.store.stores import Stores

SCENE = Path(__file__).resolve().parents[3] / "fixtures" / "video" / "scene.mp4"
# An hour ago: a recording server has nothing from the future.
RECORDED_AT = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
PAUSE_SECONDS = 10.0
GOP = timedelta(seconds=4)  # the fixture's longest keyframe distance (60 frames at 15 fps)
FRAME = timedelta(milliseconds=67)
QUAD = "0d3c1f2e-7b5a-4c0e-9a51-6e2f3b8d1a01"  # an XProtect camera of the example campus


@dataclass
class Site:
    gateway: XProtectEmulator
    recorder: ImageServerEmulator
    recording: Recording
    client: XProtectClient
    camera: str  # the XProtect camera id
    site_camera: str  # the same camera's id in the site file


@pytest.fixture
async def recorded(gateway: XProtectEmulator, site: SiteConfig) -> AsyncIterator[Site]:
    """The example site's gateway with a recording server holding the fixture clip twice, 10 s apart."""
    camera = next(c for c in site.cameras if c.source.connector == "xprotect-main" and c.source.camera_id)
    assert camera.source.camera_id is not None
    recording = Recording(SCENE, RECORDED_AT, passes=2, pause_seconds=PAUSE_SECONDS)
    async with (
        ImageServerEmulator(gateway, {camera.source.camera_id: recording}) as recorder,
        XProtectClient("xprotect-main", gateway.url, "admin", "admin") as client,
    ):
        yield Site(gateway, recorder, recording, client, camera.source.camera_id, camera.id)


def source_packets() -> list[tuple[int, bool, bytes]]:
    """The fixture's packets in stored order: (presentation ms, keyframe, bytes as in the MP4)."""
    with av.open(str(SCENE)) as container:
        stream = container.streams.video[0]
        time_base = stream.time_base or Fraction(1, 90_000)
        packets = [
            (p.pts, p.is_keyframe, bytes(p)) for p in container.demux(stream) if p.size and p.pts is not None
        ]
    first = packets[0][0]
    return [
        (round((pts - first) * time_base * 1000), key, data) for pts, key, data in packets if pts is not None
    ]


def clip_packets(path: Path) -> list[tuple[int, bool, bytes]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        time_base = stream.time_base or Fraction(1, 90_000)
        return [
            (round(p.pts * time_base * 1000), p.is_keyframe, bytes(p))
            for p in container.demux(stream)
            if p.size and p.pts is not None
        ]


def coded_slices(avcc: bytes) -> list[bytes]:
    """The picture slices (NAL types 1-5) of a length-prefixed H.264 packet: what a re-encode would change.
    Parameter sets and SEI may travel in-band or in the header, so they are left out of the comparison."""
    slices, at = [], 0
    while at + 4 <= len(avcc):
        size = int.from_bytes(avcc[at : at + 4], "big")
        unit = avcc[at + 4 : at + 4 + size]
        if unit and 1 <= unit[0] & 0x1F <= 5:
            slices.append(unit)
        at += 4 + size
    assert at == len(avcc), "packet is not length-prefixed NAL units"
    return slices


def names_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def decoded_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


async def test_recorded_window_is_the_stored_pictures_unchanged(recorded: Site, tmp_path: Path) -> None:
    source = RecordedClipSource(recorded.client, {}, tmp_path)
    start, end = RECORDED_AT + timedelta(seconds=5), RECORDED_AT + timedelta(seconds=20)
    result = await source.fetch(recorded.camera, start, end, tmp_path / "clip.mp4")

    stored = source_packets()
    first = max(i for i, (ms, key, _) in enumerate(stored) if key and ms <= 5000)
    last = next(i for i, (ms, _, _) in enumerate(stored) if i > first and ms > 20000)
    expected = stored[first:last]
    got = clip_packets(result.file)
    assert len(got) == len(expected) == result.frames
    for n, ((got_ms, got_key, got_data), (want_ms, want_key, want_data)) in enumerate(
        zip(got, expected, strict=True)
    ):
        assert coded_slices(got_data) == coded_slices(want_data), f"picture {n} was changed"
        assert got_key == want_key, f"picture {n}: keyframe flag"
        assert abs(got_ms - (want_ms - expected[0][0])) <= 1, f"picture {n}: time {got_ms} ms"
    assert result.codec == "h264"
    assert (result.width, result.height) == (480, 270)
    assert result.reencoded is False
    assert result.transcoded_by is None
    assert result.start == RECORDED_AT + timedelta(milliseconds=expected[0][0])
    written = result.file.read_bytes()
    assert result.sha256 == hashlib.sha256(written).hexdigest()
    assert written.index(b"moov") < written.index(b"mdat"), "not faststart: the index is after the media"
    assert result.gaps == ()
    assert decoded_frames(result.file) == result.frames
    assert names_in(tmp_path) == ["clip.mp4"]
    with av.open(str(result.file)) as container:
        creation_time = container.metadata.get("creation_time", "")
    assert creation_time[:19] == (RECORDED_AT + timedelta(seconds=4)).isoformat()[:19]


@pytest.mark.parametrize(("from_s", "to_s"), [(0.5, 3.0), (13.2, 16.9), (17.0, 31.0), (33.0, 35.9)])
async def test_window_is_honoured_within_one_gop(
    recorded: Site, tmp_path: Path, from_s: float, to_s: float
) -> None:
    source = RecordedClipSource(recorded.client, {}, tmp_path)
    start, end = RECORDED_AT + timedelta(seconds=from_s), RECORDED_AT + timedelta(seconds=to_s)
    result = await source.fetch(recorded.camera, start, end, tmp_path / "clip.mp4")
    assert start - GOP <= result.start <= start, f"clip starts at {result.start}, window at {start}"
    assert end - timedelta(seconds=1) <= result.end <= end + FRAME, (
        f"clip ends at {result.end}, window at {end}"
    )
    assert clip_packets(result.file)[0][1], "the clip does not start on a keyframe"
    assert decoded_frames(result.file) == result.frames


async def test_a_stretch_without_recording_is_a_gap(recorded: Site, tmp_path: Path) -> None:
    source = RecordedClipSource(recorded.client, {}, tmp_path)
    start, end = RECORDED_AT + timedelta(seconds=30), recorded.recording.pass_start(1) + timedelta(seconds=6)
    result = await source.fetch(recorded.camera, start, end, tmp_path / "clip.mp4")
    assert len(result.gaps) == 1, result.gaps
    gap = result.gaps[0]
    first_pass_end = recorded.recording.pass_start(0) + timedelta(milliseconds=recorded.recording.pass_ms)
    assert abs((gap.start - first_pass_end).total_seconds()) < 0.1
    assert gap.end == recorded.recording.pass_start(1)
    assert abs(gap.seconds - PAUSE_SECONDS) < 0.1
    assert decoded_frames(result.file) == result.frames
    assert result.to_json()["gaps"] == [gap.to_json()]


async def test_a_wrong_token_is_refused_with_a_clear_message(recorded: Site) -> None:
    address = RecorderAddress.from_uri(
        recorded.gateway._config["recordingServers"][recorded.gateway._recorder_id]["webServerUri"]
    )
    with pytest.raises(AuthenticationFailed) as refused:
        async with ImageServerSession(
            address, recorded.camera, "TOKEN#forged#", label="XProtect test", timeout=10
        ):
            pass
    message = str(refused.value)
    assert f"connect to camera {recorded.camera} refused" in message
    assert "the connection token is not valid" in message
    assert "forged" not in message
    assert recorded.recorder.counters["refused"] == 1
    assert recorded.recorder.counters["images"] == 0


async def test_an_expired_vms_token_is_renewed_by_logging_in_again(recorded: Site, tmp_path: Path) -> None:
    source = RecordedClipSource(recorded.client, {}, tmp_path, timeout=10)
    window = RECORDED_AT + timedelta(seconds=1), RECORDED_AT + timedelta(seconds=2)
    await source.fetch(recorded.camera, *window, tmp_path / "a.mp4")
    recorded.gateway.expire_vms_tokens()
    await source.fetch(recorded.camera, *window, tmp_path / "b.mp4")
    assert recorded.recorder.counters["refused"] == 1
    assert recorded.recorder.counters["connect"] == 2
    # A server whose tokens are expired as soon as they are issued is refused with its reason.
    recorded.gateway.vms_token_lifetime_seconds = 0.0
    recorded.gateway.expire_vms_tokens()
    with pytest.raises(AuthenticationFailed, match="the connection token has expired"):
        await source.fetch(recorded.camera, *window, tmp_path / "c.mp4")
    assert not (tmp_path / "c.mp4").exists()


async def test_a_jpeg_only_server_gives_a_vms_transcode_kept_as_delivered(
    recorded: Site, tmp_path: Path
) -> None:
    recorded.recorder.quirks.jpeg_only = True
    source = RecordedClipSource(recorded.client, {}, tmp_path)
    start, end = RECORDED_AT + timedelta(seconds=5), RECORDED_AT + timedelta(seconds=8)
    result = await source.fetch(recorded.camera, start, end, tmp_path / "clip.mp4")
    assert result.codec == "mjpeg"
    assert result.reencoded is True
    assert result.transcoded_by == "vms"
    assert result.to_json()["reencoded"] is True
    assert result.to_json()["transcoded_by"] == "vms"
    base = round(RECORDED_AT.timestamp() * 1000)
    delivered = [
        p
        for p in recorded.recording.one_pass(jpeg=True)
        if round(start.timestamp() * 1000) <= base + p.time_ms <= round(end.timestamp() * 1000)
    ]
    got = clip_packets(result.file)
    assert [data for _, _, data in got] == [p.data for p in delivered], "the JPEGs are not kept as delivered"
    assert [ms for ms, _, _ in got] == [p.time_ms - delivered[0].time_ms for p in delivered]
    assert result.start == datetime.fromtimestamp((base + delivered[0].time_ms) / 1000, UTC)


async def test_malformed_framing_is_a_clear_error_and_leaves_no_file(recorded: Site, tmp_path: Path) -> None:
    recorded.recorder.quirks.malformed_framing = True
    source = RecordedClipSource(recorded.client, {}, tmp_path)
    window = RECORDED_AT + timedelta(seconds=5), RECORDED_AT + timedelta(seconds=20)
    with pytest.raises(ProtocolError, match=r"GenericByteData says \d+ bytes but Content-length says \d+"):
        await source.fetch(recorded.camera, *window, tmp_path / "clip.mp4")
    assert names_in(tmp_path) == []


async def test_the_clip_source_finds_the_recorder_through_config_rest(
    recorded: Site, site: SiteConfig, tmp_path: Path
) -> None:
    source = RecordedClipSource(recorded.client, {recorded.site_camera: recorded.camera}, tmp_path)
    address = await source.recorder_of(recorded.camera)
    assert (address.host, address.port, address.tls) == ("127.0.0.1", recorded.recorder.port, False)
    window = RECORDED_AT + timedelta(seconds=9), RECORDED_AT + timedelta(seconds=12)
    clip = await source.fetch_clip(recorded.site_camera, *window)
    assert clip.file.parent.parent == tmp_path
    assert clip.file.suffix == ".mp4"
    assert clip.start == RECORDED_AT + timedelta(seconds=8)
    assert decoded_frames(clip.file) == clip.frames


class Export:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.asked: list[str] = []

    async def fetch_clip(self, camera_id: str, start: datetime, end: datetime) -> ClipResult:
        self.asked.append(camera_id)
        return ClipResult(self.path, "0" * 64, "h264", 320, 240, 1, start, end)


async def test_the_export_folder_is_the_second_path(recorded: Site, site: SiteConfig, tmp_path: Path) -> None:
    other = next(c for c in site.cameras if c.source.camera_id and c.source.camera_id != recorded.camera)
    assert other.source.camera_id is not None
    export = Export(tmp_path / "exported.mp4")
    source = RecordedClipSource(
        recorded.client,
        {recorded.site_camera: recorded.camera, other.id: other.source.camera_id},
        tmp_path / "work",
        fallback=export,
    )
    await asyncio.to_thread((tmp_path / "work").mkdir)
    window = RECORDED_AT + timedelta(seconds=9), RECORDED_AT + timedelta(seconds=12)
    # The recording server has nothing for that camera, so the export folder is asked.
    assert (await source.fetch_clip(other.id, *window)).file == export.path
    assert export.asked == [other.id]
    assert names_in(tmp_path / "work") == []
    without = RecordedClipSource(recorded.client, {other.id: other.source.camera_id}, tmp_path / "work")
    with pytest.raises(ClipNotFound, match=f"no recordings for camera {other.source.camera_id}"):
        await without.fetch_clip(other.id, *window)
    # A window before anything was recorded is not found either.
    with pytest.raises(ClipNotFound):
        await RecordedClipSource(
            recorded.client, {recorded.site_camera: recorded.camera}, tmp_path / "work"
        ).fetch_clip(
            recorded.site_camera,
            RECORDED_AT + timedelta(hours=2),
            RECORDED_AT + timedelta(hours=2, seconds=5),
        )


async def test_the_emulated_site_records_and_its_clip_source_fetches_from_the_recorder(
    site: SiteConfig, tmp_path: Path
) -> None:
    secret = tmp_path / "secret"
    await asyncio.to_thread(secret.write_text, "lab-password\n")
    work = tmp_path / "work"
    await asyncio.to_thread(work.mkdir)
    async with emulated_xprotect(site, secret, "lab", SCENE) as emulated:
        connector = emulated.connectors[0]
        assert isinstance(connector, XProtectSource)
        source = XProtectEventSource(connector, SiteDirectory(site), "lab-password")
        try:
            clips = build_xprotect_controls(site, [source], work).clips[connector.id]
            assert isinstance(clips, RecordedClipSource)
            camera = next(
                c for c in site.cameras if c.source.connector == connector.id and c.source.camera_id
            )
            now = datetime.now(UTC)
            start, end = now - timedelta(seconds=30), now - timedelta(seconds=20)
            result = await clips.fetch_clip(camera.id, start, end)
            path = result.file
            assert start - GOP <= result.start <= start
            assert end - timedelta(seconds=1) <= result.end <= end + FRAME
            assert result.reencoded is False
            assert decoded_frames(path) == result.frames
        finally:
            await source.client.close()


async def test_emulate_xprotect_with_a_clip_serves_recorded_video(tmp_path: Path) -> None:
    port = free_ports(1)
    emulator = await vmsbridge("emulate", "xprotect", "--port", str(port), "--clip", str(SCENE))
    try:
        assert (await read_line(emulator)).startswith(f"xprotect-main  http://127.0.0.1:{port} ")
        recorder_line = await read_line(emulator)
        assert recorder_line.startswith("recorder       http://127.0.0.1:"), recorder_line
        assert "Ctrl-C to stop" in await read_line(emulator)
        async with XProtectClient("xprotect-main", f"http://127.0.0.1:{port}", "admin", "admin") as client:
            source = RecordedClipSource(client, {}, tmp_path)
            assert str(await source.recorder_of(QUAD)) == recorder_line.split()[1].removeprefix(
                "http://"
            ).rstrip("/")
            now = datetime.now(UTC)
            result = await source.fetch(
                QUAD, now - timedelta(seconds=8), now - timedelta(seconds=5), tmp_path / "c.mp4"
            )
            assert result.frames > 0
            assert result.codec == "h264"
            assert decoded_frames(result.file) == result.frames
    finally:
        emulator.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(emulator.wait(), WAIT)
    assert code == 0, "the emulator must stop cleanly on SIGTERM"


async def test_emulate_xprotect_refuses_a_clip_it_cannot_store(tmp_path: Path) -> None:
    not_video = tmp_path / "notes.txt"
    await asyncio.to_thread(not_video.write_text, "not a video\n")
    emulator = await vmsbridge("emulate", "xprotect", "--port", str(free_ports(1)), "--clip", str(not_video))
    _, err = await asyncio.wait_for(emulator.communicate(), WAIT)
    assert emulator.returncode == 2
    assert "--clip: cannot be stored" in err.decode()


def test_recorders_use_the_gateway_tls_settings() -> None:
    assert recorder_tls(None, False) is None  # the system's trust store
    lab = recorder_tls(None, True)
    assert lab is not None
    assert lab.verify_mode == ssl.CERT_NONE
    assert lab.check_hostname is False
    campus = recorder_tls(Path(certifi_like()), False)
    assert campus is not None
    assert campus.verify_mode == ssl.CERT_REQUIRED


def certifi_like() -> str:
    """A CA bundle that exists on this machine."""
    found = ssl.get_default_verify_paths().cafile or ssl.get_default_verify_paths().openssl_cafile
    assert found is not None
    assert Path(found).exists(), found
    return found


async def test_a_window_too_large_to_hold_is_refused_and_leaves_no_file(
    recorded: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorded_module, "MAX_WINDOW_BYTES", 2**20)  # the fixture is 1.3 MiB per pass
    source = RecordedClipSource(recorded.client, {recorded.site_camera: recorded.camera}, tmp_path)
    with pytest.raises(
        ClipNotFound, match="the window holds more than 1 MiB of video; ask for a shorter one"
    ):
        await source.fetch_clip(recorded.site_camera, RECORDED_AT, RECORDED_AT + timedelta(seconds=35))
    assert names_in(tmp_path) == []


async def test_a_jpeg_only_clip_is_evidence_marked_as_a_vms_transcode(
    recorded: Site, site: SiteConfig, stores: Stores, tmp_path: Path
) -> None:
    recorded.recorder.quirks.jpeg_only = True
    work = tmp_path / "work"
    await asyncio.to_thread(work.mkdir)
    source = RecordedClipSource(recorded.client, {recorded.site_camera: recorded.camera}, work)
    camera = next(c for c in site.cameras if c.id == recorded.site_camera)
    evidence = ContentStore(tmp_path / "evidence")
    incident, detail = await capture(
        site,
        stores,
        evidence,
        Controls(clips={camera.source.connector: source}),
        camera.id,
        RECORDED_AT + timedelta(seconds=6),
        pre=1,
        post=2,
        work_dir=work,
    )
    assert "transcoded by the vms, not the camera's original encoding" in detail

    [item] = await stores.evidence.items(incident)
    assert item.role == "original"  # what was acquired; withheld like any original from sensitive exports
    clip = clip_facts(await stores.evidence.chain(incident))[item.sha256]
    assert (clip["codec"], clip["reencoded"], clip["transcoded_by"]) == ("mjpeg", True, "vms")
    packet = await export_packet(
        stores, site, evidence, incident_id=incident, out=tmp_path / "packet", actor="det-ruiz", reason="test"
    )
    listed = json.loads(await asyncio.to_thread((packet / "data" / "incident.json").read_text))
    [entry] = listed["evidence"]
    assert entry["transcode"] == "transcoded by the vms: not the camera's original encoding"
    assert entry["clip"]["reencoded"] is True


async def test_clip_fetch_takes_a_window_without_a_buffer_from_the_recording_server(
    site: SiteConfig, tmp_path: Path
) -> None:
    secret = tmp_path / "secret"
    await asyncio.to_thread(secret.write_text, "lab-password\n")
    async with emulated_xprotect(site, secret, "lab", SCENE) as emulated:
        lab = site.model_copy(
            update={
                "connectors": ConnectorsConfig({"xprotect": tuple(emulated.connectors)}),
                "storage": site.storage.model_copy(update={"data_dir": tmp_path / "data"}),
            }
        )
        camera = next(c for c in lab.cameras if c.source.connector == "xprotect-main" and c.source.camera_id)
        now = datetime.now(UTC)
        start, end = now - timedelta(seconds=30), now - timedelta(seconds=20)
        out = tmp_path / "fetched.mp4"
        clip = await fetch_window(lab, camera.id, start, end, out, work_dir=tmp_path / "work")
    assert clip.file == out
    assert clip.sha256 == await asyncio.to_thread(lambda: hashlib.sha256(out.read_bytes()).hexdigest())
    assert start - GOP <= clip.start <= start
    assert (clip.codec, clip.reencoded, clip.transcoded_by) == ("h264", False, None)
    assert await asyncio.to_thread(decoded_frames, out) == clip.frames
    assert names_in(tmp_path / "work") == []
