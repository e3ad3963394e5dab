"""Writing a clip: packets remuxed (never decoded) into an MP4 with its index up front (faststart).

The file is written as ``<out>.part`` and renamed only when complete, so a failed or interrupted clip never
leaves a half-written file under the asked-for name.
"""

from __future__ import annotations

__all__ = ["Mp4ClipWriter", "sha256_of"]

import contextlib
import hashlib
from collections.abc import Sequence
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from recording.result import ClipResult, Gap


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Mp4ClipWriter:
    """One clip being written; :meth:`finish` publishes it and says what it holds."""

    def __init__(self, out: Path, template: Any) -> None:
        self.out = out
        self.part = out.with_name(out.name + ".part")
        self.codec = str(template.codec_context.name)
        self.width = int(template.codec_context.width)
        self.height = int(template.codec_context.height)
        self.frames = 0
        self._last_dts: int | None = None
        self._container = av.open(str(self.part), "w", format="mp4", options={"movflags": "+faststart"})
        try:
            self._stream = self._container.add_stream_from_template(template)
            # The source's clock (90 kHz for RTP) rather than one the muxer picks: timestamps stay exact.
            self._stream.time_base = template.time_base
        except BaseException:
            self.abandon()
            raise

    def write(self, packet: Any, pts: int | None, dts: int | None, time_base: Fraction) -> None:
        """Write ``packet`` at the given timestamps (in ``time_base``); decode order must not go back."""
        if dts is not None and self._last_dts is not None and dts <= self._last_dts:
            shift = self._last_dts + 1 - dts
            dts += shift
            pts = None if pts is None else pts + shift
        packet.pts, packet.dts, packet.time_base = pts, dts, time_base
        packet.stream = self._stream
        self._container.mux(packet)
        self._last_dts = dts if dts is not None else self._last_dts
        self.frames += 1

    def finish(self, start: datetime, end: datetime, gaps: Sequence[Gap] = ()) -> ClipResult:
        self._container.close()
        self.part.replace(self.out)
        return ClipResult(
            file=self.out,
            sha256=sha256_of(self.out),
            codec=self.codec,
            width=self.width,
            height=self.height,
            frames=self.frames,
            start=start,
            end=end,
            gaps=tuple(gaps),
        )

    def abandon(self) -> None:
        # The failure that brought us here already said why; closing may fail the same way.
        with contextlib.suppress(OSError, av.error.FFmpegError, ValueError):
            self._container.close()
        self.part.unlink(missing_ok=True)
