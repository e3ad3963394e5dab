"""What a video file someone else wrote holds (a VMS export): the same facts a clip the bridge writes carries.

Packets are counted, never decoded. The file's real times are what its maker says (its name, the asked-for
window): a file carries no wall-clock times of its own that every maker fills in.
"""

from __future__ import annotations

__all__ = ["ProbeFailed", "describe_file"]

from datetime import datetime
from pathlib import Path

import av
import av.error

from recording.mp4 import sha256_of
from recording.result import ClipResult


class ProbeFailed(ValueError):
    """The file is not a video PyAV can read (or holds no video stream)."""


def describe_file(
    path: Path, start: datetime, end: datetime, *, transcoded_by: str | None = None
) -> ClipResult:
    """The file's digest and stream facts, placed at [start, end]. Blocks (run it in a thread).

    ``transcoded_by``: who re-encoded the picture on its way to us (``"vms"``), or None when it is the
    camera's own encoding.
    """
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ProbeFailed(f"{path.name}: no video stream")
            stream = container.streams.video[0]
            codec = str(stream.codec_context.name)
            width, height = int(stream.codec_context.width), int(stream.codec_context.height)
            frames = sum(1 for packet in container.demux(stream) if packet.size)
    except av.error.FFmpegError as exc:
        raise ProbeFailed(f"{path.name}: not a readable video ({exc})") from None
    return ClipResult(
        file=path,
        sha256=sha256_of(path),
        codec=codec,
        width=width,
        height=height,
        frames=frames,
        start=start,
        end=end,
        reencoded=transcoded_by is not None,
        transcoded_by=transcoded_by,
    )
