"""Shared by the replay tests: an emulated ONVIF camera streaming the fixture clip, and packet helpers.

A module rather than a conftest, so other tests in this folder keep their own fixtures and constants.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import av

from connectors.onvif.emulator import DeviceSpec, EmulatedDevice, OnvifEmulator

CLIP = Path(__file__).parents[2] / "fixtures" / "video" / "scene.mp4"
GOP_SECONDS = 4.0  # the fixture's keyframe interval
FPS = 15


@asynccontextmanager
async def emulated_camera() -> AsyncIterator[EmulatedDevice]:
    """One emulated camera (user admin, password s3cret) with the fixture clip, live and recorded."""
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
