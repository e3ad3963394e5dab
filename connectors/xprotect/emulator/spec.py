"""What an emulated XProtect site has (cameras, inputs, outputs, user-defined events, alarm
definitions) and how its gateway misbehaves (:class:`Quirks`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from connectors.emulation import SwitchableQuirks
from connectors.xprotect.emulator.ids import _PRIORITY_NAMES

__all__ = [
    "AlarmDefinitionSpec",
    "CameraSpec",
    "InputSpec",
    "OutputSpec",
    "Quirks",
    "UserEventSpec",
    "XProtectSpec",
]


def _require_text(owner: str, **values: str) -> None:
    for name, value in values.items():
        if not isinstance(value, str) or not value:
            raise ValueError(f"{owner} needs a non-empty {name}, got {value!r}")


@dataclass
class CameraSpec:
    """One camera; ``ptz_presets`` maps preset id to name."""

    id: str
    name: str
    hardware_id: str
    enabled: bool = True
    ptz_presets: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require_text("CameraSpec", id=self.id, name=self.name, hardware_id=self.hardware_id)


@dataclass
class InputSpec:
    """One digital input (REST ``inputEvents``)."""

    id: str
    name: str
    hardware_id: str
    enabled: bool = True

    def __post_init__(self) -> None:
        _require_text("InputSpec", id=self.id, name=self.name, hardware_id=self.hardware_id)


@dataclass
class OutputSpec:
    """One output (relay)."""

    id: str
    name: str
    hardware_id: str

    def __post_init__(self) -> None:
        _require_text("OutputSpec", id=self.id, name=self.name, hardware_id=self.hardware_id)


@dataclass
class UserEventSpec:
    """One user-defined event; its id is also its event type id."""

    id: str
    name: str

    def __post_init__(self) -> None:
        _require_text("UserEventSpec", id=self.id, name=self.name)


@dataclass
class AlarmDefinitionSpec:
    """An alarm definition: ``event_type`` from a source in ``source_ids`` raises an alarm."""

    id: str
    name: str
    event_type: str
    source_ids: list[str]
    related_cameras: list[str]
    priority: str = "High"

    def __post_init__(self) -> None:
        _require_text("AlarmDefinitionSpec", id=self.id, name=self.name, event_type=self.event_type)
        if self.priority not in _PRIORITY_NAMES:
            raise ValueError(
                f"alarm definition {self.id!r}: priority must be one of {sorted(_PRIORITY_NAMES)}, "
                f"got {self.priority!r}"
            )


@dataclass
class XProtectSpec:
    """What the emulated site has. Hardware is derived: one item per distinct ``hardware_id``, all
    on a single recording server of the single site."""

    cameras: list[CameraSpec]
    inputs: list[InputSpec] = field(default_factory=list)
    outputs: list[OutputSpec] = field(default_factory=list)
    user_defined_events: list[UserEventSpec] = field(default_factory=list)
    alarm_definitions: list[AlarmDefinitionSpec] = field(default_factory=list)
    version: str = "24.2.0"
    site_name: str = "Emulated site"

    def __post_init__(self) -> None:
        device_ids = [
            *(c.id for c in self.cameras),
            *(i.id for i in self.inputs),
            *(o.id for o in self.outputs),
            *(u.id for u in self.user_defined_events),
            *self.hardware_ids(),
        ]
        duplicates = sorted({i for i in device_ids if device_ids.count(i) > 1})
        if duplicates:
            raise ValueError(
                f"ids must be unique across cameras, inputs, outputs, user-defined events and "
                f"hardware: {duplicates}"
            )
        definition_ids = [d.id for d in self.alarm_definitions]
        if len(set(definition_ids)) != len(definition_ids):
            raise ValueError(f"alarm definition ids must be unique: {definition_ids}")
        known = set(device_ids)
        cameras = {c.id for c in self.cameras}
        for definition in self.alarm_definitions:
            unknown = sorted(set(definition.source_ids) - known)
            if unknown:
                raise ValueError(f"alarm definition {definition.id!r} names unknown sources {unknown}")
            unknown = sorted(set(definition.related_cameras) - cameras)
            if unknown:
                raise ValueError(f"alarm definition {definition.id!r} names unknown cameras {unknown}")
        for camera in self.cameras:
            for preset_id, name in camera.ptz_presets.items():
                _require_text(f"preset of camera {camera.id!r}", id=preset_id, name=name)

    def hardware_ids(self) -> list[str]:
        """Distinct hardware ids in order of first appearance (cameras, inputs, outputs)."""
        ids = [c.hardware_id for c in self.cameras] + [i.hardware_id for i in self.inputs]
        ids += [o.hardware_id for o in self.outputs]
        return list(dict.fromkeys(ids))


@dataclass
class Quirks(SwitchableQuirks):
    """Real-world misbehaviour, all off by default; tests flip fields at run time.

    Gateway behaviours seen in the field (see the README's XProtect interop section):
    ``no_ptz_preset_task`` offers no task for going to a PTZ preset (servers before 2024 R2);
    ``alarm_levels_as_ids`` sends an alarm's ``state`` and ``priority`` as bare GUIDs, with no
    names (they are in ``/alarmStates`` and ``/alarmPriorities``); ``alarm_source_from_event``
    makes an alarm raised by an alarm definition name the event's source (an input, output or
    user-defined event) rather than a related camera.
    """

    delay_seconds: float = 0.0
    fail_tasks: bool = False
    http_500: bool = False
    malformed_json: bool = False
    no_ptz_preset_task: bool = False
    alarm_levels_as_ids: bool = False
    alarm_source_from_event: bool = False

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "delay_seconds":
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ValueError(f"delay_seconds must be a number >= 0, got {value!r}")
                self.delay_seconds = float(value)
            elif not isinstance(value, bool):
                raise ValueError(f"{f.name} must be a bool, got {value!r}")
