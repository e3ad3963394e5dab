"""The built-in rules a site switches on by name, and the full rule set a site runs."""

from __future__ import annotations

__all__ = ["active_rules", "template_rule"]

from typing import Any

from vmsbridge.config.rules import Rule, RulesConfig, TemplateName
from vmsbridge.model import EventKind, Priority

# Each template as the same plain data a site file would hold, so a template reads like a rule a
# site could have written itself and passes the same validation.
_TEMPLATES: dict[str, dict[str, Any]] = {
    "blue_light_callup": {
        "name": "blue_light_callup",
        "on": [EventKind.PHONE_OFFHOOK],
        "actions": [
            {"type": "ptz_goto", "camera": "phone"},
            {"type": "xprotect_alarm", "name": "Blue-light call: {device_name}", "priority": "High"},
            # The camera just aimed at the caller; if it cannot deliver, the next one covering the phone.
            {"type": "capture_clip", "cameras": "nearest", "pre_seconds": 30, "post_seconds": 60},
            {
                "type": "open_incident",
                "priority": Priority.HIGH,
                "summary": "Blue-light phone picked up: {device_name}",
            },
        ],
    },
    "door_forced": {
        "name": "door_forced",
        "on": [EventKind.DOOR_FORCED],
        # A door opened right after a valid badge is a slow door sensor, not a break-in.
        "unless": {"kind": EventKind.ACCESS_GRANTED, "within_seconds": 10, "same": "device"},
        "actions": [
            {"type": "capture_clip", "cameras": "related", "pre_seconds": 30, "post_seconds": 60},
            {"type": "xprotect_alarm", "name": "Door forced: {device_name}", "priority": "High"},
            {
                "type": "open_incident",
                "priority": Priority.HIGH,
                "summary": "Door forced open: {device_name}",
            },
        ],
    },
    "access_denied_burst": {
        "name": "access_denied_burst",
        "on": [EventKind.ACCESS_DENIED],
        "count": {"at_least": 3, "within_seconds": 60, "same": "device"},
        "actions": [
            {"type": "notify_operator", "message": "Repeated denied badges at {device_name}"},
            {"type": "capture_clip", "cameras": "related", "pre_seconds": 60, "post_seconds": 30},
            {
                "type": "open_incident",
                "priority": Priority.MEDIUM,
                "summary": "Repeated denied badges: {device_name}",
            },
        ],
    },
    "camera_down_during_incident": {
        "name": "camera_down_during_incident",
        "on": [
            EventKind.CAMERA_COMM_LOST,
            EventKind.CAMERA_SIGNAL_LOSS,
            EventKind.CAMERA_TAMPER,
            EventKind.CAMERA_OFFLINE,
        ],
        "during_open_incident": True,
        "actions": [
            {
                "type": "notify_operator",
                "message": "{device_name} stopped working during an open incident at {location_name}",
            },
            {"type": "open_incident", "priority": Priority.HIGH, "summary": "{label}: {device_name}"},
        ],
    },
}


def template_rule(name: TemplateName, options: RulesConfig, raises_alarms: bool) -> Rule:
    """The template ``name`` with the site's clip options; ``raises_alarms``: some configured
    connector offers alarms (``vmsbridge.capabilities.ALARMS``)."""
    data = dict(_TEMPLATES[name])
    actions = []
    for action in data["actions"]:
        if action["type"] == "xprotect_alarm" and not raises_alarms:
            continue  # nothing to raise it in: the rest of the template still applies
        if action["type"] == "capture_clip":
            action = dict(action)
            if options.clip.pre_seconds is not None:
                action["pre_seconds"] = options.clip.pre_seconds
            if options.clip.post_seconds is not None:
                action["post_seconds"] = options.clip.post_seconds
        actions.append(action)
    data["actions"] = actions
    return Rule.model_validate(data)


def active_rules(config: RulesConfig, raises_alarms: bool) -> list[Rule]:
    """The templates switched on, then the site's own rules, in that order; ``raises_alarms``:
    some configured connector offers alarms."""
    return [template_rule(name, config, raises_alarms) for name in config.templates] + list(config.custom)
