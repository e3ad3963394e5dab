"""The rolling buffer on disk: one directory per camera of short MPEG-TS segments named by real time.

A segment is written as ``<name>.part`` and renamed to ``<start>_<end>.ts`` only when complete, so a
segment with its final name is always whole: a process killed mid-write leaves a ``.part`` that
:meth:`SegmentStore.open` removes on the next start and that nothing else ever reads. The names carry the
wall-clock (UTC) start and end, so finding a window needs neither an index nor opening a file.

MPEG-TS because it keeps the 90 kHz RTP clock exactly and a player can read any prefix of it.
"""

from __future__ import annotations

__all__ = ["Segment", "SegmentStore"]

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

#: The containers a segment may be written in, by FFmpeg muxer name, and their file suffixes. Not
#: Matroska: its millisecond clock loses the 90 kHz timestamps, and clips cut from it fail to mux.
CONTAINERS = {"mpegts": ".ts", "mp4": ".mp4"}
SUFFIXES = frozenset(CONTAINERS.values())
PART = ".part"
_TIME = "%Y%m%dT%H%M%S.%fZ"


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_TIME)


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, _TIME).replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Segment:
    """One complete segment: its file, its real start (a keyframe) and end, and its size."""

    path: Path
    start: datetime
    end: datetime
    size: int

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @classmethod
    def from_path(cls, path: Path) -> Segment | None:
        """The segment a file name describes, or None for anything else in the directory."""
        if path.suffix not in SUFFIXES:
            return None
        start_text, sep, end_text = path.stem.partition("_")
        if not sep:
            return None
        try:
            start, end = parse_time(start_text), parse_time(end_text)
            size = path.stat().st_size
        except (ValueError, OSError):
            return None
        return cls(path=path, start=start, end=end, size=size) if end > start else None


@dataclass(frozen=True, slots=True)
class SegmentStore:
    """One camera's segment directory, bounded by seconds and bytes (the oldest go first)."""

    directory: Path
    max_seconds: float = 300.0
    max_bytes: int = 1_000_000_000
    container: str = "mpegts"

    def __post_init__(self) -> None:
        if self.container not in CONTAINERS:
            raise ValueError(f"container: expected one of {sorted(CONTAINERS)}, got {self.container!r}")

    @property
    def suffix(self) -> str:
        return CONTAINERS[self.container]

    def open(self) -> None:
        """Create the directory and remove what an interrupted writer left (``.part`` files)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for leftover in self.directory.glob(f"*{PART}"):
            leftover.unlink(missing_ok=True)

    def part_path(self, start: datetime) -> Path:
        return self.directory / f"{format_time(start)}{self.suffix}{PART}"

    def complete(self, part: Path, start: datetime, end: datetime) -> Segment:
        """Give a finished ``.part`` its final name; from now on clips may use it."""
        final = self.directory / f"{format_time(start)}_{format_time(end)}{self.suffix}"
        part.replace(final)
        return Segment(path=final, start=start, end=end, size=final.stat().st_size)

    def segments(self) -> list[Segment]:
        """Complete segments, oldest first."""
        try:
            paths = list(self.directory.iterdir())
        except FileNotFoundError:
            return []
        found = [seg for seg in map(Segment.from_path, paths) if seg is not None]
        return sorted(found, key=lambda seg: seg.start)

    def covering(self, start: datetime, end: datetime) -> list[Segment]:
        """The segments that hold any moment of [start, end), oldest first."""
        return [seg for seg in self.segments() if seg.end > start and seg.start < end]

    def prune(self) -> list[Segment]:
        """Remove the oldest segments beyond the bounds; the newest ``max_seconds`` are kept whole."""
        kept = self.segments()
        removed: list[Segment] = []
        while len(kept) > 1:
            rest = kept[1:]
            too_long = sum(seg.seconds for seg in rest) >= self.max_seconds
            too_big = sum(seg.size for seg in kept) > self.max_bytes
            if not (too_long or too_big):
                break
            self.drop(kept[0])
            removed.append(kept.pop(0))
        return removed

    def drop_oldest(self) -> Segment | None:
        """Make room: remove the oldest segment (None when there is none)."""
        kept = self.segments()
        if not kept:
            return None
        self.drop(kept[0])
        return kept[0]

    @staticmethod
    def drop(segment: Segment) -> None:
        segment.path.unlink(missing_ok=True)
