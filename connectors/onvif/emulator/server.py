"""One emulated ONVIF device on its own port (:class:`EmulatedDevice`: routing, SOAP dispatch,
authentication, lifecycle) and a set of them (:class:`OnvifEmulator`).
"""

from __future__ import annotations

import asyncio
import logging
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from types import TracebackType

from aiohttp import web

from connectors.onvif.emulator.auth import PRE_AUTH_OPERATIONS, username_token_valid
from connectors.onvif.emulator.control import ControlSurface
from connectors.onvif.emulator.device import DeviceService
from connectors.onvif.emulator.media import MediaService
from connectors.onvif.emulator.ptz import PtzService
from connectors.onvif.emulator.pullpoint import PullPointService
from connectors.onvif.emulator.replay import ReplayService
from connectors.onvif.emulator.rtsp import RtspServer
from connectors.onvif.emulator.soap import (
    _FAULT_ACTION,
    _RESPONSE_ACTIONS,
    _SERVICES,
    SOAP_CONTENT_TYPE,
    SUBSCRIPTION_PATH,
    _Call,
    _child,
    _envelope,
    _Handler,
    _local,
    _not_authorized,
    _parse_envelope,
    _serialize,
    _SoapFault,
    _text,
)
from connectors.onvif.emulator.spec import DeviceSpec

__all__ = ["EmulatedDevice", "OnvifEmulator"]

log = logging.getLogger(__name__)


