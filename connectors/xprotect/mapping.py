"""What XProtect events mean, and which site device each one is about.

Event types are resolved by name through the server's ``eventTypes`` list at start; the well-known
GUIDs below are the fallback when a server names things differently. Sources are REST paths
(``cameras/<id>``, ``inputEvents/<id>``, ``hardware/<id>``, ``userDefinedEvents/<id>``).
"""

from __future__ import annotations

__all__ = ["XProtectMap", "to_events", "vms_time"]

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.xprotect.client import Inventory
from connectors.xprotect.config import XProtectSource
from vmsbridge.config import SiteDirectory
from vmsbridge.model import Event, EventKind
from vmsbridge.model.devicetime import DeviceTime, date_event

K = EventKind

WELL_KNOWN: dict[str, EventKind] = {
    "6eb95dd6-7ccc-4bce-99f8-af0d0b582d77": K.MOTION_START,
    "6f55a7a7-d21c-4629-ac18-af1975e395a2": K.MOTION_STOP,
    "dd3e6464-7dc0-405a-a92f-6150587563e8": K.CAMERA_COMM_RESTORED,
    "0ee90664-2924-42a0-a816-4129d0ecabdc": K.CAMERA_COMM_LOST,
    "a334af1c-4b4b-4957-9e5f-ab8ca07feab6": K.CAMERA_COMM_LOST,
    "4577f552-765a-438c-bc7d-e5ff1f754bc3": K.CAMERA_RECORDING_STARTED,
    "79a94f89-92de-4fca-8a43-5561d407423d": K.CAMERA_RECORDING_STOPPED,
    "836ca458-a833-4742-8ee0-64b2380984bd": K.INPUT_ACTIVE,
    "8666e3dc-57a7-4f38-9611-51d774ee7358": K.INPUT_INACTIVE,
}

BY_NAME: dict[str, EventKind] = {
    "motion started": K.MOTION_START,
    "motion stopped": K.MOTION_STOP,
    "communication started": K.CAMERA_COMM_RESTORED,
    "communication stopped": K.CAMERA_COMM_LOST,
    "communication error": K.CAMERA_COMM_LOST,
    "recording started": K.CAMERA_RECORDING_STARTED,
    "recording stopped": K.CAMERA_RECORDING_STOPPED,
    "input activated": K.INPUT_ACTIVE,
    "input deactivated": K.INPUT_INACTIVE,
    "output activated": K.RELAY_ACTIVE,
    "output deactivated": K.RELAY_INACTIVE,
}

MAX_DATA_CHARS = 4_000


@dataclass(frozen=True)
class Reconciliation:
    """Cameras the VMS has that the site does not know, and site cameras the VMS does not have."""

    vms_only: list[tuple[str, str]]  # (VMS camera id, VMS name)
    site_only: list[tuple[str, str]]  # (site camera id, configured VMS camera id)


