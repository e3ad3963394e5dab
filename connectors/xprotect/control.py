"""What the bridge makes XProtect do for a rule: raise alarms, trigger user-defined events, PTZ go-to.

PTZ go-to runs the preset's go-to task, whose id the server does not document: it is discovered
with ``?tasks``. A gateway that offers none (before 2024 R2) raises :class:`PtzUnavailable`, so the
rule engine can move the camera through another control of it (its ONVIF device) if the site has one.

It works through the event source's own client, so the source knows which alarms the bridge raised
and does not report them back as VMS alarms.
"""

from __future__ import annotations

__all__ = ["XProtectControl", "build_xprotect_controls"]

import logging
import time
from datetime import UTC, datetime
from pathlib import Path

from connectors.xprotect.clips import DropFolderClipSource
from connectors.xprotect.recorded_clips import RecordedClipSource, recorder_tls
from connectors.xprotect.source import XProtectEventSource
from vmsbridge.config import Camera, SiteConfig
from vmsbridge.controls import Controls, PtzMove, PtzUnavailable
from vmsbridge.sources import EventSource

log = logging.getLogger(__name__)

NO_PRESET_TASK = (
    "this API Gateway offers no PTZ-preset task; configure `vms_camera_id` with an ONVIF control path "
    "or upgrade"
)


class XProtectControl:
    def __init__(self, source: XProtectEventSource) -> None:
        self.source = source
        self.connector = source.connector
        self._preset_task_id: str | None = None
        self._no_preset_task = False  # asked, and the server offers none: said once, not asked again

    def vms_camera_id(self, camera: Camera | None) -> str | None:
        """The camera's id in this VMS: its source if the VMS streams it, else ``vms_camera_id``."""
        if camera is None:
            return None
        if camera.source.connector == self.connector.id and camera.source.camera_id:
            return camera.source.camera_id
        return camera.vms_camera_id

    async def raise_alarm(self, name: str, message: str, camera: Camera | None, priority: str | None) -> str:
        await self.source.client.open()
        return await self.source.raise_alarm(name, message, self.vms_camera_id(camera), priority)

    async def trigger_user_event(self, event: str, camera: Camera | None) -> None:
        await self.source.client.open()
        camera_id = self.vms_camera_id(camera)
        # The Events REST API names a source by its resource path; without one, the user-defined
        # event is its own source.
        await self.source.client.trigger_event(event, f"cameras/{camera_id}" if camera_id else None)

    async def goto_preset(self, camera: Camera, preset_token: str, *, settle_seconds: float) -> PtzMove:
        camera_id = self.vms_camera_id(camera)
        if camera_id is None:
            raise ValueError(f"camera {camera.id} has no XProtect camera id")
        await self.source.client.open()
        sent_at = datetime.now(UTC)
        started = time.perf_counter()
        task = await self._preset_task(camera_id, preset_token)
        # The REST task returns when the move is done, so acknowledgement and settling coincide.
        seconds = await self.source.client.goto_preset(camera_id, preset_token, task)
        return PtzMove(sent_at, time.perf_counter() - started, seconds)

    async def _preset_task(self, camera_id: str, preset_token: str) -> str:
        """The configured task, else the one the server offers (discovered once per connector)."""
        if self.connector.ptz_task:
            return self.connector.ptz_task
        if self._preset_task_id is None and not self._no_preset_task:
            task, offered = await self.source.client.preset_task(camera_id, preset_token)
            if task is None:
                self._no_preset_task = True
                log.warning(
                    "XProtect %s: %s (tasks offered: %s)",
                    self.connector.id,
                    NO_PRESET_TASK,
                    ", ".join(offered) or "none",
                )
            self._preset_task_id = task
        if self._preset_task_id is None:
            raise PtzUnavailable(f"XProtect {self.connector.id}: {NO_PRESET_TASK}")
        return self._preset_task_id


def build_xprotect_controls(
    site: SiteConfig, sources: list[EventSource], work_dir: Path | None = None
) -> Controls:
    controls = Controls()
    for source in sources:
        if not isinstance(source, XProtectEventSource):
            continue
        control = XProtectControl(source)
        connector = source.connector
        # The client is the source's; a source that never runs (`clip fetch`) must not leave it open.
        controls.closers.append(source.client.close)
        controls.alarms[connector.id] = control
        controls.ptz[connector.id] = control
        export: DropFolderClipSource | None = None
        if connector.export_folder is not None:
            names = {
                c.id: [n for n in (c.source.camera_id, c.vms_camera_id, c.name) if n]
                for c in site.cameras
                if c.source.connector == connector.id or c.vms_camera_id
            }
            export = DropFolderClipSource(
                connector.export_folder,
                names,
                wait_seconds=connector.export_wait_seconds,
                filename_zone=site.site.timezone,
            )
        recorded = {
            c.id: c.source.camera_id
            for c in site.cameras
            if c.source.connector == connector.id and c.source.camera_id
        }
        if work_dir is not None and recorded:
            # The recording server first (ImageServer protocol), the export folder second.
            controls.clips[connector.id] = RecordedClipSource(
                source.client,
                recorded,
                work_dir,
                fallback=export,
                ssl_context=recorder_tls(connector.ca_file, connector.insecure_skip_verify),
            )
        elif export is not None:
            controls.clips[connector.id] = export
    return controls
