"""Redact one clip into a browser-playable H.264 MP4: static masks, people, optionally faces.

The pipeline, per frame: decode (threaded PyAV, :class:`analytics.decode.FrameReader`); motion on the
luma plane at work resolution (:class:`privacy.people.PeopleTracker`); faces on a BGR copy only when a
model is given; the frame waits in a short look-ahead buffer so that motion seen up to
``lookahead_seconds`` later masks it too (this also covers the motion detector's warm-up at the
start of a clip); then its yuv420p planes are anonymized, static masks are
filled solid, and it is encoded with libx264 carrying the source frame's pts and time base.

The source is only ever opened for reading. The output is written to a hidden temporary file next to
it and renamed into place at the end, so a crash never leaves a partial file under the final name. A
truncated source yields a shorter output and :attr:`RedactReport.error`; a file that is not a video
raises :class:`analytics.decode.DecodeError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av

from analytics.decode import DecodeError, Frame, FrameReader
from analytics.geometry import Polygon, polygon_mask
from analytics.motion import MotionConfig
from evidence.atomic import atomic_output
from privacy.faces import FaceMasker
from privacy.people import (
    PEOPLE_MOTION,
    SOLID_STATIC,
    AnonymizeMode,
    Box,
    PeopleTracker,
    PlaneMask,
    YuvFrame,
    anonymize,
    anonymize_region,
    fill_mask,
)

__all__ = ["DERIVATIVE_TAG", "PeopleMode", "RedactOptions", "RedactReport", "redact_clip", "sha256_file"]

PeopleMode = Literal["pixelate", "blur", "solid", "off"]
_MODES = ("pixelate", "blur", "solid", "off")
_CHUNK = 1 << 20
#: Prefix of the MP4 ``comment`` tag of a redacted file; the source's SHA-256 (hex) follows.
DERIVATIVE_TAG = "vmsbridge redacted derivative of sha256:"


@dataclass(frozen=True)
class RedactOptions:
    """What to redact and how to encode. Faces (when a model is given) get the people mode, or
    ``pixelate`` when people anonymization is off. ``masks`` are the polygons to apply, e.g.
    ``polygons_of(mask_set.effective_between(start, end))``: lifts are resolved by the caller."""

    masks: Sequence[Polygon] = ()  # static masks to fill solid in every frame (source pixels)
    people: PeopleMode = "pixelate"
    faces_model: Path | None = None  # YuNet .onnx; None: no face detection
    margin: float = 0.15  # around people and faces, as a fraction of the box size
    hold_seconds: float = 2.0  # a region stays masked this long after motion stops there
    crf: int = 23
    preset: str = "veryfast"
    lookahead_seconds: float = 0.5  # a region is masked this long before motion starts there
    motion: MotionConfig = PEOPLE_MOTION

    def __post_init__(self) -> None:
        if self.people not in _MODES:
            raise ValueError(f"people must be one of {', '.join(_MODES)}; got {self.people!r}")
        if not 0.0 <= self.margin <= 2.0:
            raise ValueError(f"margin must be in [0, 2] (a fraction of the box size), got {self.margin}")
        if not 0.0 <= self.hold_seconds <= 600.0:
            raise ValueError(f"hold_seconds must be in [0, 600], got {self.hold_seconds}")
        if not 0.0 <= self.lookahead_seconds <= 10.0:
            raise ValueError(f"lookahead_seconds must be in [0, 10], got {self.lookahead_seconds}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be in 0..51, got {self.crf}")
        if not self.preset or not self.preset.isalnum():
            raise ValueError(f"preset must be an x264 preset name such as 'veryfast', got {self.preset!r}")
        for i, poly in enumerate(self.masks):
            if len(poly) < 3:
                raise ValueError(f"mask {i + 1}: a polygon needs at least 3 points, got {len(poly)}")

    def to_json(self) -> dict[str, Any]:
        return {
            "masks": [[list(p) for p in poly] for poly in self.masks],
            "people": self.people,
            "faces_model": str(self.faces_model) if self.faces_model is not None else None,
            "margin": self.margin,
            "hold_seconds": self.hold_seconds,
            "lookahead_seconds": self.lookahead_seconds,
            "crf": self.crf,
            "preset": self.preset,
            "motion": asdict(self.motion),
        }


@dataclass
class RedactReport:
    source: str
    source_sha256: str
    output: str
    frames_read: int
    frames_written: int
    width: int
    height: int
    fps: float
    options: dict[str, Any]
    error: str | None
    stage_fps: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks (read-only)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class _Stages:
    """Seconds spent per stage, for frames-per-second figures."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def time(self, stage: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - t0

    def fps(self, frames: int) -> dict[str, float]:
        return {k: round(frames / s, 1) if s > 0 else 0.0 for k, s in self.seconds.items()}


