"""What rules can make devices do, as small protocols the connectors implement.

The core asks for "this camera, go to that preset" or "raise an alarm in the VMS"; which connector
does it, over which protocol, is the connector's business. :class:`Controls` holds what the
configured connectors offer, keyed by connector id, and answers "who controls this camera".
"""

from __future__ import annotations

__all__ = ["AlarmSink", "Controls", "LiveStreams", "PtzControl", "PtzMove", "PtzUnavailable"]

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from vmsbridge.config import Camera
from vmsbridge.errors import VmsBridgeError
from vmsbridge.sources import ClipSource


class PtzUnavailable(VmsBridgeError, LookupError):
    """This control cannot move this camera at all (not a passing failure): another control of
    the same camera, if the site has one, may (see :meth:`Controls.ptz_fallbacks`)."""


@dataclass(frozen=True)
class PtzMove:
    sent_at: datetime  # when the go-to request left the bridge
    ack_seconds: float
    settled_seconds: float | None  # None: still moving when we stopped waiting
    position: tuple[float, float, float] | None = None  # what the device reports afterwards


class PtzControl(Protocol):
    async def goto_preset(self, camera: Camera, preset_token: str, *, settle_seconds: float) -> PtzMove: ...


class AlarmSink(Protocol):
    async def raise_alarm(self, name: str, message: str, camera: Camera | None, priority: str | None) -> str:
        """The VMS's id of the new alarm."""
        ...

    async def trigger_user_event(self, event: str, camera: Camera | None) -> None: ...


class LiveStreams(Protocol):
    async def live_stream_url(self, camera: Camera) -> str:
        """The camera's live RTSP address as its device gives it, credentials included."""
        ...


@dataclass
class Controls:
    ptz: dict[str, PtzControl] = field(default_factory=dict)
    alarms: dict[str, AlarmSink] = field(default_factory=dict)
    clips: dict[str, ClipSource] = field(default_factory=dict)
    # Cameras the bridge records itself (pre-roll buffer): their clips come from it, not the connector.
    recorded: dict[str, ClipSource] = field(default_factory=dict)
    # Connectors that can tell a camera's live RTSP address (the pre-roll recorder's input).
    streams: dict[str, LiveStreams] = field(default_factory=dict)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def ptz_for(self, camera: Camera) -> PtzControl | None:
        return self.ptz.get(camera.source.connector)

    def ptz_fallbacks(self, camera: Camera, cameras: Sequence[Camera]) -> list[tuple[Camera, PtzControl]]:
        """Other site entries for the same physical camera, with what controls them: an entry
        whose ``vms_camera_id`` is this camera's VMS id (or the reverse), e.g. the camera as its
        ONVIF device, when the VMS itself cannot move it."""
        ids = {i for i in (camera.source.camera_id, camera.vms_camera_id) if i}
        found: list[tuple[Camera, PtzControl]] = []
        for other in cameras:
            if other.id == camera.id or other.source.connector == camera.source.connector:
                continue
            if not ids & {i for i in (other.source.camera_id, other.vms_camera_id) if i}:
                continue
            control = self.ptz.get(other.source.connector)
            if control is not None:
                found.append((other, control))
        return found

    def clips_for(self, camera: Camera) -> ClipSource | None:
        return self.recorded.get(camera.id) or self.clips.get(camera.source.connector)

    def streams_for(self, camera: Camera) -> LiveStreams | None:
        return self.streams.get(camera.source.connector)

    def alarm_sink(self, connector: str | None) -> tuple[str, AlarmSink] | None:
        """The named VMS connector, or the only one when none is named."""
        if connector is not None:
            sink = self.alarms.get(connector)
            return (connector, sink) if sink is not None else None
        if len(self.alarms) == 1:
            return next(iter(self.alarms.items()))
        return None

    def merge(self, other: Controls) -> None:
        self.ptz |= other.ptz
        self.alarms |= other.alarms
        self.clips |= other.clips
        self.streams |= other.streams
        self.closers += other.closers

    async def close(self) -> None:
        for close in self.closers:
            await close()
