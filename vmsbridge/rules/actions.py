"""The actions a rule runs, each independent of the others: one failing never stops the rest.

Each action returns a one-line detail for the incident record or raises with the reason. Actions
that need the incident (evidence must be attached to one) await it; the others start at once, so
a PTZ move never waits for the database, a clip or the VMS.
"""

from __future__ import annotations

__all__ = ["Firing", "RuleContext", "run_action"]

import asyncio
import json
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from analytics.clip import ClipReport
from evidence.store import ContentStore
from privacy.redact import RedactOptions
from recording.result import ClipResult
from vmsbridge.backoff import Backoff
from vmsbridge.bus import EventSink
from vmsbridge.clery import notifications
from vmsbridge.config import Camera, SiteDirectory
from vmsbridge.config.rules import (
    Action,
    CaptureClip,
    DraftNotification,
    NotifyOperator,
    PtzGoto,
    Rule,
    XProtectAlarm,
    XProtectUserEvent,
)
from vmsbridge.controls import Controls, PtzMove, PtzUnavailable
from vmsbridge.correlate import KIND_LABELS
from vmsbridge.evidence_service import add_file
from vmsbridge.health.clip_tamper import publish_clip_tamper
from vmsbridge.jobs import ClipJobs
from vmsbridge.masking import effective_polygons
from vmsbridge.model import StoredEvent
from vmsbridge.rules.cameras import phone_aim, related_cameras
from vmsbridge.sources import ClipNotFound
from vmsbridge.store.stores import Stores

log = logging.getLogger(__name__)

WEBHOOK_ATTEMPTS = 3


@dataclass
class RuleContext:
    """Everything actions may use, passed in explicitly (no globals)."""

    directory: SiteDirectory
    stores: Stores
    controls: Controls
    evidence: ContentStore
    jobs: ClipJobs | None
    work_dir: Path
    http: aiohttp.ClientSession | None = None
    bus: EventSink | None = None  # for events the actions find (tamper seen in a clip)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass
class Firing:
    """One rule firing for one event, and the incident it will be recorded on."""

    rule: Rule
    event: StoredEvent
    incident: asyncio.Future[int | None]

    @property
    def actor(self) -> str:
        return f"rule:{self.rule.name}"

    async def incident_id(self) -> int | None:
        """The incident this firing is recorded on, once known. Shielded: an action cancelled while
        it waits (a stop) must not cancel the answer the firing's other actions wait for too."""
        return await asyncio.shield(self.incident)

    def fields(self, directory: SiteDirectory) -> dict[str, str]:
        location = directory.locations.get(self.event.location_id)
        return {
            "rule": self.rule.name,
            "kind": self.event.kind.value,
            "label": KIND_LABELS.get(self.event.kind, self.event.kind.value),
            "device": self.event.device_id,
            "device_name": directory.device_names.get(self.event.device_id, self.event.device_id),
            "location": self.event.location_id,
            "location_name": location.name if location else self.event.location_id,
            "time": self.event.occurred_at.isoformat(timespec="seconds"),
        }

    def render(self, template: str, directory: SiteDirectory) -> str:
        try:
            return template.format_map(self.fields(directory))
        except (KeyError, ValueError, IndexError) as exc:
            # Validation cannot see every placeholder mistake; the text is still useful raw.
            log.warning("rule %s: template %r: %s", self.rule.name, template, exc)
            return template


async def run_action(action: Action, firing: Firing, ctx: RuleContext) -> str:
    if isinstance(action, PtzGoto):
        return await _ptz_goto(action, firing, ctx)
    if isinstance(action, CaptureClip):
        return await _capture_clip(action, firing, ctx)
    if isinstance(action, XProtectAlarm):
        return await _xprotect_alarm(action, firing, ctx)
    if isinstance(action, XProtectUserEvent):
        return await _xprotect_user_event(action, firing, ctx)
    if isinstance(action, NotifyOperator):
        return await _notify_operator(action, firing, ctx)
    if isinstance(action, DraftNotification):
        return await _draft_notification(action, firing, ctx)
    raise TypeError(f"open_incident is handled by the engine, not as {type(action).__name__}")


