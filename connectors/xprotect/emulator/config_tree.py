"""The configuration an emulated site's gateway serves over Config REST: site, recording server,
hardware, devices, user-defined events, event types and groups, state groups and alarm
definitions, each item in the shape and with the relations XProtect gives it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.xprotect.emulator.ids import (
    _ALARM_PRIORITIES,
    _DEVICE_EVENT_TABLE,
    _EMPTY_GUID,
    _EVENT_TYPE_GROUPS,
    _HARDWARE_DRIVER_ID,
    _SOURCE_KINDS,
    _STORAGE_ID,
    _EventType,
)
from connectors.xprotect.emulator.rest import _ref
from connectors.xprotect.emulator.spec import AlarmDefinitionSpec, XProtectSpec

__all__ = ["build_config"]


def build_config(
    spec: XProtectSpec, *, stamp: str, site_id: str, recorder_id: str, known_types: Mapping[str, _EventType]
) -> dict[str, dict[str, dict[str, Any]]]:
    """The Config REST items of ``spec`` by kind and id, as the gateway lists them."""
    site = {
        "displayName": spec.site_name,
        "id": site_id,
        "name": spec.site_name,
        "description": "Emulated XProtect site",
        "lastModified": stamp,
        "version": spec.version,
        "timeZone": "UTC",
        "computerName": "emulated-management",
        "relations": {"self": _ref("sites", site_id)},
    }
    recorder_name = f"{spec.site_name} recording server"
    recorder = {
        "displayName": recorder_name,
        "enabled": True,
        "id": recorder_id,
        "name": recorder_name,
        "description": "",
        "lastModified": stamp,
        "hostName": "emulated-recorder",
        "portNumber": 7563,
        "webServerUri": "http://emulated-recorder:7563/",
        "timeZoneName": "UTC",
        "relations": {
            "self": _ref("recordingServers", recorder_id),
            "parent": _ref("sites", site_id),
        },
    }
    hardware: dict[str, dict[str, Any]] = {}
    for index, hw_id in enumerate(spec.hardware_ids(), start=1):
        address = f"192.0.2.{(index - 1) % 254 + 1}"
        name = f"EmuCam {index} ({address})"
        hardware[hw_id] = {
            "displayName": name,
            "enabled": True,
            "id": hw_id,
            "name": name,
            "description": "",
            "address": f"http://{address}/",
            "userName": "root",
            "model": "Emulated IP camera",
            "lastModified": stamp,
            "passwordLastModified": stamp,
            "hardwareDriverPath": _ref("hardwareDrivers", _HARDWARE_DRIVER_ID),
            "relations": {
                "self": _ref("hardware", hw_id),
                "parent": _ref("recordingServers", recorder_id),
            },
        }
    channels: dict[tuple[str, str], int] = {}

    def device(kind: str, item_id: str, name: str, hw_id: str, enabled: bool) -> dict[str, Any]:
        channel = channels.get((kind, hw_id), 0)
        channels[(kind, hw_id)] = channel + 1
        return {
            "displayName": name,
            "enabled": enabled,
            "id": item_id,
            "name": name,
            "channel": channel,
            "description": "",
            "createdDate": stamp,
            "lastModified": stamp,
            "gisPoint": "POINT EMPTY",
            "shortName": name,
            "icon": 0,
            "coverageDirection": 0.0,
            "coverageDepth": 0.0,
            "coverageFieldOfView": 0.0,
            "relations": {"self": _ref(kind, item_id), "parent": _ref("hardware", hw_id)},
        }

    cameras = {}
    for camera in spec.cameras:
        item = device("cameras", camera.id, camera.name, camera.hardware_id, camera.enabled)
        item.update(
            {
                "recordingFramerate": 5,
                "recordKeyframesOnly": False,
                "recordOnRelatedDevices": True,
                "recordingEnabled": True,
                "prebufferEnabled": True,
                "prebufferInMemory": True,
                "prebufferSeconds": 3,
                "edgeStorageEnabled": False,
                "edgeStoragePlaybackEnabled": False,
                "manualRecordingTimeoutEnabled": True,
                "manualRecordingTimeoutMinutes": 5,
                "recordingStorage": _ref("storages", _STORAGE_ID),
            }
        )
        cameras[camera.id] = item
    inputs = {i.id: device("inputEvents", i.id, i.name, i.hardware_id, i.enabled) for i in spec.inputs}
    outputs = {o.id: device("outputs", o.id, o.name, o.hardware_id, True) for o in spec.outputs}
    udes = {
        u.id: {
            "displayName": u.name,
            "id": u.id,
            "name": u.name,
            "createdDate": stamp,
            "lastModified": stamp,
            "subtype": "UserDefined",
            "relations": {
                "self": _ref("userDefinedEvents", u.id),
                "parent": _ref("sites", site_id),
            },
        }
        for u in spec.user_defined_events
    }
    event_types = {info.id: _event_type_item(info, stamp) for info in known_types.values()}
    groups = {
        group_id: {
            "displayName": name,
            "id": group_id,
            "name": name,
            "lastModified": stamp,
            "relations": {"self": _ref("eventTypeGroups", group_id)},
        }
        for group_id, name in _EVENT_TYPE_GROUPS.items()
    }
    state_groups = {
        group_id: {
            "displayName": name,
            "id": group_id,
            "name": name,
            "states": [state for _, _, state, _ in rows],
            "lastModified": stamp,
            "relations": {"self": _ref("stateGroups", group_id)},
        }
        for group_id, name, _, _, rows in _DEVICE_EVENT_TABLE
    }
    config: dict[str, dict[str, dict[str, Any]]] = {
        "sites": {site_id: site},
        "recordingServers": {recorder_id: recorder},
        "hardware": hardware,
        "cameras": cameras,
        "inputEvents": inputs,
        "outputs": outputs,
        "userDefinedEvents": udes,
        "eventTypeGroups": groups,
        "eventTypes": event_types,
        "stateGroups": state_groups,
    }
    config["alarmDefinitions"] = {
        d.id: _alarm_definition_item(d, config, stamp=stamp, site_id=site_id, known_types=known_types)
        for d in spec.alarm_definitions
    }
    return config


def _event_type_item(info: _EventType, stamp: str) -> dict[str, Any]:
    return {
        "displayName": info.name,
        "id": info.id,
        "name": info.name,
        "description": "",
        "lastModified": stamp,
        "generatorType": info.generator_type,
        "generatorSubtype": info.generator_subtype,
        "generatorName": info.generator_subtype,
        "generatorGroupName": _EVENT_TYPE_GROUPS[info.group],
        "occursGlobally": False,
        "builtIn": info.built_in,
        "counterEventID": info.counter,
        "sourceArray": list(info.source_array),
        "stateGroupId": info.state_group,
        "state": info.state,
        "relations": {
            "self": _ref("eventTypes", info.id),
            "parent": _ref("eventTypeGroups", info.group),
        },
    }


def _alarm_definition_item(
    definition: AlarmDefinitionSpec,
    config: Mapping[str, Mapping[str, Any]],
    *,
    stamp: str,
    site_id: str,
    known_types: Mapping[str, _EventType],
) -> dict[str, Any]:
    def source_ref(item_id: str) -> dict[str, str]:
        kind = next(k for k in _SOURCE_KINDS if item_id in config[k])
        return _ref(kind, item_id)

    info = known_types.get(definition.event_type.lower())
    priority = next(p for p in _ALARM_PRIORITIES if p.name == definition.priority)
    return {
        "enabled": True,
        "displayName": definition.name,
        "id": definition.id,
        "name": definition.name,
        "description": "",
        "eventTypeGroup": info.group if info is not None else _EMPTY_GUID,
        "eventType": definition.event_type,
        "sourceList": [source_ref(s) for s in definition.source_ids],
        "enableRule": "0",
        "managementTimeoutTime": "00:01:00",
        "managementTimeoutEventList": [],
        "relatedCameraList": [_ref("cameras", c) for c in definition.related_cameras],
        "mapType": "0",
        "relatedMap": _EMPTY_GUID,
        "owner": "",
        "priority": priority.id,
        "category": _EMPTY_GUID,
        "triggerEventlist": [],
        "autoClose": False,
        "lastModified": stamp,
        "relations": {
            "self": _ref("alarmDefinitions", definition.id),
            "parent": _ref("sites", site_id),
        },
    }
