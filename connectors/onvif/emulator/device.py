"""The Device and DeviceIO services of an emulated device: time, services and capabilities,
identity, relays and digital inputs.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from connectors.onvif.emulator.events import EventTriggers
from connectors.onvif.emulator.soap import (
    _SERVICES,
    _Call,
    _children,
    _el,
    _Handler,
    _invalid_arg,
    _SoapFault,
    _text,
)

__all__ = ["DeviceService"]


class DeviceService(EventTriggers):
    """Device management and DeviceIO operations."""

    async def _get_system_date_and_time(self, call: _Call) -> ET.Element:
        now = self.device_now()

        def date_time(tag: str) -> ET.Element:
            time = _el("tt:Time", _el("tt:Hour", str(now.hour)), _el("tt:Minute", str(now.minute)))
            time.append(_el("tt:Second", str(now.second)))
            date = _el("tt:Date", _el("tt:Year", str(now.year)), _el("tt:Month", str(now.month)))
            date.append(_el("tt:Day", str(now.day)))
            return _el(tag, time, date)

        value = _el(
            "tds:SystemDateAndTime",
            _el("tt:DateTimeType", "NTP"),
            _el("tt:DaylightSavings", "false"),
            _el("tt:TimeZone", _el("tt:TZ", "UTC0")),
            date_time("tt:UTCDateTime"),
            date_time("tt:LocalDateTime"),
        )
        return _el("tds:GetSystemDateAndTimeResponse", value)

    def _has_ptz(self) -> bool:
        return any(p.ptz for p in self.spec.profiles)

    def _xaddr(self, call: _Call, service: str) -> str:
        return call.base_url + _SERVICES[service][1]

    async def _get_services(self, call: _Call) -> ET.Element:
        include = (_text(call.body, "IncludeCapability") or "false").lower() in ("true", "1")
        response = _el("tds:GetServicesResponse")
        for key, (namespace, _, (major, minor)) in _SERVICES.items():
            if key == "ptz" and not self._has_ptz():
                continue
            if key in ("search", "recording", "replay") and not self.spec.recordings:
                continue
            capabilities = _el("tds:Capabilities", self._service_capabilities(key)) if include else None
            version = _el("tds:Version", _el("tt:Major", str(major)), _el("tt:Minor", str(minor)))
            service = _el(
                "tds:Service",
                _el("tds:Namespace", namespace),
                _el("tds:XAddr", self._xaddr(call, key)),
                capabilities,
                version,
            )
            response.append(service)
        return response

    async def _get_capabilities(self, call: _Call) -> ET.Element:
        wanted = {c.text.strip() for c in _children(call.body, "Category") if c.text} or {"All"}
        supported = {"All", "Device", "Events", "Imaging", "Media"} | ({"PTZ"} if self._has_ptz() else set())
        missing = sorted(wanted - supported)
        if missing:
            raise _SoapFault(
                "s:Receiver",
                ("ter:ActionNotSupported", "ter:NoSuchService"),
                f"no such capability category: {', '.join(missing)}",
            )

        def want(category: str) -> bool:
            return "All" in wanted or category in wanted

        caps = _el("tds:Capabilities")
        if want("Device"):
            io = _el(
                "tt:IO",
                _el("tt:InputConnectors", str(len(self.spec.inputs))),
                _el("tt:RelayOutputs", str(len(self.spec.relays))),
            )
            caps.append(_el("tt:Device", _el("tt:XAddr", self._xaddr(call, "device")), io))
        if want("Events"):
            events = _el(
                "tt:Events",
                _el("tt:XAddr", self._xaddr(call, "events")),
                _el("tt:WSSubscriptionPolicySupport", "false"),
                _el("tt:WSPullPointSupport", "true"),
                _el("tt:WSPausableSubscriptionManagerInterfaceSupport", "false"),
            )
            caps.append(events)
        if want("Imaging"):
            caps.append(_el("tt:Imaging", _el("tt:XAddr", self._xaddr(call, "imaging"))))
        if want("Media"):
            streaming = _el(
                "tt:StreamingCapabilities",
                _el("tt:RTPMulticast", "false"),
                _el("tt:RTP_TCP", "true"),
                _el("tt:RTP_RTSP_TCP", "true"),
            )
            caps.append(_el("tt:Media", _el("tt:XAddr", self._xaddr(call, "media")), streaming))
        if want("PTZ") and self._has_ptz():
            caps.append(_el("tt:PTZ", _el("tt:XAddr", self._xaddr(call, "ptz"))))
        return _el("tds:GetCapabilitiesResponse", caps)

    def _service_capabilities(self, service: str) -> ET.Element:
        if service == "device":
            return _el(
                "tds:Capabilities",
                _el("tds:Network", attrs={"IPFilter": "false", "ZeroConfiguration": "false"}),
                _el("tds:Security", attrs={"UsernameToken": "true", "HttpDigest": "false"}),
                _el("tds:System", attrs={"DiscoveryResolve": "false", "SystemLogging": "false"}),
            )
        if service == "media":
            return _el(
                "trt:Capabilities",
                _el(
                    "trt:ProfileCapabilities", attrs={"MaximumNumberOfProfiles": str(len(self.spec.profiles))}
                ),
                _el("trt:StreamingCapabilities", attrs={"RTP_TCP": "true", "RTP_RTSP_TCP": "true"}),
                attrs={
                    "SnapshotUri": "true",
                    "Rotation": "false",
                    "VideoSourceMode": "false",
                    "OSD": "false",
                },
            )
        if service == "ptz":
            return _el(
                "tptz:Capabilities", attrs={"EFlip": "false", "Reverse": "false", "MoveStatus": "true"}
            )
        if service == "deviceio":
            attrs = {
                "VideoSources": str(len(self._video_sources)),
                "VideoOutputs": "0",
                "AudioSources": "0",
                "AudioOutputs": "0",
                "RelayOutputs": str(len(self.spec.relays)),
                "DigitalInputs": str(len(self.spec.inputs)),
                "SerialPorts": "0",
            }
            return _el("tmd:Capabilities", attrs=attrs)
        if service == "imaging":
            return _el("timg:Capabilities", attrs={"ImageStabilization": "false"})
        if service == "search":
            return _el("tse:Capabilities", attrs={"MetadataSearch": "false"})
        if service == "recording":
            return _el("trc:Capabilities", attrs={"DynamicRecordings": "false", "DynamicTracks": "false"})
        if service == "replay":
            return _el("trp:Capabilities", attrs={"ReversePlayback": "false", "RTP_RTSP_TCP": "true"})
        return _el(
            "tev:Capabilities",
            attrs={
                "WSSubscriptionPolicySupport": "false",
                "WSPullPointSupport": "true",
                "WSPausableSubscriptionManagerInterfaceSupport": "false",
                "MaxNotificationProducers": "0",
                "MaxPullPoints": str(self.quirks.max_pull_points),
                "PersistentNotificationStorage": "false",
            },
        )

    def _service_capabilities_op(self, service: str) -> _Handler:
        prefix = self._service_capabilities(service).tag.split(":")[0]

        async def handler(call: _Call) -> ET.Element:
            return _el(f"{prefix}:GetServiceCapabilitiesResponse", self._service_capabilities(service))

        return handler

    async def _get_device_information(self, call: _Call) -> ET.Element:
        spec = self.spec
        return _el(
            "tds:GetDeviceInformationResponse",
            _el("tds:Manufacturer", spec.manufacturer),
            _el("tds:Model", spec.model),
            _el("tds:FirmwareVersion", spec.firmware),
            _el("tds:SerialNumber", spec.serial),
            _el("tds:HardwareId", f"{spec.model}-{spec.id}"),
        )

    async def _get_hostname(self, call: _Call) -> ET.Element:
        info = _el("tds:HostnameInformation", _el("tt:FromDHCP", "false"), _el("tt:Name", self.spec.id))
        return _el("tds:GetHostnameResponse", info)

    async def _get_wsdl_url(self, call: _Call) -> ET.Element:
        return _el("tds:GetWsdlUrlResponse", _el("tds:WsdlUrl", "http://www.onvif.org/"))

    async def _get_network_interfaces(self, call: _Call) -> ET.Element:
        # Home Assistant tolerates exactly this: a fault whose text says "not implemented".
        raise _SoapFault(
            "s:Receiver",
            ("ter:ActionNotSupported",),
            "GetNetworkInterfaces is not implemented by this device",
        )

    async def _get_relay_outputs(self, call: _Call) -> ET.Element:
        response = _el("tds:GetRelayOutputsResponse")
        for token in self.spec.relays:
            settings = _el(
                "tt:Properties",
                _el("tt:Mode", "Bistable"),
                _el("tt:DelayTime", "PT0S"),
                _el("tt:IdleState", "open"),
            )
            response.append(_el("tds:RelayOutputs", settings, attrs={"token": token}))
        return response

    async def _set_relay_output_state(self, call: _Call) -> ET.Element:
        token = _text(call.body, "RelayOutputToken") or ""
        state = _text(call.body, "LogicalState") or ""
        if token not in self.spec.relays:
            raise _invalid_arg("ter:RelayToken", f"unknown relay output {token!r}")
        if state not in ("active", "inactive"):
            raise _invalid_arg("ter:ModeError", f"LogicalState must be active or inactive, got {state!r}")
        self.set_relay(token, state == "active")
        return _el("tds:SetRelayOutputStateResponse")

    async def _get_digital_inputs(self, call: _Call) -> ET.Element:
        inputs = (_el("tmd:DigitalInputs", attrs={"token": token}) for token in self.spec.inputs)
        return _el("tmd:GetDigitalInputsResponse", *inputs)