# -- PTZ ----------------------------------------------------------------------------------------


async def _ptz_goto(action: PtzGoto, firing: Firing, ctx: RuleContext) -> str:
    if action.camera == "phone":
        aim = phone_aim(ctx.directory, firing.event.device_id)
        if aim is None:
            raise LookupError(f"no PTZ camera covers {firing.event.device_id} (set phones.camera and preset)")
        camera, preset, why = aim.camera, aim.preset, aim.why
    else:
        camera = next(c for c in ctx.directory.site.cameras if c.id == action.camera)
        preset, why = str(action.preset), "named in the rule"
    token = camera.presets.get(preset)
    if token is None:
        raise LookupError(f"camera {camera.id} has no preset {preset!r}")
    control = ctx.controls.ptz_for(camera)
    if control is None:
        raise LookupError(f"nothing controls PTZ on connector {camera.source.connector}")
    try:
        move = await control.goto_preset(camera, token, settle_seconds=action.settle_seconds)
    except PtzUnavailable as unavailable:
        camera, token, move = await _ptz_fallback(camera, preset, action, ctx, unavailable)
        why += f"; through {camera.source.connector} ({camera.id}) because {unavailable}"
    lead_ms = (move.sent_at - firing.event.received_at).total_seconds() * 1000
    settled = f"settled in {move.settled_seconds * 1000:.0f} ms" if move.settled_seconds else "did not settle"
    where = f", now at pan/tilt/zoom {move.position}" if move.position else ""
    return (
        f"{camera.id} -> preset {preset} (token {token}, {why}): sent {lead_ms:.1f} ms after the event "
        f"arrived, acknowledged in {move.ack_seconds * 1000:.0f} ms, {settled}{where}"
    )


async def _ptz_fallback(
    camera: Camera, preset: str, action: PtzGoto, ctx: RuleContext, unavailable: PtzUnavailable
) -> tuple[Camera, str, PtzMove]:
    """The same preset (by name) through another control of the same physical camera."""
    for other, control in ctx.controls.ptz_fallbacks(camera, ctx.directory.site.cameras):
        token = other.presets.get(preset)
        if token is not None:
            return other, token, await control.goto_preset(other, token, settle_seconds=action.settle_seconds)
    raise unavailable


# -- clips and evidence -------------------------------------------------------------------------


def _clip_cameras(action: CaptureClip, firing: Firing, ctx: RuleContext) -> list[Camera]:
    if isinstance(action.cameras, list):
        by_id = {c.id: c for c in ctx.directory.site.cameras}
        return [by_id[c] for c in action.cameras]
    return related_cameras(ctx.directory, firing.event.device_id)


async def _capture_clip(action: CaptureClip, firing: Firing, ctx: RuleContext) -> str:
    cameras = _clip_cameras(action, firing, ctx)
    if not cameras:
        raise LookupError(f"no camera covers {firing.event.device_id} at {firing.event.location_id}")
    start = firing.event.occurred_at - timedelta(seconds=action.pre_seconds)
    end = firing.event.occurred_at + timedelta(seconds=action.post_seconds)
    # Footage after the event exists only once that time has passed.
    wait = (end - ctx.clock()).total_seconds()
    if wait > 0:
        await asyncio.sleep(wait)
    problems: list[str] = []
    captured: list[str] = []
    for camera in cameras:
        source = ctx.controls.clips_for(camera)
        if source is None:
            problems.append(f"{camera.id}: no clip source for connector {camera.source.connector}")
            continue
        try:
            clip = await asyncio.wait_for(source.fetch_clip(camera.id, start, end), action.wait_seconds)
        except TimeoutError:
            problems.append(f"{camera.id}: no clip within {action.wait_seconds:g} s (recorded as missing)")
            continue
        except (ClipNotFound, OSError) as exc:
            problems.append(f"{camera.id}: {exc}")
            continue
        try:
            captured.append(await _attach(clip, camera, (start, end), action, firing, ctx))
        finally:
            await asyncio.to_thread(_discard_work_files, clip.file, ctx.work_dir)
        if action.cameras == "nearest":
            break
    if not captured:
        raise ClipNotFound("; ".join(problems))
    missing = f" (missing: {'; '.join(problems)})" if problems else ""
    return "; ".join(captured) + missing


