"""What a rule is, as written in the site file: a trigger, optional conditions, and actions.

```toml
[rules]
templates = ["blue_light_callup", "door_forced"]     # built-ins, switched on by name

[[rules.custom]]
name = "three denied badges"
on = ["access.denied"]
count = { at_least = 3, within_seconds = 60 }         # at the same door
actions = [
  { type = "open_incident", priority = "medium", summary = "Repeated denied badges at {device_name}" },
  { type = "capture_clip", pre_seconds = 60, post_seconds = 30 },
]
```

The models are strict (unknown keys are errors with their key path) and frozen, so a rule set
that passed validation is the rule set that runs.
"""

from __future__ import annotations

__all__ = [
    "TEMPLATE_NAMES",
    "Action",
    "CaptureClip",
    "CountCondition",
    "DraftNotification",
    "NotifyOperator",
    "OpenIncident",
    "PtzGoto",
    "Rule",
    "RulesConfig",
    "UnlessCondition",
    "XProtectAlarm",
    "XProtectUserEvent",
]

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vmsbridge.model import EventKind, Priority

RuleName = Annotated[str, Field(min_length=1, max_length=80)]
Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")]
TemplateName = Literal[
    "blue_light_callup", "door_forced", "access_denied_burst", "camera_down_during_incident"
]
TEMPLATE_NAMES: tuple[TemplateName, ...] = get_args(TemplateName)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class UnlessCondition(_Spec):
    """Do not fire if an event of ``kind`` came from the same device (or location) just before."""

    kind: EventKind
    within_seconds: float = Field(gt=0, le=3_600)
    same: Literal["device", "location"] = "device"


class CountCondition(_Spec):
    """Fire only when at least ``at_least`` matching events arrived within the window."""

    at_least: int = Field(ge=2, le=1_000)
    within_seconds: float = Field(gt=0, le=86_400)
    same: Literal["device", "location"] = "device"


class PtzGoto(_Spec):
    type: Literal["ptz_goto"]
    camera: Ident | Literal["phone"] = Field(
        "phone", description="a camera id, or 'phone': the camera and preset that cover the phone"
    )
    preset: str | None = Field(None, description="preset name (required with a camera id)")
    settle_seconds: float = Field(10, gt=0, le=120, description="how long to wait for the move to finish")


class CaptureClip(_Spec):
    type: Literal["capture_clip"]
    cameras: Literal["related", "nearest"] | list[Ident] = Field(
        "related", description="'related': the cameras that cover the device; 'nearest': the first of them"
    )
    pre_seconds: float = Field(30, ge=0, le=3_600)
    post_seconds: float = Field(60, ge=0, le=3_600)
    wait_seconds: float = Field(
        120,
        gt=0,
        le=3_600,
        description="how long to wait for the clip beyond its end before calling it missing",
    )
    analyze: bool = Field(True, description="run motion analytics on the clip and attach the report")
    redact: bool = Field(True, description="attach a privacy-redacted derivative")


class OpenIncident(_Spec):
    type: Literal["open_incident"]
    priority: Priority = Priority.HIGH
    summary: str = Field("{label}: {device_name}", min_length=1, max_length=300)


class XProtectAlarm(_Spec):
    type: Literal["xprotect_alarm"]
    connector: Ident | None = Field(
        None, description="id of a connector that offers alarms, e.g. XProtect (default: the only one)"
    )
    name: str = Field("{label}: {device_name}", min_length=1, max_length=200)
    message: str = Field("vmsbridge rule {rule} at {location_name}", max_length=1_000)
    priority: str | None = Field(None, description="XProtect alarm priority name, e.g. 'High'")
    retry_seconds: float = Field(
        600, gt=0, le=86_400, description="keep retrying an unreachable VMS this long before giving up"
    )


class XProtectUserEvent(_Spec):
    type: Literal["xprotect_user_event"]
    connector: Ident | None = None
    event: str = Field(min_length=1, description="id of the user-defined event to trigger")


class NotifyOperator(_Spec):
    type: Literal["notify_operator"]
    channel: Literal["log", "webhook"] = "log"
    url: str | None = Field(None, pattern=r"^https?://", description="webhook URL (channel = 'webhook')")
    message: str = Field("{label} at {location_name} ({device_name})", max_length=1_000)

    @model_validator(mode="after")
    def _url_for_webhook(self) -> NotifyOperator:
        if self.channel == "webhook" and not self.url:
            raise ValueError("channel 'webhook' needs 'url'")
        return self


class DraftNotification(_Spec):
    """Prepares a timely-warning or emergency-notification draft; a person still has to approve it."""

    type: Literal["draft_notification"]
    kind: Literal["timely_warning", "emergency"] = "timely_warning"


Action = Annotated[
    PtzGoto
    | CaptureClip
    | OpenIncident
    | XProtectAlarm
    | XProtectUserEvent
    | NotifyOperator
    | DraftNotification,
    Field(discriminator="type"),
]


class Rule(_Spec):
    name: RuleName
    on: list[EventKind] = Field(min_length=1, description="event kinds that trigger the rule")
    devices: list[Ident] = Field(default_factory=list, description="only these devices (default: any)")
    locations: list[Ident] = Field(default_factory=list, description="only at these locations (default: any)")
    unless: UnlessCondition | None = None
    count: CountCondition | None = None
    during_open_incident: bool = Field(
        False, description="only while the event's location already has an open incident"
    )
    cooldown_seconds: float = Field(
        60, ge=0, le=86_400, description="one firing per device in this time (re-synced duplicates)"
    )
    max_age_seconds: float = Field(
        300,
        gt=0,
        le=86_400,
        description="events older than this when seen (a replay after an outage) do not fire",
    )
    actions: list[Action] = Field(min_length=1)

    @model_validator(mode="after")
    def _ptz_camera_needs_preset(self) -> Rule:
        for action in self.actions:
            if isinstance(action, PtzGoto) and action.camera != "phone" and action.preset is None:
                raise ValueError(f"ptz_goto with camera {action.camera!r} needs 'preset'")
        return self


class TemplateOptions(_Spec):
    """Per-site adjustments of a built-in template's clip window."""

    pre_seconds: float | None = Field(None, ge=0, le=3_600)
    post_seconds: float | None = Field(None, ge=0, le=3_600)


class RulesConfig(_Spec):
    templates: list[TemplateName] = Field(
        default_factory=list, description=f"built-in rules to switch on: {', '.join(TEMPLATE_NAMES)}"
    )
    clip: TemplateOptions = TemplateOptions()
    custom: list[Rule] = Field(default_factory=list)
    max_concurrent_firings: int = Field(
        64, ge=1, description="firings whose actions run at once; later ones wait their turn, none is dropped"
    )
