"""Threaded PyAV decode that hands out the luma (Y) plane straight from the decoder.

No BGR conversion is ever made: for planar YUV, NV12/NV21 and gray pixel formats the Y plane is plane 0
and :attr:`Frame.luma` is a zero-copy ``numpy`` view of it (cropped to the visible width when the
decoder pads rows). Other pixel formats (rare for camera footage: RGB codecs, palettes) are converted
to ``gray`` by libswscale, which is still cheaper than a BGR round trip.

A truncated or corrupt clip yields every frame that decodes and then stops; the error is recorded on
:class:`FrameReader` (``error``) instead of being raised. Only a file from which nothing at all can be
opened (missing, not a video, no decoder for the codec) raises :class:`DecodeError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np

__all__ = ["ClipInfo", "DecodeError", "Frame", "FrameReader", "frames", "probe"]

_Y_PLANE_PREFIXES = ("yuv", "yuvj", "nv12", "nv21", "nv16", "nv24", "gray")
# FFmpeg renders text files as "video" (ANSI art, the tty demuxer): not camera footage
_TEXT_FORMATS = frozenset({"tty", "bin", "xbin", "adf", "idf"})
_TEXT_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})


class DecodeError(Exception):
    """The file cannot be decoded at all (missing, not a video, unsupported codec)."""

    def __init__(self, path: Path | str, message: str) -> None:
        self.path = Path(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")


@dataclass(frozen=True)
class ClipInfo:
    path: Path
    width: int
    height: int
    fps: float
    frame_count_hint: int | None
    duration_s: float | None
    codec: str


@dataclass(frozen=True)
class Frame:
    index: int
    pts: int | None
    time_s: float
    luma: np.ndarray  # uint8 HxW, full resolution, a READ-ONLY view on the decoder's buffer (copy to draw)


def _open(path: Path) -> Any:
    """Open a container that has a decodable video stream, or raise :class:`DecodeError`."""
    if not path.exists():
        raise DecodeError(path, "no such file")
    if not path.is_file():
        raise DecodeError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise DecodeError(path, "empty file (0 bytes), not a video")
    try:
        container = av.open(str(path), mode="r")
    except av.error.InvalidDataError as exc:
        raise DecodeError(path, f"not a video file (FFmpeg cannot read the container: {exc})") from exc
    except (av.error.FFmpegError, OSError) as exc:
        raise DecodeError(path, f"cannot open as a video: {exc}") from exc
    if not container.streams.video:
        kinds: list[str] = sorted({str(s.type) for s in container.streams}) or ["none"]
        container.close()
        raise DecodeError(path, f"not a video: no video stream (streams: {', '.join(kinds)})")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if container.format.name in _TEXT_FORMATS or (ctx is not None and ctx.name in _TEXT_CODECS):
        container.close()
        raise DecodeError(path, "not a video file (a text file, which FFmpeg would only render as ANSI art)")
    if ctx is None or not getattr(ctx, "name", None):
        container.close()
        raise DecodeError(path, "unsupported codec (no decoder in this FFmpeg build)")
    if not ctx.width or not ctx.height:
        container.close()
        raise DecodeError(path, f"video stream ({ctx.name}) has no frame size: unsupported or corrupt")
    return container


def _info(path: Path, container: Any) -> ClipInfo:
    stream = container.streams.video[0]
    ctx = stream.codec_context
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    if not fps or fps <= 0 or fps > 1000:
        fps = 25.0  # container carries no usable rate: the conventional default, timestamps still rule
    duration_s: float | None = None
    if stream.duration is not None and stream.time_base is not None:
        duration_s = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration_s = container.duration / 1_000_000
    count: int | None = stream.frames or None  # exact when the container indexes frames (MP4, MOV)
    if count is None and duration_s:
        count = round(duration_s * fps)
    return ClipInfo(
        path=path,
        width=int(ctx.width),
        height=int(ctx.height),
        fps=fps,
        frame_count_hint=count,
        duration_s=duration_s,
        codec=str(ctx.name),
    )


def probe(path: Path) -> ClipInfo:
    """Read the clip's header: size, rate, codec, frame-count hint. Raises :class:`DecodeError`."""
    path = Path(path)
    container = _open(path)
    try:
        return _info(path, container)
    finally:
        container.close()


