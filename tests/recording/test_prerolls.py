"""The bridge's side of the pre-roll buffer: stream health as events, clips for capture_clip."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from recording.recorder import RecorderSettings
from recording.result import ClipResult
from recording.segments import SegmentStore
from tests.health.test_monitor import CollectingSink
from tests.recording.rtsp_peer import GstRtspPeer
from tests.recording.test_assemble import _at, _cut_into_segments
from vmsbridge.config import SiteConfig
from vmsbridge.config.devices import Camera
from vmsbridge.config.rules import CaptureClip
from vmsbridge.controls import Controls
from vmsbridge.model import EventKind
from vmsbridge.prerolls import BufferClipSource, PrerollRecorders, RecordedCamera, cameras_to_record
from vmsbridge.runtime.rules import load_rules
from vmsbridge.sources import ClipNotFound

LIMIT = 60.0
FAST = RecorderSettings(segment_seconds=2.0, read_timeout=5.0, backoff_first=0.2, backoff_cap=1.0)


async def _until(condition: object, what: str) -> None:
    assert callable(condition)
    deadline = asyncio.get_running_loop().time() + LIMIT
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"waited {LIMIT:g} s for {what}"
        await asyncio.sleep(0.1)


async def test_stream_loss_is_published_and_the_buffer_gives_the_clip(
    rtsp_peer: GstRtspPeer, tmp_path: Path
) -> None:
    recorders = PrerollRecorders([RecordedCamera("cam-1", rtsp_peer.url("live"))], tmp_path / "data", FAST)
    sink = CollectingSink()
    running = asyncio.create_task(recorders.run(sink))
    store = recorders.stores["cam-1"]
    try:
        await _until(lambda: len(store.segments()) >= 2, "two segments of cam-1")
        alarm = store.segments()[-1].start
        clips = BufferClipSource(recorders.stores, tmp_path / "work", wait_seconds=LIMIT)
        (tmp_path / "work").mkdir()
        clip = await clips.fetch_clip("cam-1", alarm - timedelta(seconds=2), alarm + timedelta(seconds=1))
        rtsp_peer.stop()
        await _until(
            lambda: [e.kind for e in sink.published] == [EventKind.CAMERA_STREAM_LOST], "stream_lost"
        )
        await asyncio.to_thread(rtsp_peer.start)
        await _until(lambda: len(sink.published) == 2, "stream_restored")
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)

    assert clip.file.exists()
    lost, restored = sink.published
    assert (lost.device_id, lost.source) == ("cam-1", "recorder")
    assert "stream ended" in str(lost.attributes["reason"])
    assert restored.kind is EventKind.CAMERA_STREAM_RESTORED
    assert lost.occurred_at < restored.occurred_at


async def test_a_camera_not_recorded_or_a_window_not_held_is_clip_not_found(tmp_path: Path) -> None:
    recorders = PrerollRecorders([RecordedCamera("cam-1", "rtsp://127.0.0.1:9/x")], tmp_path, FAST)
    clips = BufferClipSource(recorders.stores, tmp_path, wait_seconds=0.1)
    now = datetime.now(UTC)

    with pytest.raises(ClipNotFound, match="not recorded"):
        await clips.fetch_clip("cam-2", now, now + timedelta(seconds=1))
    with pytest.raises(ClipNotFound, match="no recorded video"):
        await clips.fetch_clip("cam-1", now, now + timedelta(seconds=1))


def test_which_cameras_keep_a_buffer(site: SiteConfig) -> None:
    first, second, third, *rest = site.cameras
    cameras = [
        first.model_copy(update={"stream_uri": "rtsp://10.0.0.1/a"}),  # record = "rules" (the default)
        second.model_copy(update={"stream_uri": "rtsp://10.0.0.2/a", "record": "never"}),
        third.model_copy(update={"record": "always"}),  # no RTSP address: nothing to record
        *rest,
    ]
    changed = site.model_copy(update={"cameras": cameras})
    related = [a for r in load_rules(site) for a in r.actions if isinstance(a, CaptureClip)]
    assert related, "the example site's rules clip related cameras"

    assert cameras_to_record(changed, load_rules(site)) == [RecordedCamera(first.id, "rtsp://10.0.0.1/a")]
    assert cameras_to_record(changed, []) == [], "no rule clips: 'rules' cameras are not recorded"
    always = [cameras[0].model_copy(update={"record": "always"}), *cameras[1:]]
    assert [c.camera_id for c in cameras_to_record(site.model_copy(update={"cameras": always}), [])] == [
        first.id
    ]


class AnsweringStreams:
    """A connector's LiveStreams: GetStreamUri as a device would answer it."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def live_stream_url(self, camera: Camera) -> str:
        return f"{self.address}/{camera.id}"


