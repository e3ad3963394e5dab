"""Test media made once with PyAV, and GStreamer's RTSP server (tests/rtsp_server.py) run as a process.

Shared by the recorder tests and bench/recorder.py. The media is encoded here (never committed): a moving
pattern with a keyframe every ``gop`` frames and no B-frames, the way cameras send it.
"""

from __future__ import annotations

import hashlib
import os
import selectors
import subprocess
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SERVER_SCRIPT = ROOT / "tests" / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"
USER, PASSWORD = "investigator", "secret"


def make_video(
    path: Path,
    *,
    seconds: float,
    width: int,
    height: int,
    fps: int = 25,
    gop: int = 25,
    bitrate: int = 600_000,
    codec: str = "libx264",
    noise: int = 0,
) -> Path:
    """Encode a test clip (a moving gradient and block) unless ``path`` already exists.

    ``noise`` (0-255) adds sensor-like noise so that the bitrate asked for is really used.
    """
    if path.exists():
        return path
    part = path.with_name(f"{path.name}.{os.getpid()}.part")  # test runs may encode the same file at once
    with av.open(str(part), "w", format="mp4") as out:
        stream: Any = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = bitrate
        stream.codec_context.gop_size = gop
        stream.codec_context.max_b_frames = 0
        if codec == "libx264":
            # One slice per picture, as cameras send it (sliced threads would split every frame).
            stream.codec_context.options = {
                "preset": "ultrafast",
                "x264-params": f"keyint={gop}:min-keyint={gop}:bframes=0:scenecut=0"
                ":sliced-threads=0:slices=1",
            }
        else:
            stream.codec_context.options = {
                "preset": "ultrafast",
                "x265-params": f"keyint={gop}:min-keyint={gop}:bframes=0:scenecut=0:log-level=error",
            }
        ys, xs = np.mgrid[0:height, 0:width]
        gradient = (xs + ys).astype(np.uint8)
        grains = [
            np.random.default_rng(seed).integers(0, noise + 1, (height, width), np.uint8) for seed in range(7)
        ]
        chroma = np.full((height // 2, width), 128, np.uint8)  # U and V planes, stacked as yuv420p wants
        for index in range(int(seconds * fps)):
            luma = gradient + np.uint8(index * 4 % 256)
            x = (index * 7) % max(1, width - 64)
            luma[height // 3 : height // 3 + 64, x : x + 64] = 255 - (index % 200)
            if noise:
                luma += grains[index % len(grains)]
            chroma[:, : width // 2] = 128 + (index % 32)
            frame = av.VideoFrame.from_ndarray(np.vstack([luma, chroma]), format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    part.replace(path)
    return path


def _nal_units(data: bytes) -> list[bytes]:
    """Split Annex B (start codes) or length-prefixed (MP4) H.264/H.265 access units into NAL units."""
    if data.startswith(b"\x00\x00\x01") or data.startswith(b"\x00\x00\x00\x01"):
        units = [u for u in data.replace(b"\x00\x00\x00\x01", b"\x00\x00\x01").split(b"\x00\x00\x01") if u]
        return [u.rstrip(b"\x00") for u in units]
    units, at = [], 0
    while at + 4 <= len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        units.append(data[at + 4 : at + 4 + size])
        at += 4 + size
    return units


def slice_hashes(path: Path) -> list[str]:
    """SHA-256 of every coded-picture NAL unit (no parameter sets, delimiters or SEI), in file order."""
    hashes = []
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        hevc = video.codec_context.name == "hevc"
        for packet in container.demux(video):
            for unit in _nal_units(bytes(packet)):
                kind = (unit[0] >> 1) & 0x3F if hevc else unit[0] & 0x1F
                is_picture = kind < 32 if hevc else kind in (1, 5)
                if is_picture:
                    hashes.append(hashlib.sha256(unit).hexdigest())
    return hashes


@dataclass
class GstRtspPeer:
    """tests/rtsp_server.py as a child process on a loopback port; stop and start it again at will."""

    h264: Path
    hevc: Path | None = None
    port: int = 0
    process: subprocess.Popen[str] | None = field(default=None, repr=False)

    def url(self, mount: str = "live", *, user: str | None = None, password: str | None = None) -> str:
        auth = f"{user}:{password}@" if user is not None else ""
        return f"rtsp://{auth}127.0.0.1:{self.port}/{mount}"

    def start(self, timeout: float = 60.0) -> None:
        command = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--port", str(self.port), "--h264", str(self.h264)]
        command += ["--user", USER, "--password", PASSWORD]
        if self.hevc is not None:
            command += ["--hevc", str(self.hevc)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if selector.select(timeout=max(0.0, deadline - time.monotonic())):
                    line = self.process.stdout.readline()
                    if line.startswith("READY "):
                        self.port = int(line.split()[1])
                        return
                    if not line:
                        break
        self.stop()
        raise RuntimeError(f"the GStreamer RTSP server did not say READY within {timeout} s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None
