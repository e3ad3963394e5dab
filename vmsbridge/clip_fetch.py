"""One clip for an investigator, taken the way ``capture_clip`` takes it: from the pre-roll buffer the
running bridge keeps on disk, else from the camera's connector (ONVIF replay, the VMS's recorded video
or export folder).

The clip is written to the asked-for file only when complete (``.<name>.*.part``, then renamed), so a
failure leaves nothing under that name. With an incident, the file becomes its evidence: hashed into
the store, a custody entry carrying the clip's facts (real times, gaps, a VMS transcode), and an audit
entry naming who fetched what.
"""

from __future__ import annotations

__all__ = ["add_fetched_clip", "fetch_window"]

import asyncio
import shutil
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from evidence.atomic import atomic_output
from evidence.store import ContentStore
from recording.recorder import RecorderSettings
from recording.result import ClipResult
from recording.segments import SegmentStore
from vmsbridge.config import SiteConfig, SiteDirectory
from vmsbridge.errors import NotFound
from vmsbridge.evidence_service import add_file
from vmsbridge.model.evidence import EvidenceItem
from vmsbridge.plugins import build_connectors
from vmsbridge.prerolls import buffer_store, clips_from_buffers
from vmsbridge.sources import ClipNotFound
from vmsbridge.store.audit import record
from vmsbridge.store.database import default_data_dir
from vmsbridge.store.stores import Stores


def _buffers(site: SiteConfig) -> dict[str, SegmentStore]:
    """The pre-roll buffers on disk (a running bridge's, or one it left), by camera id."""
    data_dir = site.storage.data_dir or default_data_dir()
    settings = RecorderSettings()
    found = {camera.id: buffer_store(data_dir, camera.id, settings) for camera in site.cameras}
    return {camera_id: store for camera_id, store in found.items() if store.directory.is_dir()}


async def fetch_window(
    site: SiteConfig,
    camera_id: str,
    start: datetime,
    end: datetime,
    out: Path,
    *,
    work_dir: Path,
    wait_seconds: float = 30.0,
) -> ClipResult:
    """The camera's video for [start, end] written to ``out``; raises :class:`ClipNotFound` (nothing
    written) or :class:`NotFound` for a camera the site does not have."""
    camera = next((c for c in site.cameras if c.id == camera_id), None)
    if camera is None:
        raise NotFound(f"camera: no camera {camera_id!r} in the site configuration")
    if end <= start:
        raise ClipNotFound(f"to: expected after from ({start.isoformat()}), got {end.isoformat()}")
    ahead = (end - datetime.now(UTC)).total_seconds()
    if ahead > wait_seconds:
        raise ClipNotFound(
            f"to: the window ends {ahead:.0f} s from now, later than the {wait_seconds:g} s waited for a clip"
        )
    await asyncio.to_thread(work_dir.mkdir, parents=True, exist_ok=True)
    folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=f"fetch-{camera_id}-", dir=work_dir))
    controls = build_connectors(site, SiteDirectory(site), folder).controls
    try:
        buffers = await asyncio.to_thread(_buffers, site)
        clips_from_buffers(site, controls, buffers, folder, wait_seconds=wait_seconds)
        source = controls.clips_for(camera)
        if source is None:
            raise ClipNotFound(
                f"camera {camera_id}: no pre-roll buffer and no clip source for connector "
                f"{camera.source.connector}"
            )
        if ahead > 0:  # footage after now exists only once that time has passed
            await asyncio.sleep(ahead)
        try:
            clip = await asyncio.wait_for(
                source.fetch_clip(camera_id, start, end), wait_seconds + max(ahead, 0)
            )
        except TimeoutError:
            raise ClipNotFound(f"camera {camera_id}: no clip within {wait_seconds:g} s") from None
        except OSError as exc:
            raise ClipNotFound(f"camera {camera_id}: {exc}") from exc
        await asyncio.to_thread(_publish, clip.file, out)
        return replace(clip, file=out)
    finally:
        await controls.close()
        await asyncio.to_thread(shutil.rmtree, folder, True)


def _publish(source: Path, out: Path) -> None:
    """Copy ``source`` to ``out``, which appears only when complete. A copy, not a move: an export
    in the VMS's folder is the VMS's to keep."""
    with atomic_output(out, mode=0o644) as part:
        shutil.copyfile(source, part)


async def add_fetched_clip(
    stores: Stores,
    evidence: ContentStore,
    clip: ClipResult,
    *,
    incident_id: int,
    camera_id: str,
    window: tuple[datetime, datetime],
    actor: str,
    purpose: str,
) -> tuple[EvidenceItem, bool]:
    """The fetched clip as the incident's evidence (custody entry with its facts), and an audit entry."""
    item, new = await add_file(
        stores,
        evidence,
        incident_id=incident_id,
        path=clip.file,
        actor=actor,
        how=f"fetched by `vmsbridge clip fetch` for {window[0].isoformat()} - {window[1].isoformat()}",
        camera_id=camera_id,
        window=window,
        purpose=purpose,
        clip=clip,
    )
    async with stores.db.transaction() as session:
        record(
            session,
            actor=actor,
            action="evidence.clip_fetched",
            subject_type="incident",
            subject_id=incident_id,
            details={
                "camera": camera_id,
                "sha256": item.sha256,
                "window": [window[0].isoformat(), window[1].isoformat()],
                "new": new,
                "gaps": len(clip.gaps),
                "transcoded_by": clip.transcoded_by,
            },
        )
    return item, new
