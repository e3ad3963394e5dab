"""Our RTSP client against an independent peer: GStreamer's gst-rtsp-server (tests/rtsp_server.py).

Live: the packets remuxed into the MP4 are the clip's packets, Digest authentication works and a wrong
password is refused. Replay: GStreamer's RTSPOnvifServer accepts ``Require: onvif-replay``, seeks to
``Range: clock=`` (from the keyframe before it), and its ``rtponviftimestamp`` stamps every frame with the
0xABAC NTP time and the last packet with the T bit, which our client uses to place the frames and end.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from recording.replay import ReplayRequest, replay_clip, stream_clip
from recording.rtsp import RtspAuthError
from tests.recording.replay_support import CLIP, FPS, GOP_SECONDS, file_packets, leftovers, source_packets

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).parents[1] / "rtsp_server.py"
USER, PASSWORD = "investigator", "secret"
CLIP_SECONDS = 36.0


def _without_parameter_sets(packet: bytes, *, hevc: bool = False) -> bytes:
    """A length-prefixed sample without its parameter sets (H.264 SPS/PPS; H.265 VPS/SPS/PPS)."""
    kept, position = b"", 0
    while position + 4 <= len(packet):
        size = int.from_bytes(packet[position : position + 4], "big")
        unit = packet[position : position + 4 + size]
        header = packet[position + 4]
        kind = (header >> 1) & 0x3F if hevc else header & 0x1F
        if kind not in ((32, 33, 34) if hevc else (7, 8)):
            kept += unit
        position += 4 + size
    return kept


@dataclass(frozen=True)
class Peer:
    port: int
    recorded_from: datetime

    def url(self, mount: str, password: str = PASSWORD) -> str:
        return f"rtsp://{USER}:{password}@127.0.0.1:{self.port}/{mount}"


def _gstreamer_missing() -> str | None:
    probe = (
        "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer; "
        "from gi.repository import Gst; Gst.init(None); "
        "assert Gst.ElementFactory.find('rtponviftimestamp'), 'rtponviftimestamp (gstreamer1.0-plugins-bad)'"
    )
    try:
        done = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if done.returncode == 0 else done.stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def gstreamer() -> str:
    missing = _gstreamer_missing()
    if missing:
        pytest.skip(
            "GStreamer's RTSP server is not installed for /usr/bin/python3 (apt-get install "
            f"gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad): {missing}"
        )
    return SYSTEM_PYTHON


def _encode_hevc(path: Path) -> None:
    """Two seconds of H.265 (a keyframe a second, no B-frames), made once per test session."""
    with av.open(str(path), "w", format="mp4") as out:
        stream: Any = out.add_stream("libx265", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.options = {
            "x265-params": f"keyint={FPS}:min-keyint={FPS}:bframes=0:scenecut=0:log-level=error"
        }
        for index in range(2 * FPS):
            picture = np.full((240, 320, 3), (index * 8) % 256, dtype=np.uint8)
            picture[100:140, index * 8 % 280 : index * 8 % 280 + 40] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


@pytest.fixture(scope="module")
def hevc_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hevc") / "clip.mp4"
    _encode_hevc(path)
    return path


@pytest.fixture
async def peer(gstreamer: str, hevc_clip: Path) -> AsyncIterator[Peer]:
    recorded_from = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    process = await asyncio.create_subprocess_exec(
        gstreamer,
        str(SCRIPT),
        "--hevc",
        str(hevc_clip),
        "--h264",
        str(CLIP.resolve()),
        "--recorded-from",
        recorded_from.isoformat(),
        "--user",
        USER,
        "--password",
        PASSWORD,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        assert line.startswith(b"READY "), f"GStreamer peer did not start: {line!r}"
        yield Peer(int(line.split()[1]), recorded_from)
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 60)


async def test_live_from_gstreamer_keeps_the_source_packets(peer: Peer, tmp_path: Path) -> None:
    out = tmp_path / "live.mp4"
    result = await stream_clip(peer.url("live"), 2.0, out)

    written = file_packets(out)
    # The server repeats the parameter sets with every keyframe (as cameras do); the pictures are the clip's.
    source = source_packets()[: len(written)]
    assert [_without_parameter_sets(p) for p in written] == [_without_parameter_sets(p) for p in source], (
        "remuxed packets differ from the clip's"
    )
    assert result.frames == len(written) == pytest.approx(2.0 * FPS, abs=2)
    assert (result.codec, result.width, result.height) == ("h264", 480, 270)


async def test_hevc_live_from_gstreamer_stays_hevc(peer: Peer, hevc_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "hevc.mp4"
    result = await stream_clip(peer.url("hevc"), 1.0, out)

    assert (result.codec, result.width, result.height) == ("hevc", 320, 240)
    written = [_without_parameter_sets(p, hevc=True) for p in file_packets(out)]
    source = [_without_parameter_sets(p, hevc=True) for p in file_packets(hevc_clip)]
    assert written == source[: len(written)], "remuxed H.265 packets differ from the file's"
    assert len(written) == pytest.approx(FPS, abs=2)


async def test_wrong_password_is_refused_by_gstreamer(peer: Peer, tmp_path: Path) -> None:
    with pytest.raises(RtspAuthError, match="refused the credentials of user 'investigator'"):
        await stream_clip(peer.url("secure", password="wrong"), 1.0, tmp_path / "x.mp4")
    assert leftovers(tmp_path) == []


async def test_gstreamer_onvif_replay_honours_the_clock_range(peer: Peer, tmp_path: Path) -> None:
    start = peer.recorded_from + timedelta(seconds=10)
    end = start + timedelta(seconds=10)
    out = tmp_path / "replay.mp4"

    result = await replay_clip(ReplayRequest(peer.url("replay"), start, end), out)

    # From the clip's keyframe at or before +10 s (its keyframes: every 4 s, then 15, 18, ...), placed by
    # the 0xABAC time: 12:00:08.000 exactly, and on to the window's end.
    assert start - timedelta(seconds=GOP_SECONDS) <= result.start <= start
    assert abs(result.start - (peer.recorded_from + timedelta(seconds=8))) < timedelta(milliseconds=1)
    assert abs(result.end - end) <= timedelta(seconds=1 / FPS)
    # After its seek GStreamer's h264parse repeats SPS and PPS in the keyframe; apart from those, the
    # packets are the clip's.
    written = [_without_parameter_sets(p) for p in file_packets(out)]
    source = [_without_parameter_sets(p) for p in source_packets()]
    first = round(8 * FPS)
    assert written == source[first : first + len(written)], "remuxed packets differ from the clip's"
    assert result.gaps == ()


async def test_gstreamer_replay_ends_at_the_recordings_end_with_a_gap(peer: Peer, tmp_path: Path) -> None:
    # The recording (the clip once) ends at +36 s; the T bit of its last packet ends the replay.
    start = peer.recorded_from + timedelta(seconds=30)
    end = peer.recorded_from + timedelta(seconds=60)

    result = await replay_clip(ReplayRequest(peer.url("replay"), start, end), tmp_path / "tail.mp4")

    recording_end = peer.recorded_from + timedelta(seconds=CLIP_SECONDS)
    assert abs(result.end - recording_end) <= timedelta(seconds=1 / FPS)
    [gap] = result.gaps
    assert gap.end == end
    assert abs(gap.start - recording_end) <= timedelta(seconds=1 / FPS)
