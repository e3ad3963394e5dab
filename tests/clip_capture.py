"""Running one ``capture_clip`` action, without the engine, on an incident of the test's own."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from evidence.store import ContentStore
from vmsbridge.config import SiteConfig, SiteDirectory
from vmsbridge.config.rules import CaptureClip, Rule
from vmsbridge.controls import Controls
from vmsbridge.jobs import ClipJobs
from vmsbridge.model import EventKind, Priority, StoredEvent
from vmsbridge.rules.actions import Firing, RuleContext, run_action
from vmsbridge.store.stores import Stores


async def capture(
    site: SiteConfig,
    stores: Stores,
    evidence: ContentStore,
    controls: Controls,
    camera_id: str,
    at: datetime,
    *,
    pre: float,
    post: float,
    work_dir: Path,
    jobs: ClipJobs | None = None,
) -> tuple[int, str]:
    """Open an incident and run ``capture_clip`` for ``camera_id`` around ``at``: (incident, detail).
    With ``jobs``, the clip is redacted too (no motion analytics)."""
    incident = await stores.incidents.open(
        location_id=site.locations[0].id, summary="clip test", priority=Priority.HIGH, actor="test", at=at
    )
    action = CaptureClip(
        type="capture_clip",
        cameras=[camera_id],
        pre_seconds=pre,
        post_seconds=post,
        analyze=False,
        redact=jobs is not None,
    )
    rule = Rule(name="clip-test", on=[EventKind.PHONE_OFFHOOK], actions=[action])
    event = StoredEvent(1, "test", "n1", EventKind.PHONE_OFFHOOK, "bl-7", site.locations[0].id, at, at)
    decided: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
    decided.set_result(incident.id)
    await asyncio.to_thread(work_dir.mkdir, parents=True, exist_ok=True)
    ctx = RuleContext(
        directory=SiteDirectory(site),
        stores=stores,
        controls=controls,
        evidence=evidence,
        jobs=jobs,
        work_dir=work_dir,
    )
    detail = await run_action(action, Firing(rule, event, decided), ctx)
    return incident.id, detail
