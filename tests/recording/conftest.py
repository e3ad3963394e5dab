"""Fixtures for the recorder tests: test media made once, and GStreamer's RTSP server on a loopback port."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.recording.rtsp_peer import SERVER_SCRIPT, SYSTEM_PYTHON, GstRtspPeer, make_video

# Encoded once per machine and kept between runs (a few seconds of CPU each); never committed.
MEDIA_CACHE = Path(tempfile.gettempdir()) / "vmsbridge-test-media"
FPS, GOP = 25, 25  # one keyframe a second


def _gstreamer_missing() -> str | None:
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return f"{SYSTEM_PYTHON} is missing"
    for typelib in ("GstRtspServer-1.0.typelib", "GstRtsp-1.0.typelib"):
        if not any(Path(d).glob(f"*/girepository-1.0/{typelib}") for d in ("/usr/lib", "/usr/lib64")):
            return f"{typelib} is missing"
    return None


@pytest.fixture(scope="session")
def h264_media() -> Path:
    MEDIA_CACHE.mkdir(exist_ok=True)
    return make_video(MEDIA_CACHE / "h264-320x240-25fps-gop25-150s.mp4", seconds=150, width=320, height=240)


@pytest.fixture(scope="session")
def hevc_media() -> Path:
    MEDIA_CACHE.mkdir(exist_ok=True)
    return make_video(
        MEDIA_CACHE / "hevc-320x240-25fps-gop25-30s.mp4", seconds=30, width=320, height=240, codec="libx265"
    )


@pytest.fixture
def rtsp_peer(h264_media: Path, hevc_media: Path) -> Iterator[GstRtspPeer]:
    """GStreamer's gst-rtsp-server (tests/rtsp_server.py) on a free loopback port, READY before the test."""
    missing = _gstreamer_missing()
    if missing:
        pytest.fail(
            f"GStreamer's RTSP server is needed by the recorder tests and {missing}: run `make rtsp-peer` "
            f"(as root; installs the Debian packages) and see {SERVER_SCRIPT.name}",
            pytrace=False,
        )
    peer = GstRtspPeer(h264=h264_media, hevc=hevc_media)
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()