async def test_a_camera_without_stream_uri_is_recorded_from_its_connectors_address(site: SiteConfig) -> None:
    first, second, *rest = site.cameras
    others = [c.model_copy(update={"record": "never"}) for c in rest]
    cameras = [
        first.model_copy(update={"record": "always"}),  # no stream_uri: its connector's address
        second.model_copy(update={"record": "always", "stream_uri": "rtsp://10.0.0.2/override"}),
        *others,
    ]
    changed = site.model_copy(update={"cameras": cameras})
    streams = AnsweringStreams("rtsp://u:p@10.0.0.1")
    controls = Controls(streams={first.source.connector: streams})

    chosen = cameras_to_record(changed, [], controls)

    assert [c.camera_id for c in chosen] == [first.id, second.id]
    lookup = chosen[0].url
    assert callable(lookup), "the address is asked of the connector when recording starts"
    assert await lookup() == f"rtsp://u:p@10.0.0.1/{first.id}"
    assert chosen[1] == RecordedCamera(second.id, "rtsp://10.0.0.2/override"), "stream_uri overrides"
    # A camera whose connector tells no address (e.g. one known only through the VMS) is not recorded.
    assert [c.camera_id for c in cameras_to_record(changed, [], Controls())] == [second.id]


async def test_the_recorder_asks_again_until_the_device_tells_its_address(
    rtsp_peer: GstRtspPeer, tmp_path: Path
) -> None:
    asked = 0

    async def address() -> str:
        nonlocal asked
        asked += 1
        if asked <= 2:
            raise ConnectionRefusedError("device not answering")
        return rtsp_peer.url("live")

    recorders = PrerollRecorders([RecordedCamera("cam-1", address)], tmp_path, FAST)
    store = recorders.stores["cam-1"]
    task = asyncio.create_task(recorders.run(CollectingSink()))
    try:
        await _until(lambda: len(store.segments()) >= 1, "a segment recorded from the looked-up address")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert asked == 3, "asked until the device answered, then not again"


def test_a_stream_uri_must_be_rtsp(site: SiteConfig) -> None:
    data = site.cameras[0].model_dump()
    with pytest.raises(ValidationError, match="stream_uri"):
        Camera.model_validate({**data, "stream_uri": "http://10.0.0.1/video"})


async def test_a_window_the_buffer_lacks_is_asked_of_the_cameras_connector(tmp_path: Path) -> None:
    asked: list[tuple[str, datetime, datetime]] = []

    class ConnectorClips:
        async def fetch_clip(self, camera_id: str, start: datetime, end: datetime) -> ClipResult:
            asked.append((camera_id, start, end))
            return ClipResult(tmp_path / "from-the-vms.mp4", "0" * 64, "h264", 320, 240, 1, start, end)

    recorders = PrerollRecorders([RecordedCamera("cam-1", "rtsp://127.0.0.1:9/x")], tmp_path, FAST)
    clips = BufferClipSource(
        recorders.stores, tmp_path, wait_seconds=0.1, fallbacks={"cam-1": ConnectorClips()}
    )
    old = datetime.now(UTC) - timedelta(hours=2)

    clip = await clips.fetch_clip("cam-1", old, old + timedelta(seconds=90))
    assert clip.file == tmp_path / "from-the-vms.mp4"
    assert asked == [("cam-1", old, old + timedelta(seconds=90))]


async def test_two_clips_of_one_window_at_once_keep_their_own_files(tmp_path: Path, h264_media: Path) -> None:
    """Two rules clip the same camera and window together: each gets a file of its own, and the
    first one's clean-up (the rule removes its folder once attached) leaves the second's intact."""
    store = SegmentStore(tmp_path / "data" / "cam-1")
    await asyncio.to_thread(_cut_into_segments, h264_media, store, 4, set())
    clips = BufferClipSource({"cam-1": store}, tmp_path / "work", wait_seconds=0.1)

    first, second = await asyncio.gather(
        clips.fetch_clip("cam-1", _at(2.5), _at(5.0)), clips.fetch_clip("cam-1", _at(2.5), _at(5.0))
    )

    assert first.file != second.file
    assert first.file.parent != second.file.parent
    assert first.file.parent.parent == tmp_path / "work"
    shutil.rmtree(first.file.parent)
    assert second.file.is_file()
    assert second.file.stat().st_size > 0