class EmulatedDevice(
    ControlSurface, PullPointService, DeviceService, MediaService, PtzService, ReplayService
):
    """One emulated ONVIF device listening on its own port.

    Public state (``counters``, ``pull_timeouts``, ``ptz_status``, ``goto_calls``, ``quirks``,
    ``clock_offset``) may be read and changed by tests at any time from the emulator's event loop.
    """

    def __init__(self, spec: DeviceSpec, *, host: str, port: int, username: str, password: str) -> None:
        super().__init__(spec, host=host, port=port, username=username, password=password)
        self._handlers = self._build_handlers()
        self.rtsp = RtspServer(
            host=host,
            username=username,
            password=password,
            clip=spec.clip,
            profiles={p.token: p.video_source for p in spec.profiles},
            now=self.device_now,
        )
        self._searches: set[str] = set()

    async def start(self) -> None:
        await self._server.serve(self._build_app())
        try:
            await self.rtsp.start()
        except BaseException:
            await self._server.shutdown()
            raise
        log.debug("ONVIF emulator %s listening on %s", self.spec.id, self.url)

    async def stop(self) -> None:
        for pull_point in self._pull_points.values():
            pull_point.close()
        self._pull_points.clear()
        self._cancel_ptz_moves()
        await self.rtsp.stop()
        await self._server.shutdown()

    def _build_app(self) -> web.Application:
        app = web.Application()
        for key, (_, path, _) in _SERVICES.items():
            app.router.add_post(path, self._soap_endpoint(key))
        app.router.add_post(SUBSCRIPTION_PATH, self._soap_endpoint("subscription"))
        app.router.add_get("/snapshot/{name}", self._snapshot)
        app.router.add_post("/control/fire", self._control_fire)
        app.router.add_post("/control/input", self._control_input)
        app.router.add_post("/control/restart", self._control_restart)
        app.router.add_post("/control/clock", self._control_clock)
        app.router.add_post("/control/quirks", self._control_quirks)
        app.router.add_get("/control/state", self._control_state)
        return app

    def _build_handlers(self) -> dict[str, dict[str, _Handler]]:
        return {
            "device": {
                "GetSystemDateAndTime": self._get_system_date_and_time,
                "GetServices": self._get_services,
                "GetCapabilities": self._get_capabilities,
                "GetServiceCapabilities": self._service_capabilities_op("device"),
                "GetDeviceInformation": self._get_device_information,
                "GetHostname": self._get_hostname,
                "GetWsdlUrl": self._get_wsdl_url,
                "GetNetworkInterfaces": self._get_network_interfaces,
                "GetRelayOutputs": self._get_relay_outputs,
                "SetRelayOutputState": self._set_relay_output_state,
            },
            "media": {
                "GetServiceCapabilities": self._service_capabilities_op("media"),
                "GetProfiles": self._get_profiles,
                "GetProfile": self._get_profile,
                "GetVideoSources": self._get_video_sources,
                "GetStreamUri": self._get_stream_uri,
                "GetSnapshotUri": self._get_snapshot_uri,
            },
            "ptz": {
                "GetServiceCapabilities": self._service_capabilities_op("ptz"),
                "GetPresets": self._get_presets,
                "GotoPreset": self._goto_preset,
                "GetStatus": self._get_status,
                "Stop": self._stop_ptz,
            },
            "deviceio": {
                "GetServiceCapabilities": self._service_capabilities_op("deviceio"),
                "GetDigitalInputs": self._get_digital_inputs,
                "GetRelayOutputs": self._get_relay_outputs,
                "SetRelayOutputState": self._set_relay_output_state,
            },
            "imaging": {
                "GetServiceCapabilities": self._service_capabilities_op("imaging"),
            },
            "search": {
                "GetServiceCapabilities": self._service_capabilities_op("search"),
                "GetRecordingSummary": self._get_recording_summary,
                "FindRecordings": self._find_recordings,
                "GetRecordingSearchResults": self._get_recording_search_results,
                "EndSearch": self._end_search,
            },
            "recording": {
                "GetServiceCapabilities": self._service_capabilities_op("recording"),
                "GetRecordings": self._get_recordings,
            },
            "replay": {
                "GetServiceCapabilities": self._service_capabilities_op("replay"),
                "GetReplayUri": self._get_replay_uri,
            },
            "events": {
                "GetServiceCapabilities": self._service_capabilities_op("events"),
                "GetEventProperties": self._get_event_properties,
                "CreatePullPointSubscription": self._create_pull_point_subscription,
            },
            "subscription": {
                "PullMessages": self._pull_messages,
                "SetSynchronizationPoint": self._set_synchronization_point,
                "Renew": self._renew,
                "Unsubscribe": self._unsubscribe,
            },
        }

    def _soap_endpoint(self, service: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            return await self._handle_soap(service, request)

        return endpoint

    async def _handle_soap(self, service: str, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        if self.quirks.delay_seconds > 0:
            await asyncio.sleep(self.quirks.delay_seconds)
        operation = "?"
        action: str | None = None
        relates_to: str | None = None
        try:
            envelope = _parse_envelope(raw)
            relates_to = _text(envelope, "Header", "MessageID")
            body = _child(envelope, "Body")
            op_elem = next(iter(body), None) if body is not None else None
            if op_elem is None:
                raise _SoapFault("s:Sender", ("ter:InvalidArgVal",), "SOAP Body has no operation element")
            operation = _local(op_elem.tag)
            self.counters[operation] = self.counters.get(operation, 0) + 1
            action = _RESPONSE_ACTIONS.get((service, operation))
            if self.quirks.http_500:
                raise _SoapFault("s:Receiver", (), "Internal server error (emulated http_500 quirk)")
            handler = self._handlers[service].get(operation)
            if handler is None:
                raise _SoapFault(
                    "s:Receiver",
                    ("ter:ActionNotSupported",),
                    f"{operation} is not supported by the {service} service of this device",
                )
            if operation not in PRE_AUTH_OPERATIONS and not self._authorized(envelope):
                raise _not_authorized()
            call = _Call(service, operation, op_elem, f"{request.scheme}://{request.host}", request.query)
            result = await handler(call)
            status = 200
            if isinstance(result, bytes):
                payload = result
            else:
                payload = _serialize(_envelope(result, action=action, relates_to=relates_to)).encode()
        except _SoapFault as fault:
            if self.quirks.http_500 and fault.status != 500:
                # Even a request we could not parse gets the quirk's answer.
                fault = _SoapFault("s:Receiver", (), "Internal server error (emulated http_500 quirk)")
            log.debug("ONVIF emulator %s: %s -> fault %s", self.spec.id, operation, fault.reason)
            status = fault.status
            fault_action = _FAULT_ACTION if action else None
            payload = _serialize(
                _envelope(fault.element(), action=fault_action, relates_to=relates_to)
            ).encode()
        if self.quirks.malformed_xml:
            payload = payload[: len(payload) // 2]
        return web.Response(status=status, body=payload, headers={"Content-Type": SOAP_CONTENT_TYPE})

    def _authorized(self, envelope: ET.Element) -> bool:
        if self.quirks.reject_all_auth:
            return False
        return username_token_valid(
            envelope,
            username=self.username,
            password=self.password,
            now=self.device_now(),
            window_seconds=self.auth_window_seconds,
        )


# --------------------------------------------------------------------------------------------
# A set of devices
# --------------------------------------------------------------------------------------------


class OnvifEmulator:
    """Several emulated devices, each on its own port; an async context manager.

    With ``base_port`` 0 every device gets an ephemeral port, otherwise device ``i`` listens on
    ``base_port + i``.
    """

    def __init__(
        self,
        devices: list[DeviceSpec],
        *,
        host: str = "127.0.0.1",
        base_port: int = 0,
        username: str = "admin",
        password: str = "admin",
    ) -> None:
        ids = [spec.id for spec in devices]
        if len(set(ids)) != len(ids):
            raise ValueError(f"device ids must be unique: {ids}")
        self.devices = [
            EmulatedDevice(
                spec,
                host=host,
                port=base_port + i if base_port else 0,
                username=username,
                password=password,
            )
            for i, spec in enumerate(devices)
        ]
        self._by_id = {device.spec.id: device for device in self.devices}

    def device(self, device_id: str) -> EmulatedDevice:
        try:
            return self._by_id[device_id]
        except KeyError:
            raise KeyError(f"no emulated device {device_id!r}; devices: {sorted(self._by_id)}") from None

    async def start(self) -> None:
        started: list[EmulatedDevice] = []
        try:
            for device in self.devices:
                await device.start()
                started.append(device)
        except BaseException:
            for device in reversed(started):
                await device.stop()
            raise

    async def stop(self) -> None:
        errors: list[Exception] = []
        for device in reversed(self.devices):
            try:
                await device.stop()
            except Exception as exc:  # keep stopping the others; re-raised together below
                errors.append(exc)
        if errors:
            raise ExceptionGroup("stopping the ONVIF emulator failed", errors)

    async def __aenter__(self) -> OnvifEmulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
