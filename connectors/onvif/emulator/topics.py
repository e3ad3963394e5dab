"""The event topics an emulated device offers: which are properties (carry state), the
notification message as sent, and the topic set GetEventProperties describes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from connectors.onvif.emulator.soap import CONCRETE_SET_DIALECT, _bool, _el, _format_time

__all__ = ["is_property_topic"]

# Topics whose messages describe a state rather than an instant (ONVIF "properties"): the device
# remembers the latest value and re-sends it as "Initialized" to new and re-synchronised pull points.
_PROPERTY_TOPICS: Final = frozenset(
    {
        "tns1:Device/Trigger/DigitalInput",
        "tns1:Device/Trigger/Relay",
        "tns1:VideoSource/MotionAlarm",
        "tns1:VideoSource/SignalLoss",
    }
)
_PROPERTY_TOPIC_PREFIXES: Final = (
    "tns1:Door/State/",
    "tns1:VideoSource/GlobalSceneChange/",
    "tns1:AccessPoint/State/",
)


def is_property_topic(topic: str) -> bool:
    """Whether ``topic`` (with the ``tns1:`` prefix) is an ONVIF property, i.e. carries state."""
    return topic in _PROPERTY_TOPICS or topic.startswith(_PROPERTY_TOPIC_PREFIXES)


@dataclass(frozen=True)
class _Notification:
    topic: str
    source: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]
    utc_time: datetime
    operation: str | None  # None for non-property events: PropertyOperation is then omitted

    def element(self) -> ET.Element:
        attrs = {"UtcTime": _format_time(self.utc_time)}
        if self.operation is not None:
            attrs["PropertyOperation"] = self.operation
        message = _el(
            "tt:Message",
            _items("tt:Source", self.source),
            _items("tt:Data", self.data),
            attrs=attrs,
        )
        return _el(
            "wsnt:NotificationMessage",
            _el("wsnt:Topic", self.topic, attrs={"Dialect": CONCRETE_SET_DIALECT}),
            _el("wsnt:Message", message),
        )


def _items(tag: str, items: tuple[tuple[str, str], ...]) -> ET.Element | None:
    if not items:
        return None
    return _el(tag, *(_el("tt:SimpleItem", attrs={"Name": n, "Value": v}) for n, v in items))


@dataclass(frozen=True)
class _TopicInfo:
    topic: str
    needs: str  # which DeviceSpec feature makes the device able to emit it
    source: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]


_TOPIC_CATALOG: Final = (
    _TopicInfo(
        "tns1:Device/Trigger/DigitalInput",
        "inputs",
        (("InputToken", "tt:ReferenceToken"),),
        (("LogicalState", "xs:boolean"),),
    ),
    _TopicInfo(
        "tns1:Device/Trigger/Relay",
        "relays",
        (("RelayToken", "tt:ReferenceToken"),),
        (("LogicalState", "tt:RelayLogicalState"),),
    ),
    _TopicInfo(
        "tns1:VideoSource/MotionAlarm",
        "video",
        (("Source", "tt:ReferenceToken"),),
        (("State", "xs:boolean"),),
    ),
    _TopicInfo(
        "tns1:VideoSource/SignalLoss", "video", (("Source", "tt:ReferenceToken"),), (("State", "xs:boolean"),)
    ),
    _TopicInfo(
        "tns1:VideoSource/GlobalSceneChange/ImagingService",
        "video",
        (("Source", "tt:ReferenceToken"),),
        (("State", "xs:boolean"),),
    ),
    _TopicInfo(
        "tns1:RuleEngine/CellMotionDetector/Motion",
        "video",
        (
            ("VideoSourceConfigurationToken", "tt:ReferenceToken"),
            ("VideoAnalyticsConfigurationToken", "tt:ReferenceToken"),
            ("Rule", "xs:string"),
        ),
        (("IsMotion", "xs:boolean"),),
    ),
    _TopicInfo(
        "tns1:Door/State/DoorAlarm",
        "doors",
        (("DoorToken", "pt:ReferenceToken"),),
        (("State", "tdc:DoorAlarmState"),),
    ),
    _TopicInfo(
        "tns1:Door/State/DoorPhysicalState",
        "doors",
        (("DoorToken", "pt:ReferenceToken"),),
        (("State", "tdc:DoorPhysicalState"),),
    ),
    _TopicInfo(
        "tns1:AccessControl/AccessGranted/Credential",
        "access_points",
        (("AccessPointToken", "pt:ReferenceToken"),),
        (("CredentialToken", "pt:ReferenceToken"),),
    ),
    _TopicInfo(
        "tns1:AccessControl/Denied/Credential",
        "access_points",
        (("AccessPointToken", "pt:ReferenceToken"),),
        (("CredentialToken", "pt:ReferenceToken"), ("Reason", "xs:string")),
    ),
)


def _topic_set(topics: Iterable[_TopicInfo]) -> ET.Element:
    """A wstop:TopicSet: one nested element per topic path segment, leaves marked as topics."""
    root = _el("wstop:TopicSet")
    for info in topics:
        parent = root
        segments = info.topic.removeprefix("tns1:").split("/")
        for depth, segment in enumerate(segments):
            tag = f"tns1:{segment}"
            node = next((c for c in parent if c.tag == tag), None)
            if node is None:
                node = _el(tag)
                parent.append(node)
            parent = node
            if depth == len(segments) - 1:
                node.set("wstop:topic", "true")
                description = _el(
                    "tt:MessageDescription",
                    _descriptions("tt:Source", info.source),
                    _descriptions("tt:Data", info.data),
                    attrs={"IsProperty": _bool(is_property_topic(info.topic))},
                )
                node.append(description)
    return root


def _descriptions(tag: str, items: tuple[tuple[str, str], ...]) -> ET.Element:
    return _el(tag, *(_el("tt:SimpleItemDescription", attrs={"Name": n, "Type": t}) for n, t in items))