def _discard_work_files(clip: Path, work_dir: Path) -> None:
    """Once attached, the evidence store holds its own copy: a clip we downloaded (in a folder of
    its own under the work folder) goes; an export in the VMS's own folder is the VMS's to keep."""
    if clip.parent != work_dir and clip.parent.is_relative_to(work_dir):
        shutil.rmtree(clip.parent, ignore_errors=True)
    elif clip.is_relative_to(work_dir):
        clip.unlink(missing_ok=True)


async def _attach(
    clip: ClipResult,
    camera: Camera,
    window: tuple[datetime, datetime],
    action: CaptureClip,
    firing: Firing,
    ctx: RuleContext,
) -> str:
    incident_id = await firing.incident_id()
    if incident_id is None:
        raise LookupError("the event has no incident to attach evidence to (add an open_incident action)")
    path = clip.file
    how = f"captured by rule {firing.rule.name} for event {firing.event.id}"
    original, _ = await add_file(
        ctx.stores,
        ctx.evidence,
        incident_id=incident_id,
        path=path,
        actor=firing.actor,
        how=how,
        camera_id=camera.id,
        window=window,
        purpose="automatic capture on alarm",
        clip=clip,
    )
    parts = [f"{camera.id} {original.sha256[:12]} ({(window[1] - window[0]).total_seconds():.0f} s)"]
    if clip.gaps:
        parts.append(f"{len(clip.gaps)} gap(s), {sum(g.seconds for g in clip.gaps):.1f} s without video")
    if clip.transcoded_by:
        parts.append(f"transcoded by the {clip.transcoded_by}, not the camera's original encoding")
    if ctx.jobs is None or not (action.analyze or action.redact):
        return ", ".join(parts)
    masks = await effective_polygons(ctx.stores, ctx.directory.site, camera.id, window[0])
    work = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="derive-", dir=ctx.work_dir))
    try:
        # Analysis and redaction run in the process pool, concurrently with each other.
        jobs: list[asyncio.Future[Any]] = []
        if action.analyze:
            jobs.append(asyncio.ensure_future(ctx.jobs.analyze(path, masks)))
        if action.redact:
            redacted = work / f"{path.stem}.redacted.mp4"
            jobs.append(asyncio.ensure_future(ctx.jobs.redact(path, redacted, RedactOptions(masks=masks))))
        results = await asyncio.gather(*jobs, return_exceptions=True)

        async def attach_derived(file: Path, how: str) -> str:
            derived, _ = await add_file(
                ctx.stores,
                ctx.evidence,
                incident_id=incident_id,
                path=file,
                actor=firing.actor,
                how=how,
                camera_id=camera.id,
                derived_from=original.sha256,
                window=window,
            )
            return derived.sha256[:12]

        for result in results:
            if isinstance(result, BaseException):
                parts.append(f"derivative failed: {result}")
            elif isinstance(result, ClipReport):
                report = work / f"{path.stem}.motion.json"
                text = json.dumps(result.to_json(), indent=2)
                await asyncio.to_thread(report.write_text, text, encoding="utf-8")
                digest = await attach_derived(report, "motion analytics of the captured clip")
                parts.append(f"motion: {len(result.segments)} segment(s) {digest}")
                if ctx.bus is not None:  # camera health learns of tamper the analysis saw
                    parts += await publish_clip_tamper(
                        ctx.bus, firing.event, camera.id, window[0], result, original.sha256
                    )
            else:
                if result.error:
                    parts.append(f"redaction incomplete: {result.error}")
                digest = await attach_derived(Path(result.output), "privacy-redacted copy (masks, people)")
                parts.append(f"redacted {digest}")
        return ", ".join(parts)
    finally:  # the store holds its own copies of what was attached
        await asyncio.to_thread(shutil.rmtree, work, True)


# -- VMS ----------------------------------------------------------------------------------------