def luma_of(frame: Any) -> np.ndarray:
    """The Y plane of an ``av.VideoFrame`` as a uint8 HxW array (zero-copy for YUV/NV/gray formats)."""
    fmt = frame.format.name
    if not fmt.startswith(_Y_PLANE_PREFIXES) or "p16" in fmt or "p10" in fmt or "p12" in fmt:
        frame = frame.reformat(format="gray")
    plane = frame.planes[0]
    h, w, stride = frame.height, frame.width, plane.line_size
    buf = np.frombuffer(plane, dtype=np.uint8)
    if buf.size < stride * h:  # defensive: some hwaccel/odd formats report a short buffer
        return np.asarray(frame.reformat(format="gray").to_ndarray(), dtype=np.uint8)
    luma = buf[: stride * h].reshape(h, stride)[:, :w]
    # the decoder may still use this picture as a reference: never let anyone draw on it
    luma.flags.writeable = False
    return luma


class FrameReader:
    """Iterate the frames of one clip; records (instead of raising) a mid-stream decode error.

    Use as a context manager (``with FrameReader(p) as r: for f in r: ...``) or just iterate; the
    container is closed when iteration ends. ``frames_decoded`` and ``error`` describe the outcome.
    """

    def __init__(self, path: Path, *, threads: int = 0) -> None:
        self.path = Path(path)
        self._container: Any = _open(self.path)
        self.info: ClipInfo = _info(self.path, self._container)
        stream = self._container.streams.video[0]
        self._indexed_frames: int = int(stream.frames or 0)
        stream.thread_type = "AUTO"  # frame + slice threading
        stream.codec_context.thread_count = threads if threads > 0 else min(os.cpu_count() or 1, 16)
        self._stream = stream
        self.frames_decoded = 0
        self.error: str | None = None
        self._started = False

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def __iter__(self) -> Iterator[Frame]:
        for frame, _ in self.av_frames():
            yield frame

    def av_frames(self) -> Iterator[tuple[Frame, Any]]:
        """Yield ``(Frame, av.VideoFrame)`` pairs; the av frame is there for re-encoding."""
        if self._started:
            raise RuntimeError(f"{self.path}: a FrameReader can be iterated only once")
        self._started = True
        container = self._container
        if container is None:
            return
        stream = self._stream
        time_base: Fraction | None = stream.time_base
        fps = self.info.fps
        first_pts: int | None = None
        try:
            for av_frame in container.decode(stream):
                pts = av_frame.pts
                if pts is not None and first_pts is None:
                    first_pts = pts
                if pts is not None and time_base is not None and first_pts is not None:
                    time_s = float((pts - first_pts) * time_base)
                else:
                    time_s = self.frames_decoded / fps
                frame = Frame(index=self.frames_decoded, pts=pts, time_s=time_s, luma=luma_of(av_frame))
                self.frames_decoded += 1
                yield frame, av_frame
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            self.error = f"decoding stopped after {self.frames_decoded} frame(s): {exc}"
        finally:
            self.close()
        if self.error is None and self.frames_decoded == 0:
            self.error = "no frame could be decoded"
        elif (
            self.error is None
            and self._indexed_frames > 0
            and self.frames_decoded < 0.9 * self._indexed_frames - 1
        ):
            # FFmpeg may stop quietly at a truncated file's end: the container's index promised more.
            self.error = (
                f"clip ended early: {self.frames_decoded} frame(s) decoded, "
                f"the container indexes {self._indexed_frames} (truncated or corrupt file)"
            )


def frames(path: Path, *, threads: int = 0) -> Iterator[Frame]:
    """Yield the decoded frames of ``path``; stops quietly at a truncation (use :class:`FrameReader`
    to see the error). Raises :class:`DecodeError` only if the file cannot be opened as a video."""
    return iter(FrameReader(path, threads=threads))