class XProtectMap:
    def __init__(self, connector: XProtectSource, directory: SiteDirectory) -> None:
        site = directory.site
        self.connector_id = connector.id
        self.source = f"xprotect:{connector.id}"
        self.fallback_device = connector.id
        self.cameras = {
            str(c.source.camera_id).lower(): c.id
            for c in site.cameras
            if c.source.connector == connector.id and c.source.camera_id
        }
        # Cameras the bridge controls directly that the VMS also records (ids are GUIDs: unique).
        self.cameras |= {str(c.vms_camera_id).lower(): c.id for c in site.cameras if c.vms_camera_id}
        self.inputs = {
            i.token.lower(): (i.device, i.active, i.inactive)
            for m in site.io_modules
            if m.connector == connector.id
            for i in m.inputs
        }
        self.output_owner = next((m.id for m in site.io_modules if m.connector == connector.id), None)
        self.kinds: dict[str, EventKind] = dict(WELL_KNOWN)
        self.type_names: dict[str, str] = {}
        self.user_events: set[str] = set()
        self.cameras_of_hardware: dict[str, list[str]] = {}

    def learn(self, inventory: Inventory) -> None:
        for type_id, item in inventory.event_types.items():
            name = str(item.get("name") or item.get("displayName") or "")
            self.type_names[type_id.lower()] = name
            if kind := BY_NAME.get(name.strip().lower()):
                self.kinds[type_id.lower()] = kind
        self.user_events = {u.lower() for u in inventory.user_defined_events}
        for camera_id, item in inventory.cameras.items():
            parent = ((item.get("relations") or {}).get("parent") or {}).get("id")
            if parent:
                self.cameras_of_hardware.setdefault(str(parent).lower(), []).append(camera_id.lower())

    def reconcile(self, inventory: Inventory) -> Reconciliation:
        vms = {
            cid.lower(): str(item.get("name") or item.get("displayName") or cid)
            for cid, item in inventory.cameras.items()
        }
        vms_only = sorted((cid, name) for cid, name in vms.items() if cid not in self.cameras)
        site_only = sorted((site_id, vms_id) for vms_id, site_id in self.cameras.items() if vms_id not in vms)
        return Reconciliation(vms_only, site_only)

    def kind_of(self, event_type: str) -> EventKind:
        key = event_type.lower()
        if key in self.kinds:
            return self.kinds[key]
        if key in self.user_events:
            return K.VMS_USER_EVENT
        return K.VMS_UNKNOWN

    def subjects(self, source: str, kind: EventKind) -> list[tuple[str, EventKind, dict[str, str]]]:
        """(site device, kind, notes) for each site device an event from ``source`` concerns."""
        resource, _, item = source.partition("/")
        item = item.lower()
        if resource == "cameras" and item in self.cameras:
            return [(self.cameras[item], kind, {})]
        if resource == "hardware" and item in self.cameras_of_hardware:
            mapped = [self.cameras[c] for c in self.cameras_of_hardware[item] if c in self.cameras]
            if mapped:
                return [(device, kind, {"hardware": item}) for device in mapped]
        if resource == "inputEvents" and item in self.inputs:
            device, active, inactive = self.inputs[item]
            if kind is K.INPUT_ACTIVE:
                return [(device, active, {})]
            if kind is K.INPUT_INACTIVE:
                return [(device, inactive or K.INPUT_INACTIVE, {})]
            return [(device, kind, {})]
        if resource == "outputs" and self.output_owner:
            return [(self.output_owner, kind, {"output": item})]
        return [(self.fallback_device, kind, {"unmapped_source": source} if source else {})]


def vms_time(sent: object, received_at: datetime) -> DeviceTime:
    """When an event happened that the VMS timed ``sent`` (its ``time`` field) and we received at
    ``received_at``; a time not to be believed is kept as sent (see :mod:`vmsbridge.model.devicetime`)."""
    if sent is None or sent == "":
        return date_event(None, received_at)
    text = str(sent)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return date_event(text, received_at)
    return date_event(parsed, received_at, as_sent=text)


def to_events(device_map: XProtectMap, raw: dict[str, Any], *, received_at: datetime) -> list[Event]:
    """Core events for one pushed ESS event (several for a hardware-level event)."""
    event_id = str(raw["id"])
    event_type = str(raw.get("type", ""))
    source = str(raw.get("source", ""))
    kind = device_map.kind_of(event_type)
    when = vms_time(raw.get("time"), received_at)
    attributes: dict[str, Any] = {
        "type": device_map.type_names.get(event_type.lower(), event_type),
        "vms_source": source,
        **when.attributes,
    }
    if isinstance(raw.get("data"), dict | list):
        text = json.dumps(raw["data"])
        attributes["data"] = (
            raw["data"] if len(text) <= MAX_DATA_CHARS else {"truncated": text[:MAX_DATA_CHARS]}
        )
    keep_raw = json.dumps(raw)[:32_768] if kind is K.VMS_UNKNOWN else None
    subjects = device_map.subjects(source, kind)
    return [
        Event(
            source=device_map.source,
            native_id=event_id if len(subjects) == 1 else f"{event_id}:{device}",
            kind=subject_kind,
            device_id=device,
            occurred_at=when.occurred_at,
            received_at=received_at,
            attributes={**attributes, **notes},
            raw=keep_raw,
        )
        for device, subject_kind, notes in subjects
    ]