def _subject_camera(firing: Firing, ctx: RuleContext) -> Camera | None:
    cameras = related_cameras(ctx.directory, firing.event.device_id)
    return cameras[0] if cameras else None


async def _xprotect_alarm(action: XProtectAlarm, firing: Firing, ctx: RuleContext) -> str:
    found = ctx.controls.alarm_sink(action.connector)
    if found is None:
        raise LookupError(
            f"no connector {action.connector or '(none configured)'} that offers alarms to raise it in"
        )
    connector, sink = found
    camera = _subject_camera(firing, ctx)
    name = firing.render(action.name, ctx.directory)
    message = firing.render(action.message, ctx.directory)
    backoff = Backoff(initial=1.0, maximum=60.0)
    give_up = ctx.clock() + timedelta(seconds=action.retry_seconds)
    attempt = 0
    first_error = ""
    while True:
        attempt += 1
        try:
            alarm_id = await sink.raise_alarm(name, message, camera, action.priority)
            break
        except Exception as exc:  # any failure of the VMS: retried until the rule's limit
            first_error = first_error or str(exc)
            delay = backoff.next()
            if ctx.clock() + timedelta(seconds=delay) > give_up:
                raise RuntimeError(
                    f"{connector}: not raised after {attempt} attempts: {first_error}"
                ) from exc
            log.warning(
                "rule %s: alarm attempt %d failed (%s); retrying in %.0f s",
                firing.rule.name,
                attempt,
                exc,
                delay,
            )
            await asyncio.sleep(delay)
    shown = f" showing {camera.id}" if camera else ""
    retried = f" after {attempt} attempts (first failure: {first_error})" if attempt > 1 else ""
    return f"{connector}: alarm {alarm_id} {name!r}{shown}{retried}"


async def _xprotect_user_event(action: XProtectUserEvent, firing: Firing, ctx: RuleContext) -> str:
    found = ctx.controls.alarm_sink(action.connector)
    if found is None:
        raise LookupError("no connector that offers alarms to trigger the event in")
    connector, sink = found
    camera = _subject_camera(firing, ctx)
    await sink.trigger_user_event(action.event, camera)
    return f"{connector}: user-defined event {action.event} triggered"


# -- people -------------------------------------------------------------------------------------


async def _notify_operator(action: NotifyOperator, firing: Firing, ctx: RuleContext) -> str:
    message = firing.render(action.message, ctx.directory)
    if action.channel == "log":
        log.warning("OPERATOR: %s (rule %s, event %d)", message, firing.rule.name, firing.event.id)
        return f"logged: {message}"
    assert action.url is not None
    if ctx.http is None:
        raise RuntimeError("no HTTP client for webhooks in this process")
    body = {
        "rule": firing.rule.name,
        "event_id": firing.event.id,
        "kind": firing.event.kind.value,
        "device": firing.event.device_id,
        "location": firing.event.location_id,
        "occurred_at": firing.event.occurred_at.isoformat(),
        "message": message,
    }
    backoff = Backoff(initial=0.5, maximum=5.0)
    for attempt in range(1, WEBHOOK_ATTEMPTS + 1):
        try:
            async with ctx.http.post(
                action.url, json=body, timeout=aiohttp.ClientTimeout(total=10)
            ) as response:
                if response.status < 300:
                    return f"webhook {response.status} (attempt {attempt}): {message}"
                error = f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = str(exc) or type(exc).__name__
        if attempt < WEBHOOK_ATTEMPTS:
            await asyncio.sleep(backoff.next())
    raise RuntimeError(f"webhook failed after {WEBHOOK_ATTEMPTS} attempts: {error}")


async def _draft_notification(action: DraftNotification, firing: Firing, ctx: RuleContext) -> str:
    """A draft for a person to approve or decline: rules never send anything to the public."""
    incident_id = await firing.incident_id()
    if incident_id is None:
        raise LookupError("a notification draft needs an incident (add an open_incident action)")
    notification = await notifications.draft(
        ctx.stores, ctx.directory.site, kind=action.kind, actor=firing.actor, incident_id=incident_id
    )
    return f"draft {action.kind} notification {notification.id} awaits a person's approval (notify show)"
