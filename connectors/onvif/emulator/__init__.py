"""An ONVIF device emulator: real SOAP 1.2 over aiohttp, one listening port per device.

It is a standalone test peer for the ONVIF connector, the benchmarks and a CLI command, so it
never imports ``vmsbridge``. Each :class:`EmulatedDevice` answers the Device, Media (ver10),
PTZ (ver20), Events (PullPoint), DeviceIO and Imaging services the way onvif-zeep-async expects,
checks WS-Security UsernameToken digests against its own (offsettable) clock, and can be made to
misbehave like real cameras through :class:`Quirks`.

Events are injected with :meth:`EmulatedDevice.fire` (or its wrappers) in process, or through
the JSON control surface under ``/control/`` on every device port. Everything here runs on the
event loop that started the emulator; call ``fire()`` and friends from that loop only.

Modules, one concern each: ``spec`` (devices and quirks), ``soap`` (XML, faults, envelopes),
``auth`` (WS-Security), ``topics`` (event topics and messages), ``state`` (a device's state),
``events`` (firing events), ``pullpoint`` (the Events service), ``device`` (Device and DeviceIO),
``media`` (Media and the clip/snapshot HTTP endpoints), ``ptz``, ``replay`` (Profile G: Search,
Recording, Replay), ``rtsp`` (the RTSP server: live and replay), ``rtp`` (packetization),
``clipframes`` (the clip read for RTP), ``control`` (the ``/control/``
surface) and ``server`` (:class:`EmulatedDevice` and :class:`OnvifEmulator`).

Names with a leading underscore are shared between this package's modules only; the names
re-exported here are its API.
"""

from connectors.onvif.emulator.auth import PRE_AUTH_OPERATIONS
from connectors.onvif.emulator.server import EmulatedDevice, OnvifEmulator
from connectors.onvif.emulator.soap import (
    CONCRETE_SET_DIALECT,
    NAMESPACES,
    SOAP_CONTENT_TYPE,
    SUBSCRIPTION_PATH,
    parse_duration,
)
from connectors.onvif.emulator.spec import (
    DOOR_ALARM_STATES,
    DOOR_PHYSICAL_STATES,
    HOSTILE_XML_KINDS,
    HUGE_RESPONSE_BYTES,
    DeviceSpec,
    ProfileSpec,
    Quirks,
    preset_position,
)
from connectors.onvif.emulator.topics import is_property_topic

__all__ = [
    "CONCRETE_SET_DIALECT",
    "DOOR_ALARM_STATES",
    "DOOR_PHYSICAL_STATES",
    "HOSTILE_XML_KINDS",
    "HUGE_RESPONSE_BYTES",
    "NAMESPACES",
    "PRE_AUTH_OPERATIONS",
    "SOAP_CONTENT_TYPE",
    "SUBSCRIPTION_PATH",
    "DeviceSpec",
    "EmulatedDevice",
    "OnvifEmulator",
    "ProfileSpec",
    "Quirks",
    "is_property_topic",
    "parse_duration",
    "preset_position",
]
