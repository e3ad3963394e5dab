"""Fixtures for the recording library's RTSP tests: an emulated ONVIF camera streaming the fixture clip."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import av
import pytest

from connectors.onvif.emulator import DeviceSpec, EmulatedDevice, OnvifEmulator

CLIP = Path(__file__).parents[2] / "fixtures" / "video" / "scene.mp4"
GOP_SECONDS = 4.0  # the fixture's keyframe interval
FPS = 15


@pytest.fixture
async def camera() -> AsyncIterator[EmulatedDevice]:
    async with OnvifEmulator([DeviceSpec(id="cam", clip=CLIP)], username="admin", password="s3cret") as emu:
        yield emu.device("cam")


def source_packets() -> list[bytes]:
    """The fixture's video packets (length-prefixed NAL units, as MP4 stores them), in decode order."""
    with av.open(str(CLIP)) as container:
        return [bytes(p) for p in container.demux(container.streams.video[0]) if p.size]


def file_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.video[0]) if p.size]


def leftovers(folder: Path) -> list[str]:
    """What a failed fetch left in ``folder`` (nothing, when it cleans up after itself)."""
    return sorted(p.name for p in folder.iterdir())
