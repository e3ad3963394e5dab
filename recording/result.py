"""What every way of getting video (record, replay, fetch, assemble) reports about the file it wrote."""

from __future__ import annotations

__all__ = ["ClipResult", "Gap"]

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Gap:
    """A stretch inside the asked-for window with no video (camera off, stream lost, segment missing)."""

    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def to_json(self) -> dict[str, object]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class ClipResult:
    """One clip on disk: its digest, stream facts, the real times it covers and the gaps inside them.

    ``reencoded`` is false for everything the bridge writes itself (packets are remuxed); it is true only
    when the source delivered a transcode (e.g. a VMS that serves only JPEG), named by ``transcoded_by``.
    """

    file: Path
    sha256: str
    codec: str
    width: int
    height: int
    frames: int
    start: datetime
    end: datetime
    gaps: tuple[Gap, ...] = field(default=())
    reencoded: bool = False
    transcoded_by: str | None = None

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def to_json(self) -> dict[str, object]:
        """The shape `vmsbridge clip ... --json` prints and evidence details keep."""
        shown: dict[str, object] = {
            "file": str(self.file),
            "sha256": self.sha256,
            "codec": self.codec,
            "width": self.width,
            "height": self.height,
            "frames": self.frames,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "seconds": round(self.seconds, 3),
            "gaps": [gap.to_json() for gap in self.gaps],
            "reencoded": self.reencoded,
        }
        if self.transcoded_by is not None:
            shown["transcoded_by"] = self.transcoded_by
        return shown
