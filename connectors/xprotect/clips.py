"""Clips from the folder XProtect exports land in (the API Gateway has no REST export).

An operator (or an XProtect rule) exports video to a shared folder; this clip source waits,
bounded, for a file that names the camera and covers the requested window, and hands it over
only once it has stopped growing.

What the file holds is read from it (codec, size, frames, digest); its times are the ones its name
gives, else the asked-for window. XProtect's AVI export always encodes the video anew (the operator
picks the codec), so an ``.avi`` is marked as a VMS transcode; the other formats carry the recorded
stream as it was stored.
"""

from __future__ import annotations

__all__ = ["DropFolderClipSource"]

import asyncio
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from recording.probe import ProbeFailed, describe_file
from recording.result import ClipResult
from vmsbridge.sources import ClipNotFound

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".avi", ".mov"})
TRANSCODED_SUFFIXES = frozenset({".avi"})
_STAMP = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})[T_ ]?(\d{2})[-:.]?(\d{2})[-:.]?(\d{2})")
POLL_SECONDS = 0.25


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


@dataclass(frozen=True)
class Candidate:
    path: Path
    size: int
    start: datetime | None
    end: datetime | None


class DropFolderClipSource:
    def __init__(
        self,
        folder: Path,
        camera_names: dict[str, list[str]],
        *,
        wait_seconds: float = 120.0,
        filename_zone: str = "UTC",
    ) -> None:
        """``camera_names``: site camera id -> the names an export file may carry for it (the site id,
        the VMS id, the VMS display name). ``filename_zone``: the zone of timestamps in file names."""
        self.folder = folder
        self._names = {
            camera: [_squash(n) for n in [camera, *names] if n] for camera, names in camera_names.items()
        }
        self._wait = wait_seconds
        self._zone = ZoneInfo(filename_zone)

    async def fetch_clip(self, camera_id: str, start: datetime, end: datetime) -> ClipResult:
        if camera_id not in self._names:
            raise ClipNotFound(f"camera {camera_id} is not exported through {self.folder}")
        deadline = time.monotonic() + self._wait
        sizes: dict[Path, int] = {}
        while True:
            for candidate in await asyncio.to_thread(self._scan, camera_id, start, end):
                # Stable across two looks: XProtect is not still writing it.
                if candidate.size > 0 and sizes.get(candidate.path) == candidate.size:
                    return await self._describe(candidate, start, end)
                sizes[candidate.path] = candidate.size
            if time.monotonic() >= deadline:
                raise ClipNotFound(
                    f"no export for camera {camera_id} covering {start.isoformat()} - {end.isoformat()} "
                    f"appeared in {self.folder} within {self._wait:.0f} s"
                )
            await asyncio.sleep(POLL_SECONDS)

    async def _describe(self, candidate: Candidate, start: datetime, end: datetime) -> ClipResult:
        transcoded_by = "vms" if candidate.path.suffix.lower() in TRANSCODED_SUFFIXES else None
        try:
            return await asyncio.to_thread(
                describe_file,
                candidate.path,
                candidate.start or start,
                candidate.end or end,
                transcoded_by=transcoded_by,
            )
        except ProbeFailed as exc:
            raise ClipNotFound(f"export {candidate.path}: {exc}") from exc

    def _scan(self, camera_id: str, start: datetime, end: datetime) -> list[Candidate]:
        names = self._names[camera_id]
        found = []
        for root, _, files in os.walk(self.folder):
            for file_name in files:
                path = Path(root, file_name)
                if path.suffix.lower() not in VIDEO_SUFFIXES:
                    continue
                squashed = _squash(str(path.relative_to(self.folder)))
                if not any(name in squashed for name in names):
                    continue
                try:
                    stat = path.stat()
                except OSError:
                    continue
                clip_start, clip_end = self._window(file_name, stat.st_mtime)
                if clip_start is not None and clip_end is not None and (clip_end < start or clip_start > end):
                    continue
                found.append(Candidate(path, stat.st_size, clip_start, clip_end))
        return sorted(found, key=lambda c: c.path)

    def _window(self, file_name: str, mtime: float) -> tuple[datetime | None, datetime | None]:
        """The window a file covers: two stamps in its name, or one stamp and the time it was written."""
        stamps = []
        for match in _STAMP.finditer(file_name):
            year, month, day, hour, minute, second = (int(g) for g in match.groups())
            try:
                stamps.append(datetime(year, month, day, hour, minute, second, tzinfo=self._zone))
            except ValueError:
                continue
        written = datetime.fromtimestamp(mtime, UTC)
        if len(stamps) >= 2:
            return stamps[0], stamps[1]
        if len(stamps) == 1:
            return stamps[0], max(stamps[0], written)
        return None, None