@dataclass
class _Pending:
    frame: Frame
    av_frame: Any
    faces: list[Box]


class _Encoder:
    """libx264 into MP4 (yuv420p, +faststart), opened at the first frame to learn its time base."""

    def __init__(
        self, path: Path, width: int, height: int, fps: float, options: RedactOptions, comment: str = ""
    ) -> None:
        self.path = path
        self.comment = comment
        self.width, self.height = width, height
        self.fps = fps
        self.options = options
        self._container: Any = None
        self._stream: Any = None
        self._time_base: Fraction = Fraction(1, 90000)
        self._last_pts: int | None = None
        self.frames = 0

    def _open(self, time_base: Fraction | None) -> None:
        self._time_base = time_base or Fraction(1, 90000)
        container = av.open(str(self.path), mode="w", format="mp4", options={"movflags": "+faststart"})
        try:
            if self.comment:
                container.metadata["comment"] = self.comment
            rate = Fraction(self.fps).limit_denominator(1001)
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height = self.width, self.height
            stream.pix_fmt = "yuv420p"
            stream.time_base = self._time_base
            stream.codec_context.time_base = self._time_base
            stream.options = {"crf": str(self.options.crf), "preset": self.options.preset}
        except BaseException:
            container.close()
            raise
        self._container, self._stream = container, stream

    def write(self, yuv: YuvFrame, pts: int | None, time_base: Fraction | None) -> None:
        if self._container is None:
            self._open(time_base)
        frame = yuv.to_av()
        if pts is None or (time_base is not None and time_base != self._time_base):
            # no pts, or a time base that changed mid-stream: derive one from the frame rate
            step = max(1, round(1 / (self.fps * self._time_base)))
            pts = 0 if self._last_pts is None else self._last_pts + step
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1  # the encoder needs strictly increasing pts
        frame.pts = pts
        frame.time_base = self._time_base
        self._last_pts = pts
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Flush and finish the file (moov at the front)."""
        if self._container is None:
            return
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None

    def abort(self) -> None:
        if self._container is not None:
            with contextlib.suppress(av.error.FFmpegError, OSError):
                self._container.close()
            self._container = None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def redact_clip(
    source: Path,
    output: Path,
    options: RedactOptions = RedactOptions(),
    *,
    progress: Callable[[int, int | None], None] | None = None,
) -> RedactReport:
    """Write a redacted copy of ``source`` to ``output`` (H.264 MP4) and describe what was done.

    ``progress(frames_written, frame_count_hint)`` is called after each frame written. Raises
    :class:`DecodeError` if ``source`` is not a video or no frame of it decodes, ``ValueError`` for
    an output that is the source or a frame size yuv420p cannot hold (odd width or height).
    """
    source, output = Path(source), Path(output)
    if _same_file(source, output):
        raise ValueError(f"{output}: the output would overwrite the source; originals are never modified")
    reader = FrameReader(source)  # raises DecodeError for a missing file or a non-video
    try:
        return _redact(reader, source, output, options, progress)
    finally:
        reader.close()


def _redact(
    reader: FrameReader,
    source: Path,
    output: Path,
    options: RedactOptions,
    progress: Callable[[int, int | None], None] | None,
) -> RedactReport:
    info = reader.info
    width, height = info.width, info.height
    if width % 2 or height % 2:
        raise ValueError(f"{source}: {width}x{height} has an odd side; H.264 yuv420p needs an even size")
    digest = sha256_file(source)

    static = PlaneMask.from_raster(polygon_mask(options.masks, width, height)) if options.masks else None
    tracker = (
        PeopleTracker(
            width,
            height,
            margin=options.margin,
            hold_seconds=options.hold_seconds,
            motion=options.motion,
            lookahead_frames=math.ceil(options.lookahead_seconds * info.fps),
        )
        if options.people != "off"
        else None
    )
    faces = (
        FaceMasker(options.faces_model, margin=max(options.margin, 0.25))
        if options.faces_model is not None
        else None
    )
    people_mode = _anonymize_mode(options.people)
    face_mode: AnonymizeMode = people_mode or "pixelate"
    face_hold = faces.hold_frames if faces is not None else 0

    stages = _Stages()
    pending: deque[_Pending] = deque()
    frames_read = 0
    stopped: str | None = None
    hint = info.frame_count_hint
    started = time.perf_counter()

    output.parent.mkdir(parents=True, exist_ok=True)
    # Not fsynced: a derivative can be made again from its original, and the evidence store
    # fsyncs its own copy.
    with atomic_output(output, mode=0o644, fsync=False) as tmp:
        # the derivative names its original (MP4 comment tag), as the report does
        encoder = _Encoder(tmp, width, height, info.fps, options, comment=f"{DERIVATIVE_TAG}{digest}")

        def emit() -> None:
            item = pending.popleft()
            with stages.time("mask"):
                yuv = YuvFrame.from_av(item.av_frame)
                if tracker is not None and people_mode is not None:
                    anonymize_region(yuv, tracker.release(), people_mode)
                if faces is not None:
                    # faces held forward by FaceMasker, and backward from frames already buffered
                    face_boxes = list(item.faces)
                    for later in itertools.islice(pending, face_hold):
                        face_boxes.extend(later.faces)
                    if face_boxes:
                        anonymize(yuv, face_boxes, face_mode)
                fill_mask(yuv, static, SOLID_STATIC)
            with stages.time("encode"):
                encoder.write(yuv, item.frame.pts, item.av_frame.time_base)
            if progress is not None:
                progress(encoder.frames, hint)

        try:
            frames = reader.av_frames()
            while True:
                with stages.time("decode"):
                    nxt = next(frames, None)
                if nxt is None:
                    break
                frame, av_frame = nxt
                if (av_frame.width, av_frame.height) != (width, height):
                    # one output stream has one size: stop here, as at a truncation
                    stopped = (
                        f"frame size changed at frame {frames_read} ({width}x{height} -> "
                        f"{av_frame.width}x{av_frame.height}); stopped there"
                    )
                    break
                frames_read += 1
                if tracker is not None:
                    with stages.time("motion"):
                        tracker.observe(frame.luma, frame.time_s)
                face_boxes: list[Box] = []
                if faces is not None:
                    with stages.time("faces"):
                        face_boxes = faces.update(av_frame.to_ndarray(format="bgr24"))
                pending.append(_Pending(frame, av_frame, face_boxes))
                while pending and (tracker is None or tracker.ready) and len(pending) > face_hold:
                    emit()
            while pending:
                emit()
            if encoder.frames == 0:
                raise DecodeError(source, reader.error or "no frame could be decoded")
            with stages.time("encode"):
                encoder.close()
        except BaseException:
            encoder.abort()
            raise

    elapsed = time.perf_counter() - started
    stage_fps = stages.fps(encoder.frames)
    stage_fps["total"] = round(encoder.frames / elapsed, 1) if elapsed > 0 else 0.0
    return RedactReport(
        source=str(source),
        source_sha256=digest,
        output=str(output),
        frames_read=frames_read,
        frames_written=encoder.frames,
        width=width,
        height=height,
        fps=info.fps,
        options=options.to_json(),
        error=stopped or reader.error,
        stage_fps=stage_fps,
    )


def _anonymize_mode(people: PeopleMode) -> AnonymizeMode | None:
    if people == "pixelate":
        return "pixelate"
    if people == "blur":
        return "blur"
    if people == "solid":
        return "solid"
    return None
