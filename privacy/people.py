"""People anonymization from the moving foreground, on yuv420p planes (no BGR round trip).

Where people are comes from :class:`analytics.motion.MotionDetector` on the luma plane at work
resolution: each moving blob big enough to be a motion box, holes filled, grown by a margin (a
fraction of its box's width and height), or, with ``shape="box"``, the widened boxes themselves.
A per-pixel "last seen" map at work resolution gives the *temporal hold*: a pixel stays masked for
``hold_seconds`` after motion was last seen there, so a person who stops keeps being masked while
the background model absorbs them. When the caller buffers frames, motion seen up to
``lookahead_frames`` later masks a frame too (a person standing still who then walks off, and
everyone present while the background model warms up at the start of a clip). On a frame the
detector flags as a global change (lights, IR cut) whatever was masked stays masked.

The mask is scaled up to the frame and applied inside the bounding boxes of its connected parts:
:func:`anonymize_region` pixelates (on a frame-wide block grid, so chroma blocks line up with luma
ones), blurs or fills in the Y, U and V planes. :func:`anonymize` does the same for plain boxes
(faces), with a block that grows with the box. :func:`fill_mask` paints static masks solid.

Known limit: someone who stands still from the start of a clip (or for longer than the detector's
absorption time plus the hold) is not moving foreground; give a longer hold, or a face model, for
cameras where people sit or wait.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import av
import cv2
import numpy as np

from analytics.geometry import Polygon
from analytics.motion import MotionConfig, MotionDetector

__all__ = [
    "PEOPLE_MOTION",
    "SOLID_PEOPLE",
    "SOLID_STATIC",
    "AnonymizeMode",
    "Box",
    "PeopleTracker",
    "PlaneMask",
    "Region",
    "YuvFrame",
    "anonymize",
    "anonymize_region",
    "block_size",
    "expand_box",
    "fill_mask",
]

AnonymizeMode = Literal["pixelate", "blur", "solid"]
Box = tuple[int, int, int, int]  # x, y, w, h in source pixels

#: Fill (Y, U, V) of static masks: video black.
SOLID_STATIC = (16, 128, 128)
#: Fill (Y, U, V) of people in ``solid`` mode: dark grey, so a viewer tells them from static masks.
SOLID_PEOPLE = (64, 128, 128)

#: Motion settings for finding people rather than for alarms: a lower threshold (clothing close to
#: the background still counts), smaller blobs kept (a head or a distant person), more dilation
#: (a body split by a pole is one region), and a slower background so a person who stops takes longer
#: to be absorbed.
PEOPLE_MOTION = MotionConfig(
    threshold=20,
    min_area_ratio=0.0002,
    dilate=3,
    learning_rate=0.01,
    warmup_frames=10,
)


def block_size(width: int, height: int) -> int:
    """Pixelation block (even, in luma pixels) for a frame: 1/40 of its short side, at least 8
    (12 px at 480p, 28 px at 1080p)."""
    return max(8, 2 * round(min(width, height) / 80))


def expand_box(box: Box, margin: float, width: int, height: int) -> Box:
    """``box`` grown by ``margin`` x its width/height on each side, clipped to the frame."""
    x, y, w, h = box
    dx, dy = math.ceil(w * margin), math.ceil(h * margin)
    x0, y0 = max(0, x - dx), max(0, y - dy)
    x1, y1 = min(width, x + w + dx), min(height, y + h + dy)
    return (x0, y0, max(0, x1 - x0), max(0, y1 - y0))


@dataclass
class YuvFrame:
    """Writable yuv420p planes of one frame, views into one contiguous buffer."""

    buffer: np.ndarray  # uint8, (height * 3 // 2, width): the layout ``av.VideoFrame.from_ndarray`` takes
    y: np.ndarray  # height x width
    u: np.ndarray  # height/2 x width/2
    v: np.ndarray

    @classmethod
    def from_av(cls, frame: Any) -> YuvFrame:
        """Copy an ``av.VideoFrame`` (converted to yuv420p only if it is in another format)."""
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        return cls.from_buffer(frame.to_ndarray(), frame.width, frame.height)

    @classmethod
    def from_buffer(cls, buffer: np.ndarray, width: int, height: int) -> YuvFrame:
        if width % 2 or height % 2:
            raise ValueError(f"yuv420p needs an even frame size, got {width}x{height}")
        flat = buffer.reshape(-1)
        n, c = width * height, (width // 2) * (height // 2)
        if flat.size != n + 2 * c:
            raise ValueError(f"a {width}x{height} yuv420p buffer has {n + 2 * c} bytes, got {flat.size}")
        return cls(
            buffer=buffer.reshape(height * 3 // 2, width),
            y=flat[:n].reshape(height, width),
            u=flat[n : n + c].reshape(height // 2, width // 2),
            v=flat[n + c :].reshape(height // 2, width // 2),
        )

    @property
    def width(self) -> int:
        return int(self.y.shape[1])

    @property
    def height(self) -> int:
        return int(self.y.shape[0])

    def to_av(self) -> Any:
        """A new ``av.VideoFrame`` (yuv420p) holding a copy of the planes; timestamps are the caller's."""
        return av.VideoFrame.from_ndarray(self.buffer, format="yuv420p")


