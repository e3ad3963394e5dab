"""Our RTSP client against an independent peer: GStreamer's gst-rtsp-server (gst_rtsp_peer.py here).

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

import pytest

from recording.replay import ReplayRequest, replay_clip, stream_clip
from recording.rtsp import RtspAuthError
from tests.recording.conftest import CLIP, FPS, GOP_SECONDS, file_packets, leftovers, source_packets

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).with_name("gst_rtsp_peer.py")
USER, PASSWORD = "investigator", "secret"
CLIP_SECONDS = 36.0


def _without_parameter_sets(packet: bytes) -> bytes:
    """A length-prefixed H.264 sample without its SPS (7) and PPS (8) NAL units."""
    kept, position = b"", 0
    while position + 4 <= len(packet):
        size = int.from_bytes(packet[position : position + 4], "big")
        unit = packet[position : position + 4 + size]
        if packet[position + 4] & 0x1F not in (7, 8):
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


@pytest.fixture
async def peer(gstreamer: str) -> AsyncIterator[Peer]:
    recorded_from = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    process = await asyncio.create_subprocess_exec(
        gstreamer,
        str(SCRIPT),
        "--clip",
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
    assert written == source_packets()[: len(written)], "remuxed packets differ from the clip's"
    assert result.frames == len(written) == pytest.approx(2.0 * FPS, abs=2)
    assert (result.codec, result.width, result.height) == ("h264", 480, 270)


async def test_wrong_password_is_refused_by_gstreamer(peer: Peer, tmp_path: Path) -> None:
    with pytest.raises(RtspAuthError, match="refused the credentials of user 'investigator'"):
        await stream_clip(peer.url("live", password="wrong"), 1.0, tmp_path / "x.mp4")
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
