"""Well-known XProtect identifiers: built-in event types, state groups, event-type groups, alarm
states and priorities, and the tables the emulated configuration is built from.

Names with a leading underscore are shared by the emulator's modules only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

__all__ = [
    "COMMUNICATION_ERROR",
    "COMMUNICATION_STARTED",
    "COMMUNICATION_STATE_GROUP",
    "COMMUNICATION_STOPPED",
    "HARDWARE_COMMUNICATION_ERROR",
    "HARDWARE_COMMUNICATION_STARTED",
    "HARDWARE_COMMUNICATION_STATE_GROUP",
    "HARDWARE_COMMUNICATION_STOPPED",
    "INPUT_ACTIVATED",
    "INPUT_DEACTIVATED",
    "INPUT_STATE_GROUP",
    "MOTION_STARTED",
    "MOTION_STATE_GROUP",
    "MOTION_STOPPED",
    "OUTPUT_ACTIVATED",
    "OUTPUT_DEACTIVATED",
    "OUTPUT_STATE_GROUP",
    "RECORDING_STARTED",
    "RECORDING_STATE_GROUP",
    "RECORDING_STOPPED",
]

MOTION_STARTED: Final = "6eb95dd6-7ccc-4bce-99f8-af0d0b582d77"
MOTION_STOPPED: Final = "6f55a7a7-d21c-4629-ac18-af1975e395a2"
COMMUNICATION_STARTED: Final = "dd3e6464-7dc0-405a-a92f-6150587563e8"
COMMUNICATION_STOPPED: Final = "0ee90664-2924-42a0-a816-4129d0ecabdc"
COMMUNICATION_ERROR: Final = "a334af1c-4b4b-4957-9e5f-ab8ca07feab6"
# Hardware-level communication (source: the hardware, which carries the cameras).
HARDWARE_COMMUNICATION_STARTED: Final = "0553c396-5e16-4c22-b3d1-f548e42dfbb4"
HARDWARE_COMMUNICATION_STOPPED: Final = "63ea1f06-5a83-4f39-9fab-49959fde7b66"
HARDWARE_COMMUNICATION_ERROR: Final = "6baad64b-c395-4f52-b6a3-dd1b64aa2f0f"
RECORDING_STARTED: Final = "4577f552-765a-438c-bc7d-e5ff1f754bc3"
RECORDING_STOPPED: Final = "79a94f89-92de-4fca-8a43-5561d407423d"
INPUT_ACTIVATED: Final = "836ca458-a833-4742-8ee0-64b2380984bd"
INPUT_DEACTIVATED: Final = "8666e3dc-57a7-4f38-9611-51d774ee7358"
OUTPUT_ACTIVATED: Final = "7a78f5bb-d8c3-4997-89b7-cae72713b7db"
OUTPUT_DEACTIVATED: Final = "35742498-bcc5-4f0a-9800-827c9388d1cd"

# State groups (invented ids; a real server lists its own under /stateGroups).
MOTION_STATE_GROUP: Final = "e8e09b3a-85d3-4e96-9876-474289368894"
COMMUNICATION_STATE_GROUP: Final = "6bd5a0ae-f79f-4b98-97f9-b589cfc07b7e"
HARDWARE_COMMUNICATION_STATE_GROUP: Final = "c1d4b0f3-27e5-4d2b-8f6a-0b9e3a5d7c21"
RECORDING_STATE_GROUP: Final = "396d5cf2-7427-4ab7-ad37-83293d2ee428"
INPUT_STATE_GROUP: Final = "398dc5e9-0e4e-494d-aa47-75a0459880be"
OUTPUT_STATE_GROUP: Final = "28f76de5-b24a-46f4-8113-506f276d5648"

# Event type groups, as enumerated by the older Config REST spec.
_DEVICE_EVENTS_GROUP: Final = "1eacbcad-d566-4375-834b-cfbe3d937caa"
_EXTERNAL_EVENTS_GROUP: Final = "5946b6fa-44d9-4f4c-82bb-46a17b924265"
_EVENT_TYPE_GROUPS: Final = MappingProxyType(
    {_DEVICE_EVENTS_GROUP: "Device Events", _EXTERNAL_EVENTS_GROUP: "External Events"}
)

_STORAGE_ID: Final = "f6eb5abd-dfb9-467d-b2be-411841fe5d8f"
_HARDWARE_DRIVER_ID: Final = "647bd702-fae3-43d7-8645-d9f0e222ccd8"
_EMPTY_GUID: Final = "00000000-0000-0000-0000-000000000000"
_ID_NAMESPACE: Final = uuid.UUID("32659a1e-29fd-47c8-a211-d4dd53d3974a")


@dataclass(frozen=True)
class _Level:
    id: str
    name: str
    level: int

    def ref(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}

    def item(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "level": self.level}


_ALARM_STATES: Final = (
    _Level("9c883b33-137b-40a1-9130-0bafe0f98f63", "New", 1),
    _Level("21f09e98-4f8c-472e-9df1-d27a567b5c0a", "In progress", 4),
    _Level("ca28160d-73c8-4ea2-bc26-1ccd42bcac5b", "On hold", 9),
    _Level("dea19e1c-93e5-43b0-b21e-dae7030b5386", "Closed", 11),
)
_ALARM_PRIORITIES: Final = (
    _Level("8188ff24-b5da-4c19-9ebf-c1d8fc2caa75", "High", 1),
    _Level("9ad9338b-22ba-4f2e-bf62-e6948ae99bbf", "Medium", 2),
    _Level("34f1f987-6854-44fb-88a5-daa0add1e38a", "Low", 3),
)
_PRIORITY_NAMES: Final = frozenset(p.name for p in _ALARM_PRIORITIES)


@dataclass(frozen=True)
class _EventType:
    id: str
    name: str
    group: str
    generator_type: str
    generator_subtype: str
    source_array: tuple[str, ...]
    state_group: str = ""
    state: str = ""
    counter: str = ""
    built_in: bool = True


# Stateful device event types: (state group id, state group name, generator subtype, sourceArray,
# rows of (event type id, name, state, counter event type id)).
_DEVICE_EVENT_TABLE: Final = (
    (
        MOTION_STATE_GROUP,
        "Motion",
        "Camera",
        ("Camera",),
        (
            (MOTION_STARTED, "Motion Started", "Motion", MOTION_STOPPED),
            (MOTION_STOPPED, "Motion Stopped", "No Motion", MOTION_STARTED),
        ),
    ),
    (
        COMMUNICATION_STATE_GROUP,
        "Communication",
        "Device",
        ("Camera", "InputEvent", "Output"),
        (
            (COMMUNICATION_STARTED, "Communication Started", "Responding", COMMUNICATION_STOPPED),
            (COMMUNICATION_STOPPED, "Communication Stopped", "Not Responding", COMMUNICATION_STARTED),
            (COMMUNICATION_ERROR, "Communication Error", "Communication Error", COMMUNICATION_STARTED),
        ),
    ),
    (
        HARDWARE_COMMUNICATION_STATE_GROUP,
        "Hardware communication",
        "Hardware",
        ("Hardware",),
        (
            (
                HARDWARE_COMMUNICATION_STARTED,
                "Hardware Communication Started",
                "Responding",
                HARDWARE_COMMUNICATION_STOPPED,
            ),
            (
                HARDWARE_COMMUNICATION_STOPPED,
                "Hardware Communication Stopped",
                "Not Responding",
                HARDWARE_COMMUNICATION_STARTED,
            ),
            (
                HARDWARE_COMMUNICATION_ERROR,
                "Hardware Communication Error",
                "Communication Error",
                HARDWARE_COMMUNICATION_STARTED,
            ),
        ),
    ),
    (
        RECORDING_STATE_GROUP,
        "Recording",
        "Camera",
        ("Camera",),
        (
            (RECORDING_STARTED, "Recording Started", "Recording", RECORDING_STOPPED),
            (RECORDING_STOPPED, "Recording Stopped", "Not Recording", RECORDING_STARTED),
        ),
    ),
    (
        INPUT_STATE_GROUP,
        "Input",
        "InputEvent",
        ("InputEvent",),
        (
            (INPUT_ACTIVATED, "Input Activated", "Activated", INPUT_DEACTIVATED),
            (INPUT_DEACTIVATED, "Input Deactivated", "Deactivated", INPUT_ACTIVATED),
        ),
    ),
    (
        OUTPUT_STATE_GROUP,
        "Output",
        "Output",
        ("Output",),
        (
            (OUTPUT_ACTIVATED, "Output Activated", "Activated", OUTPUT_DEACTIVATED),
            (OUTPUT_DEACTIVATED, "Output Deactivated", "Deactivated", OUTPUT_ACTIVATED),
        ),
    ),
)
_BUILT_IN_EVENT_TYPES: Final = tuple(
    _EventType(type_id, name, _DEVICE_EVENTS_GROUP, "Device", subtype, sources, group, state, counter)
    for group, _, subtype, sources, rows in _DEVICE_EVENT_TABLE
    for type_id, name, state, counter in rows
)
# Which child collections exist under which parent, e.g. hardware/{id}/cameras.
# Source kinds an event, alarm definition or bookmark may refer to.
_SOURCE_KINDS: Final = ("cameras", "inputEvents", "outputs", "hardware", "userDefinedEvents")
