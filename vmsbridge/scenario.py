"""A scripted, realistic sequence of campus events: the demo's source, and a smoke test for ``run``.

The script adapts to the site configuration it is given (it picks a blue-light phone with a PTZ
camera, a door, and cameras elsewhere), so it works on the example campus and on a real one.
"""

from __future__ import annotations

__all__ = ["ScenarioSource", "scenario_events"]

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from vmsbridge.bus import EventSink
from vmsbridge.config import SiteDirectory
from vmsbridge.errors import ConfigError, ConfigProblem
from vmsbridge.model import EventKind, IngestOutcome


@dataclass(frozen=True)
class ScriptLine:
    minutes_ago: float
    kind: EventKind
    device_id: str
    source: str
    attributes: dict[str, Any]


def _script(directory: SiteDirectory, with_phone: bool = True) -> list[ScriptLine]:
    site = directory.site
    phone = next((p for p in site.phones if p.camera), None)
    door = next(iter(site.doors), None)
    if phone is None or phone.camera is None or door is None:
        raise ConfigError(
            "scenario",
            [ConfigProblem("phones/doors", "the scenario needs a phone with a camera and at least one door")],
        )
    # Cameras next to the phone's location stay out of it: their events would join its incident.
    busy = {phone.location, door.location, *directory.adjacent.get(phone.location, ())}
    quiet_cams = [c for c in site.cameras if c.location not in busy]
    if len(quiet_cams) < 2:
        raise ConfigError("scenario", [ConfigProblem("cameras", "the scenario needs two cameras elsewhere")])
    fixed = [c for c in quiet_cams if not c.ptz] or quiet_cams
    earlier, down = quiet_cams[-1], fixed[0]
    door_cam = door.camera or phone.camera
    io = next((m for m in site.io_modules for i in m.inputs if i.device == phone.id), None)
    phone_src = f"onvif:{io.id}" if io else "scenario"
    lines = [
        # Earlier in the shift: motion by a quiet camera, long enough ago to have closed.
        ScriptLine(50, EventKind.MOTION_START, earlier.id, f"camera:{earlier.id}", {"region": "gate"}),
        ScriptLine(49.4, EventKind.MOTION_STOP, earlier.id, f"camera:{earlier.id}", {}),
        # A residence-hall door is forced; the entry camera sees motion; the door closes.
        ScriptLine(9, EventKind.DOOR_FORCED, door.id, f"access:{door.connector}", {"door_token": door.token}),
        ScriptLine(8.7, EventKind.MOTION_START, door_cam, f"camera:{door_cam}", {}),
        ScriptLine(6, EventKind.DOOR_CLOSED, door.id, f"access:{door.connector}", {"door_token": door.token}),
        # A camera elsewhere stops answering, then comes back.
        ScriptLine(6, EventKind.CAMERA_COMM_LOST, down.id, f"health:{down.id}", {"reason": "no reply"}),
        ScriptLine(2, EventKind.CAMERA_COMM_RESTORED, down.id, f"health:{down.id}", {"down_seconds": 240}),
    ]
    if with_phone:
        lines[2:2] = [
            # Someone lifts the blue-light handset; the PTZ sees them; they hang up two minutes later.
            ScriptLine(12, EventKind.PHONE_OFFHOOK, phone.id, phone_src, {"input": "DI1", "state": True}),
            ScriptLine(11.9, EventKind.MOTION_START, phone.camera, f"camera:{phone.camera}", {}),
            ScriptLine(10, EventKind.PHONE_ONHOOK, phone.id, phone_src, {"input": "DI1", "state": False}),
            ScriptLine(9.8, EventKind.MOTION_STOP, phone.camera, f"camera:{phone.camera}", {}),
        ]
    return lines


def scenario_events(
    directory: SiteDirectory, now: datetime, run_tag: str, *, with_phone: bool = True
) -> list[dict[str, Any]]:
    """The script as bus payloads (plain mappings, as a connector would hand over after parsing).

    Also included, as real sources produce them: one re-sent event (a reconnect replay, same
    native id) and one event from a device the site configuration does not know. Without the
    phone call (the demo makes a real one on the emulators) the replayed event is the forced door.
    """
    payloads: list[dict[str, Any]] = []
    for n, line in enumerate(_script(directory, with_phone)):
        payloads.append(
            {
                "source": line.source,
                "native_id": f"{run_tag}-{n}",
                "kind": line.kind.value,
                "device_id": line.device_id,
                "occurred_at": (now - timedelta(minutes=line.minutes_ago)).isoformat(),
                "received_at": (now - timedelta(minutes=line.minutes_ago, seconds=-1)).isoformat(),
                "attributes": line.attributes,
            }
        )
    payloads.append(dict(payloads[2]))  # the phone pickup (or forced door) again: a reconnect replay
    payloads.append(
        {
            "source": "onvif:io-unknown",
            "native_id": f"{run_tag}-x",
            "kind": EventKind.PHONE_OFFHOOK.value,
            "device_id": "bl-unmapped",
            "occurred_at": (now - timedelta(minutes=1)).isoformat(),
        }
    )
    return payloads


class ScenarioSource:
    name = "scenario"

    def __init__(
        self, directory: SiteDirectory, now: datetime, run_tag: str, *, with_phone: bool = True
    ) -> None:
        self._payloads = scenario_events(directory, now, run_tag, with_phone=with_phone)
        self.outcomes: list[IngestOutcome] = []

    async def run(self, bus: EventSink) -> None:
        futures = [await bus.submit(p) for p in self._payloads]
        for future in futures:
            self.outcomes.append(await future)