def _aligned(box: Box, block: int, width: int, height: int) -> tuple[int, int, int, int]:
    """``box`` as ``x0, y0, x1, y1`` grown outward to the ``block`` grid, clipped to the frame."""
    x, y, w, h = box
    x0, y0 = (max(0, x) // block) * block, (max(0, y) // block) * block
    x1 = min(width, -(-(x + w) // block) * block)
    y1 = min(height, -(-(y + h) // block) * block)
    return x0, y0, x1, y1


def _pixelated(roi: np.ndarray, block: int) -> np.ndarray:
    h, w = roi.shape
    small = cv2.resize(roi, (-(-w // block), -(-h // block)), interpolation=cv2.INTER_AREA)
    out: np.ndarray = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    return out


def _blurred(plane: np.ndarray, x0: int, y0: int, x1: int, y1: int, k: int) -> np.ndarray:
    """``plane[y0:y1, x0:x1]`` blurred with a ``k`` box kernel twice, reading neighbours outside it."""
    r = k // 2
    H, W = plane.shape
    px0, py0, px1, py1 = max(0, x0 - r), max(0, y0 - r), min(W, x1 + r), min(H, y1 + r)
    padded = np.ascontiguousarray(plane[py0:py1, px0:px1])
    for _ in range(2):  # two box passes: close to a Gaussian, much cheaper at these sizes
        padded = cv2.blur(padded, (k, k), borderType=cv2.BORDER_REPLICATE)
    return padded[y0 - py0 : y1 - py0, x0 - px0 : x1 - px0]


def _anonymize_rect(
    frame: YuvFrame,
    box: Box,
    mode: AnonymizeMode,
    block: int,
    solid: tuple[int, int, int],
    masks: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    """Anonymize ``box`` in all three planes; only where ``masks`` (luma, chroma bool) are set, if given."""
    W, H = frame.width, frame.height
    if mode not in ("pixelate", "blur", "solid"):
        raise ValueError(f"unknown anonymization mode {mode!r}: pixelate, blur or solid")
    # pixelation blocks sit on a frame-wide grid, so chroma blocks (half size) line up with luma ones
    x0, y0, x1, y1 = _aligned(box, block if mode == "pixelate" else 2, W, H)
    if x1 <= x0 or y1 <= y0:
        return
    cx0, cy0, cx1, cy1 = x0 // 2, y0 // 2, -(-x1 // 2), -(-y1 // 2)
    planes = (
        (frame.y, x0, y0, x1, y1, block, solid[0], 0),
        (frame.u, cx0, cy0, cx1, cy1, block // 2, solid[1], 1),
        (frame.v, cx0, cy0, cx1, cy1, block // 2, solid[2], 1),
    )
    for plane, px0, py0, px1, py1, b, value, which in planes:
        roi = plane[py0:py1, px0:px1]
        new: np.ndarray | int
        if mode == "pixelate":
            new = _pixelated(roi, b)
        elif mode == "blur":
            new = _blurred(plane, px0, py0, px1, py1, 2 * b + 1)
        else:
            new = value
        if masks is None:
            roi[:] = new
        else:
            np.copyto(roi, new, where=masks[which][py0:py1, px0:px1])


def anonymize(
    frame: YuvFrame,
    boxes: Sequence[Box],
    mode: AnonymizeMode,
    *,
    block: int | None = None,
    solid: tuple[int, int, int] = SOLID_PEOPLE,
) -> None:
    """Pixelate, blur or fill the rectangles ``boxes`` (source pixels) in place, in all three planes.

    The block (pixelate) or kernel radius (blur) grows with the box: at least ``block`` (default
    :func:`block_size`) and about 1/8 of the box's short side, so a close-up face is as unrecognisable
    as a distant one.
    """
    base = block if block is not None else block_size(frame.width, frame.height)
    for box in boxes:
        if box[2] > 0 and box[3] > 0:
            b = max(base, 2 * round(min(box[2], box[3]) / 16))
            _anonymize_rect(frame, box, mode, b, solid)


@dataclass(frozen=True)
class Region:
    """Where to anonymize in one frame: a mask at work resolution and its parts' boxes in source pixels."""

    mask: np.ndarray  # bool, work resolution
    boxes: list[Box]  # bounding boxes of the mask's connected parts, source pixels

    def __bool__(self) -> bool:
        return bool(self.boxes)


def anonymize_region(
    frame: YuvFrame,
    region: Region,
    mode: AnonymizeMode,
    *,
    block: int | None = None,
    solid: tuple[int, int, int] = SOLID_PEOPLE,
) -> None:
    """Anonymize exactly the pixels of ``region`` (its mask scaled up to the frame), in place."""
    if not region.boxes:
        return
    W, H = frame.width, frame.height
    m = region.mask.view(np.uint8)
    luma = cv2.resize(m, (W, H), interpolation=cv2.INTER_NEAREST).view(bool)
    chroma = cv2.resize(m, (W // 2, H // 2), interpolation=cv2.INTER_NEAREST).view(bool)
    b = block if block is not None else block_size(W, H)
    for box in region.boxes:
        _anonymize_rect(frame, box, mode, b, solid, (luma, chroma))


@dataclass(frozen=True)
class PlaneMask:
    """A luma-resolution mask and its chroma-resolution counterpart, cropped to their bounding box."""

    y0: int
    x0: int
    luma: np.ndarray  # bool, cropped
    chroma: np.ndarray  # bool, cropped at half resolution, starting at (y0 // 2, x0 // 2)

    @classmethod
    def from_raster(cls, raster: np.ndarray) -> PlaneMask | None:
        """From a uint8 0/255 (or bool) full-resolution raster; ``None`` if nothing is set."""
        h, w = raster.shape
        if h % 2 or w % 2:
            raise ValueError(f"yuv420p needs an even frame size, got {w}x{h}")
        on = raster > 0
        ys, xs = np.nonzero(on)
        if ys.size == 0:
            return None
        y0, y1 = (int(ys.min()) // 2) * 2, min(h, (int(ys.max()) // 2) * 2 + 2)
        x0, x1 = (int(xs.min()) // 2) * 2, min(w, (int(xs.max()) // 2) * 2 + 2)
        crop = on[y0:y1, x0:x1]
        ch, cw = crop.shape[0] // 2, crop.shape[1] // 2
        # a chroma sample is masked if any of its four luma samples is: no colour leaks at the edge
        chroma: np.ndarray = np.any(crop.reshape(ch, 2, cw, 2), axis=(1, 3))
        return cls(y0=y0, x0=x0, luma=np.ascontiguousarray(crop), chroma=chroma)


def fill_mask(frame: YuvFrame, mask: PlaneMask | None, yuv: tuple[int, int, int] = SOLID_STATIC) -> None:
    """Replace every masked pixel with the solid ``yuv`` colour, in place."""
    if mask is None:
        return
    ly, lx = mask.luma.shape
    np.copyto(frame.y[mask.y0 : mask.y0 + ly, mask.x0 : mask.x0 + lx], yuv[0], where=mask.luma)
    cy, cx = mask.chroma.shape
    cy0, cx0 = mask.y0 // 2, mask.x0 // 2
    np.copyto(frame.u[cy0 : cy0 + cy, cx0 : cx0 + cx], yuv[1], where=mask.chroma)
    np.copyto(frame.v[cy0 : cy0 + cy, cx0 : cx0 + cx], yuv[2], where=mask.chroma)


class PeopleTracker:
    """Where to anonymize people, frame by frame, with a temporal hold and an optional look-ahead.

    Call :meth:`observe` for each decoded frame in order, and :meth:`release` for the region of the
    oldest observed frame not yet released, once :attr:`ready` says so. The caller buffers frames
    between the two: motion seen in the ``lookahead_frames`` frames observed after a frame masks it
    too. With ``lookahead_frames=0`` a frame is ready right after the detector's warm-up and only
    the forward hold applies.
    """

    def __init__(
        self,
        width: int,
        height: int,
        *,
        margin: float = 0.15,
        hold_seconds: float = 2.0,
        motion: MotionConfig = PEOPLE_MOTION,
        ignore: Sequence[Polygon] = (),
        shape: Literal["blob", "box"] = "blob",
        lookahead_frames: int = 0,
    ) -> None:
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        if hold_seconds < 0:
            raise ValueError(f"hold_seconds must be >= 0, got {hold_seconds}")
        self.width, self.height = width, height
        self.margin = margin
        self.hold_seconds = hold_seconds
        if shape not in ("blob", "box"):
            raise ValueError(f"shape must be 'blob' or 'box', got {shape!r}")
        self.shape = shape
        if lookahead_frames < 0:
            raise ValueError(f"lookahead_frames must be >= 0, got {lookahead_frames}")
        self.lookahead_frames = lookahead_frames
        self.detector = MotionDetector(width, height, motion, ignore)
        self.work_w, self.work_h = self.detector.work_w, self.detector.work_h
        self._sx, self._sy = width / self.work_w, height / self.work_h
        self._min_area_px = motion.min_area_ratio * self.work_w * self.work_h
        # the margin around a blob that spans a crowd is capped at the margin of a person of about
        # a third of the frame height
        self._max_grow = max(1, math.ceil(margin * self.work_h / 3))
        size = (self.work_h, self.work_w)
        self._last_seen = np.full(size, -np.inf, dtype=np.float64)  # time motion was last seen there
        self._ahead = np.zeros(size, dtype=np.int32)  # observed-but-unreleased frames with motion there
        self._pending: deque[tuple[float, np.ndarray]] = deque()
        self._held = np.zeros(size, dtype=bool)  # last released frame's mask
        self.frames_observed = 0
        self.global_changes = 0

    @property
    def pending(self) -> int:
        """Frames observed and not yet released."""
        return len(self._pending)

    @property
    def ready(self) -> bool:
        """Whether the oldest pending frame has its look-ahead observed: ``lookahead_frames`` later
        frames, and as many after the detector's warm-up (which reports no motion), so frames of
        the warm-up are masked from what is seen right after it."""
        n = len(self._pending)
        if n == 0:
            return False
        warmup = self.detector.config.warmup_frames
        return n > self.lookahead_frames and self.frames_observed >= warmup + self.lookahead_frames

    def _box_region(self, boxes: Sequence[Box]) -> np.ndarray:
        region = np.zeros((self.work_h, self.work_w), dtype=bool)
        for box in boxes:
            x, y, w, h = expand_box(box, self.margin, self.width, self.height)
            x0, y0 = int(x / self._sx), int(y / self._sy)
            x1, y1 = math.ceil((x + w) / self._sx), math.ceil((y + h) / self._sy)
            region[y0:y1, x0:x1] = True
        return region

    def _blob_region(self, foreground: np.ndarray) -> np.ndarray:
        """The moving blobs that are big enough to be boxes, holes filled, grown by the margin."""
        region = np.zeros((self.work_h, self.work_w), dtype=np.uint8)
        contours, _ = cv2.findContours(foreground, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for c in contours:
            x, y, w, h = cv2.boundingRect(c)
            if w * h < self._min_area_px:
                continue
            rx = min(math.ceil(self.margin * w), self._max_grow)
            ry = min(math.ceil(self.margin * h), self._max_grow)
            x0, y0 = max(0, x - rx), max(0, y - ry)
            x1, y1 = min(self.work_w, x + w + rx), min(self.work_h, y + h + ry)
            canvas: np.ndarray = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
            cv2.drawContours(canvas, [c], -1, 1, thickness=cv2.FILLED, offset=(-x0, -y0))
            if rx or ry:
                canvas = cv2.dilate(
                    canvas, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * rx + 1, 2 * ry + 1))
                )
            roi = region[y0:y1, x0:x1]
            np.bitwise_or(roi, canvas, out=roi)
        return region.view(bool)

    def observe(self, luma: np.ndarray, time_s: float) -> list[Box]:
        """Run motion detection on one frame's full-resolution luma; returns the motion boxes."""
        motion = self.detector.process(luma)
        self.frames_observed += 1
        if motion.global_change:
            # no boxes can be trusted on this frame: keep masking whatever is masked now
            self.global_changes += 1
            region = self._held | (self._last_seen >= time_s - self.hold_seconds)
        elif self.shape == "box":
            region = self._box_region(motion.boxes)
        else:
            region = self._blob_region(motion.foreground)
        self._ahead += region
        self._pending.append((time_s, region))
        return motion.boxes

    def release(self) -> Region:
        """Where to anonymize the oldest observed frame not yet released."""
        if not self._pending:
            raise RuntimeError("release() called with no observed frame pending")
        time_s, region = self._pending.popleft()
        self._ahead -= region
        self._last_seen[region] = time_s
        held = (self._last_seen >= time_s - self.hold_seconds) | (self._ahead > 0)
        self._held = held
        return Region(mask=held, boxes=self._boxes(held))

    def _boxes(self, held: np.ndarray) -> list[Box]:
        if not held.any():
            return []
        n, _, stats, _ = cv2.connectedComponentsWithStats(held.view(np.uint8), connectivity=8)
        boxes: list[Box] = []
        for i in range(1, n):
            x, y, w, h = (int(v) for v in stats[i, :4])
            x0, y0 = int(x * self._sx), int(y * self._sy)
            x1 = min(self.width, math.ceil((x + w) * self._sx))
            y1 = min(self.height, math.ceil((y + h) * self._sy))
            boxes.append((x0, y0, x1 - x0, y1 - y0))
        return boxes
