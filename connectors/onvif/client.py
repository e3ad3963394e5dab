"""One ONVIF device: setup, media profiles, PTZ, health, and the PullPoint operations.

SOAP requests are built and signed by onvif-zeep-async (WS-UsernameToken PasswordDigest, with
the measured clock skew applied to ``Created``). The hot path, PullMessages, is posted on our own
aiohttp session and parsed by :mod:`connectors.onvif.messages`, so replies are size-capped and
parsed without DTDs, and each notification keeps its raw XML.
"""

from __future__ import annotations

__all__ = ["DeviceInfo", "MediaProfile", "OnvifClient", "PtzResult", "PullPoint", "Recording"]

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import aiohttp
import zeep.exceptions
from lxml import etree
from onvif import ONVIFCamera
from onvif.exceptions import ONVIFError

from connectors.onvif.errors import (
    DeviceUnreachable,
    MalformedResponse,
    NotAuthorized,
    OnvifError,
    OnvifFault,
    SubscriptionGone,
)
from connectors.onvif.messages import (
    MAX_REPLY_BYTES,
    NS,
    ONVIF_TOPICS_NS,
    Notification,
    parse_pull_messages,
    parse_reply,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

SEARCH_NS = "http://www.onvif.org/ver10/search/wsdl"
REPLAY_NS = "http://www.onvif.org/ver10/replay/wsdl"
PULLPOINT_NS = "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription"
WSTOP_TOPIC = "{http://docs.oasis-open.org/wsn/t-1}topic"
PTZ_POLL_SECONDS = 0.1
# How long a stop waits for a library service client to finish setting up, so that the HTTP
# session it opened is closed with the others rather than left open.
SETUP_FINISH_SECONDS = 5.0
_HALF_SECOND = timedelta(milliseconds=500)
_GET_TIME_ACTION = "http://www.onvif.org/ver10/device/wsdl/GetSystemDateAndTime"
_GET_TIME_REQUEST = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
    b'<GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/>'
    b"</s:Body></s:Envelope>"
)


@dataclass(frozen=True)
class DeviceInfo:
    manufacturer: str
    model: str
    firmware: str
    serial: str
    hardware_id: str


@dataclass(frozen=True)
class MediaProfile:
    token: str
    name: str
    video_source: str | None
    video_source_config: str | None
    encoding: str | None
    ptz: bool


@dataclass(frozen=True)
class Recording:
    """One recording a Profile G device keeps (FindRecordings): whose video, and the span it holds."""

    token: str
    source: str | None  # the video source token the recording is of (RecordingInformation Source/SourceId)
    earliest: datetime | None
    latest: datetime | None


@dataclass(frozen=True)
class PtzResult:
    profile: str
    preset: str
    ack_seconds: float  # request sent -> device acknowledged GotoPreset
    settled_seconds: float | None  # request sent -> status IDLE; None if it did not settle in time
    final_status: str


@dataclass
class PullPoint:
    address: str
    termination_time: datetime | None  # device clock
    granted_seconds: float


class OnvifClient:
    """Owns the connection to one device. Use as ``async with OnvifClient(...) as client``."""

    def __init__(self, device_id: str, host: str, port: int, username: str, password: str) -> None:
        self.device_id = device_id
        self.host = host
        self.port = port
        self._username = username
        self._password = password
        self._camera: ONVIFCamera | None = None
        self._session: aiohttp.ClientSession | None = None
        self._skew: timedelta | None = None
        # How far the measured skew may be from the truth (the device gives whole seconds).
        self.skew_uncertainty = timedelta(seconds=1)

    # -- lifecycle ------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Measure clock skew (unauthenticated GetSystemDateAndTime) and discover the services.

        Calling it again reconnects from scratch (and re-measures the skew).
        """
        await self.disconnect()
        if self._session is None:
            self._session = aiohttp.ClientSession()
        # adjust_time: every request is signed with the device's clock, so a camera whose clock
        # is an hour off still accepts us; no_cache: never write a WSDL cache outside our control.
        self._camera = ONVIFCamera(
            self.host, self.port, self._username, self._password, no_cache=True, adjust_time=True
        )
        await self._service(self._camera.update_xaddrs(), "connecting (device clock, then services)")
        await self._measure_skew()
        if abs(self.skew.total_seconds()) >= 5:
            log.warning(
                "ONVIF device %s clock is %+.0f s off ours; compensating",
                self.device_id,
                self.skew.total_seconds(),
            )

    async def _measure_skew(self) -> None:
        """The device clock against the midpoint of the request that read it.

        The library signs requests with a skew measured against the time its answer arrived,
        from a clock that gives whole seconds: good enough for a 60 s signature window, but up
        to a second short, which dates events after their receipt. The device read its clock
        somewhere within our request, on average half-way; and the whole second it gave began
        up to a second earlier, on average half a second.
        """
        sent = datetime.now(UTC)
        try:
            device_time = await self.probe()
        except OnvifError as exc:
            log.debug("ONVIF device %s: clock not re-read (%s); using the library's", self.device_id, exc)
            self._skew = None
            self.skew_uncertainty = timedelta(seconds=1)
            return
        answered = datetime.now(UTC)
        midpoint = sent + (answered - sent) / 2
        self._skew = device_time + _HALF_SECOND - midpoint
        self.skew_uncertainty = _HALF_SECOND + (answered - sent) / 2

    async def close(self) -> None:
        await self.disconnect()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def disconnect(self) -> None:
        """Forget the device's services (the HTTP session stays); ``connect()`` starts over."""
        if self._camera is not None:
            camera, self._camera = self._camera, None
            try:
                await camera.close()
            except (aiohttp.ClientError, OSError, RuntimeError) as exc:
                log.debug("closing ONVIF client for %s: %s", self.device_id, exc)

    @property
    def connected(self) -> bool:
        return self._camera is not None

    async def __aenter__(self) -> OnvifClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def camera(self) -> ONVIFCamera:
        if self._camera is None:
            raise DeviceUnreachable(self.device_id, "not connected (call connect() first)")
        return self._camera

    @property
    def skew(self) -> timedelta:
        """Device clock minus ours."""
        if self._skew is not None:
            return self._skew
        diff = self._camera.dt_diff if self._camera is not None else None
        return diff if isinstance(diff, timedelta) else timedelta(0)

    # -- device, media, PTZ ---------------------------------------------------------------------

    async def device_information(self) -> DeviceInfo:
        devicemgmt = await self._service(self.camera.create_devicemgmt_service(), "device service")
        info = await self._call(devicemgmt.GetDeviceInformation(), "GetDeviceInformation")
        return DeviceInfo(
            manufacturer=str(info.Manufacturer or ""),
            model=str(info.Model or ""),
            firmware=str(info.FirmwareVersion or ""),
            serial=str(info.SerialNumber or ""),
            hardware_id=str(info.HardwareId or ""),
        )

    async def probe(self, limit_seconds: float = 10.0) -> datetime:
        """The device clock, asked without credentials: the cheapest proof that the device answers.

        Independent of the zeep client (a fixed request on our own session), so it keeps working
        while the event loop of this device is reconnecting.
        """
        if self._session is None:
            self._session = aiohttp.ClientSession()
        address = f"http://{self.host}:{self.port}/onvif/device_service"
        headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{_GET_TIME_ACTION}"'}
        reply = await self._post(address, _GET_TIME_REQUEST, headers, limit_seconds)
        body = parse_reply(self.device_id, reply)
        try:
            utc = body.find(".//tt:UTCDateTime", NS)
            date, clock = utc.find("tt:Date", NS), utc.find("tt:Time", NS)
            fields = [date.findtext(f"tt:{name}", namespaces=NS) for name in ("Year", "Month", "Day")]
            fields += [clock.findtext(f"tt:{name}", namespaces=NS) for name in ("Hour", "Minute", "Second")]
            year, month, day, hour, minute, second = (int(str(f)) for f in fields)
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except (AttributeError, TypeError, ValueError) as exc:
            raise MalformedResponse(
                self.device_id, f"GetSystemDateAndTime reply has no usable time: {exc}"
            ) from None

    async def profiles(self) -> list[MediaProfile]:
        media = await self._service(self.camera.create_media_service(), "media service")
        answer = await self._call(media.GetProfiles(), "GetProfiles")
        out = []
        for profile in answer or []:
            vsc = getattr(profile, "VideoSourceConfiguration", None)
            vec = getattr(profile, "VideoEncoderConfiguration", None)
            out.append(
                MediaProfile(
                    token=str(profile.token),
                    name=str(getattr(profile, "Name", "") or ""),
                    video_source=str(vsc.SourceToken) if vsc is not None and vsc.SourceToken else None,
                    video_source_config=str(vsc.token) if vsc is not None and vsc.token else None,
                    encoding=str(vec.Encoding) if vec is not None and vec.Encoding else None,
                    ptz=getattr(profile, "PTZConfiguration", None) is not None,
                )
            )
        return out

    async def presets(self, profile: str) -> dict[str, str]:
        """Preset token -> name."""
        ptz = await self._service(self.camera.create_ptz_service(), "PTZ service")
        answer = await self._call(ptz.GetPresets({"ProfileToken": profile}), "GetPresets")
        return {str(p.token): str(getattr(p, "Name", "") or p.token) for p in answer or []}

    async def ptz_status(self, profile: str) -> str:
        ptz = await self._service(self.camera.create_ptz_service(), "PTZ service")
        status = await self._call(ptz.GetStatus({"ProfileToken": profile}), "GetStatus")
        move = getattr(status, "MoveStatus", None)
        if move is None:
            return "UNKNOWN"
        parts = {
            str(getattr(move, "PanTilt", None) or "UNKNOWN"),
            str(getattr(move, "Zoom", None) or "UNKNOWN"),
        }
        return "MOVING" if "MOVING" in parts else "IDLE" if parts == {"IDLE"} else "UNKNOWN"

    async def ptz_position(self, profile: str) -> tuple[float, float, float] | None:
        """(pan, tilt, zoom) from GetStatus, or None if the device does not report a position."""
        ptz = await self._service(self.camera.create_ptz_service(), "PTZ service")
        status = await self._call(ptz.GetStatus({"ProfileToken": profile}), "GetStatus")
        position = getattr(status, "Position", None)
        pan_tilt = getattr(position, "PanTilt", None)
        zoom = getattr(position, "Zoom", None)
        if pan_tilt is None:
            return None
        return (float(pan_tilt.x), float(pan_tilt.y), float(zoom.x) if zoom is not None else 0.0)

    async def goto_preset(
        self, profile: str, preset: str, *, speed: float | None = None, settle_timeout: float = 10.0
    ) -> PtzResult:
        """GotoPreset, then GetStatus until IDLE (or ``settle_timeout``), timing both."""
        ptz = await self._service(self.camera.create_ptz_service(), "PTZ service")
        request: dict[str, Any] = {"ProfileToken": profile, "PresetToken": preset}
        if speed is not None:
            request["Speed"] = {"PanTilt": {"x": speed, "y": speed}, "Zoom": {"x": speed}}
        started = time.perf_counter()
        await self._call(ptz.GotoPreset(request), "GotoPreset")
        ack = time.perf_counter() - started
        status = "UNKNOWN"
        deadline = started + settle_timeout
        while time.perf_counter() < deadline:
            status = await self.ptz_status(profile)
            if status == "IDLE":
                return PtzResult(profile, preset, ack, time.perf_counter() - started, status)
            await asyncio.sleep(PTZ_POLL_SECONDS)
        return PtzResult(profile, preset, ack, None, status)

    async def stream_uri(self, profile: str) -> str:
        media = await self._service(self.camera.create_media_service(), "media service")
        setup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
        answer = await self._call(
            media.GetStreamUri({"StreamSetup": setup, "ProfileToken": profile}), "GetStreamUri"
        )
        return str(answer.Uri)

    async def snapshot_uri(self, profile: str) -> str:
        media = await self._service(self.camera.create_media_service(), "media service")
        answer = await self._call(media.GetSnapshotUri({"ProfileToken": profile}), "GetSnapshotUri")
        return str(answer.Uri)

    # -- Profile G: recordings and replay ------------------------------------------------------

    async def recordings(self, wait_seconds: float = 5.0) -> list[Recording]:
        """Every recording, with the span it covers: FindRecordings, then its results, then EndSearch."""
        self._require_service(SEARCH_NS, "search")
        search = await self._call(self.camera.create_search_service(), "search service (Profile G)")
        started = await self._call(
            search.FindRecordings({"Scope": {}, "KeepAliveTime": "PT10S"}), "FindRecordings"
        )
        token = str(getattr(started, "SearchToken", started))
        found: list[Recording] = []
        try:
            deadline = time.monotonic() + wait_seconds
            while True:
                request = {"SearchToken": token, "WaitTime": "PT1S", "MaxResults": 100}
                answer = await self._call(
                    search.GetRecordingSearchResults(request), "GetRecordingSearchResults"
                )
                results = getattr(answer, "ResultList", answer)
                for item in getattr(results, "RecordingInformation", None) or []:
                    source = getattr(item, "Source", None)
                    found.append(
                        Recording(
                            token=str(item.RecordingToken),
                            source=str(source.SourceId) if source is not None and source.SourceId else None,
                            earliest=_utc(getattr(item, "EarliestRecording", None)),
                            latest=_utc(getattr(item, "LatestRecording", None)),
                        )
                    )
                if str(getattr(results, "SearchState", "Completed")) == "Completed":
                    return found
                if time.monotonic() >= deadline:
                    raise OnvifFault(
                        self.device_id, "Receiver", "", f"FindRecordings not completed in {wait_seconds:g} s"
                    )
        finally:
            try:
                await self._call(search.EndSearch({"SearchToken": token}), "EndSearch")
            except OnvifError as exc:  # the search ends by itself after KeepAliveTime
                log.debug("%s: EndSearch failed: %s", self.device_id, exc)

    async def replay_uri(self, recording: str) -> str:
        self._require_service(REPLAY_NS, "replay")
        replay = await self._call(self.camera.create_replay_service(), "replay service (Profile G)")
        setup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
        answer = await self._call(
            replay.GetReplayUri({"StreamSetup": setup, "RecordingToken": recording}), "GetReplayUri"
        )
        return str(getattr(answer, "Uri", answer))

    def _require_service(self, namespace: str, name: str) -> None:
        """A service GetServices did not list is a fault of that device, not an unreachable device."""
        if namespace not in (self.camera.xaddrs or {}):
            raise OnvifFault(
                self.device_id,
                "Receiver",
                "ActionNotSupported",
                f"the device offers no {name} service (it keeps no recordings: no ONVIF Profile G)",
            )

    async def event_topics(self) -> list[str]:
        """Topics the device says it can send (GetEventProperties TopicSet), as 'tns1:A/B/C'."""
        events = await self._service(self.camera.create_events_service(), "events service")
        answer = await self._call(events.GetEventProperties(), "GetEventProperties")
        topic_set = getattr(answer, "TopicSet", None)
        roots = getattr(topic_set, "_value_1", None) or []
        topics: list[str] = []
        for root in roots:
            if isinstance(root, etree._Element):
                _collect_topics(root, [], topics)
        return sorted(set(topics))

    # -- PullPoint --------------------------------------------------------------------------

    async def create_pull_point(self, seconds: int) -> PullPoint:
        events = await self._service(self.camera.create_events_service(), "events service")
        # An explicit InitialTerminationTime: some firmware answers HTTP 500 without one.
        answer = await self._call(
            events.CreatePullPointSubscription({"InitialTerminationTime": f"PT{seconds}S"}),
            "CreatePullPointSubscription",
        )
        address = str(answer.SubscriptionReference.Address._value_1)
        termination = _aware(answer.TerminationTime)
        granted = _granted_seconds(answer.CurrentTime, termination)
        self.camera.xaddrs[PULLPOINT_NS] = address
        return PullPoint(address, termination, float(seconds) if granted is None else granted)

    async def renew(self, pull_point: PullPoint, seconds: int) -> None:
        subscription = await self._subscription_service(pull_point)
        answer = await self._call(subscription.Renew({"TerminationTime": f"PT{seconds}S"}), "Renew")
        termination = _aware(getattr(answer, "TerminationTime", None))
        pull_point.termination_time = termination
        granted = _granted_seconds(getattr(answer, "CurrentTime", None), termination)
        if granted is not None:
            pull_point.granted_seconds = granted

    async def synchronize(self, pull_point: PullPoint) -> None:
        """SetSynchronizationPoint: the device re-sends every property's state as Initialized."""
        service = await self._pullpoint_service(pull_point)
        await self._call(service.SetSynchronizationPoint(), "SetSynchronizationPoint")

    async def unsubscribe(self, pull_point: PullPoint) -> None:
        subscription = await self._subscription_service(pull_point)
        await self._call(subscription.Unsubscribe(), "Unsubscribe")

    async def pull(self, pull_point: PullPoint, wait_seconds: int, limit: int) -> list[Notification]:
        """One PullMessages long-poll: returns when the device has messages, or after ``wait_seconds``.

        Whole seconds only: devices read a fractional xs:duration as invalid and answer at once.
        """
        if isinstance(wait_seconds, bool) or not isinstance(wait_seconds, int) or wait_seconds < 0:
            raise ValueError(f"wait_seconds must be a whole number of seconds >= 0, got {wait_seconds!r}")
        service = await self._pullpoint_service(pull_point)
        # Signed by zeep (UsernameToken with skew, WS-Addressing), sent and read by us.
        envelope, headers = service.ws_client._binding._create(
            "PullMessages",
            (),
            {"Timeout": timedelta(seconds=wait_seconds), "MessageLimit": limit},
            client=service.zeep_client,
            options={"address": pull_point.address},
        )
        body = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
        reply = await self._post(pull_point.address, body, dict(headers), wait_seconds + 15)
        notifications, termination = parse_pull_messages(self.device_id, reply)
        if termination is not None:
            pull_point.termination_time = termination
        return notifications

    # -- plumbing -------------------------------------------------------------------------------

    async def _pullpoint_service(self, pull_point: PullPoint) -> Any:
        self.camera.xaddrs[PULLPOINT_NS] = pull_point.address
        return await self._service(self.camera.create_pullpoint_service(), "pull point")

    async def _subscription_service(self, pull_point: PullPoint) -> Any:
        self.camera.xaddrs[PULLPOINT_NS] = pull_point.address
        return await self._service(
            self.camera.create_subscription_service("PullPointSubscription"), "subscription"
        )

    async def _service(self, create: Awaitable[T], what: str) -> T:
        """A library call that builds service clients, finished even when we are stopped.

        Each library service client opens an HTTP session before it loads its WSDL, and is only
        registered for closing once loaded: cancelled half-way, its session would be left open
        ("Unclosed client session"). So a stop waits (briefly) for the call to finish.
        """
        task = asyncio.ensure_future(self._call(create, what))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            with contextlib.suppress(OnvifError, TimeoutError):
                await asyncio.wait_for(task, SETUP_FINISH_SECONDS)
            raise

    async def _post(self, address: str, body: bytes, headers: dict[str, str], limit_seconds: float) -> bytes:
        if self._session is None:
            raise DeviceUnreachable(self.device_id, "not connected")
        try:
            async with self._session.post(
                address, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=limit_seconds)
            ) as response:
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.content.iter_chunked(64 * 1024):
                    size += len(chunk)
                    if size > MAX_REPLY_BYTES:
                        raise MalformedResponse(
                            self.device_id, f"reply larger than {MAX_REPLY_BYTES} bytes; refused"
                        )
                    chunks.append(chunk)
                reply = b"".join(chunks)
                if response.status >= 400 and b"Fault" not in reply:
                    raise DeviceUnreachable(self.device_id, f"HTTP {response.status} from {address}")
                return reply
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise DeviceUnreachable(self.device_id, f"{type(exc).__name__}: {exc or 'no answer'}") from exc

    async def _call(self, awaitable: Awaitable[T], what: str) -> T:
        """Await a library call, translating its many failure types into ours."""
        try:
            return await awaitable
        except zeep.exceptions.Fault as fault:
            raise _translate_fault(self.device_id, fault, what) from fault
        except (aiohttp.ClientError, TimeoutError, OSError, zeep.exceptions.TransportError) as exc:
            raise DeviceUnreachable(
                self.device_id, f"{what}: {type(exc).__name__}: {exc or 'no answer'}"
            ) from exc
        except (zeep.exceptions.XMLSyntaxError, zeep.exceptions.XMLParseError, etree.XMLSyntaxError) as exc:
            raise MalformedResponse(self.device_id, f"{what}: {exc}") from exc
        except zeep.exceptions.Error as exc:  # DTDForbidden, EntitiesForbidden, ValidationError ...
            raise MalformedResponse(self.device_id, f"{what}: {type(exc).__name__}: {exc}") from exc
        except (TypeError, AttributeError) as exc:
            # zeep parses in recover mode: a truncated reply becomes None deep inside it and
            # surfaces as one of these. Only the library call is inside this try.
            raise MalformedResponse(self.device_id, f"{what}: unreadable reply ({exc})") from exc
        except (ValueError, OverflowError) as exc:
            # A value the library cannot use, e.g. GetSystemDateAndTime with Month 13 (it builds a
            # datetime from the device's clock while connecting).
            raise MalformedResponse(self.device_id, f"{what}: unusable value in the reply ({exc})") from exc
        except ONVIFError as exc:
            text = str(exc)
            if "NotAuthorized" in text or "not Authorized" in text:
                raise NotAuthorized(self.device_id, "Sender", "NotAuthorized", f"{what}: {text}") from exc
            raise DeviceUnreachable(self.device_id, f"{what}: {text}") from exc


def _utc(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _translate_fault(device: str, fault: zeep.exceptions.Fault, what: str) -> OnvifError:
    subcodes = " ".join(str(getattr(s, "localname", s)) for s in (fault.subcodes or []))
    message = f"{what}: {fault.message or ''}".strip()
    code = str(fault.code or "")
    if "NotAuthorized" in subcodes or "not authorized" in (fault.message or "").lower():
        return NotAuthorized(device, code, "NotAuthorized", message)
    if "ResourceUnknown" in subcodes or "ResourceUnknown" in (fault.message or ""):
        return SubscriptionGone(device, code, "ResourceUnknownFault", message)
    return OnvifFault(device, code, subcodes, message)


def _aware(value: object) -> datetime | None:
    """A device time as an aware UTC datetime (a time without a zone is taken as UTC), or None."""
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _granted_seconds(current: object, termination: object) -> float | None:
    """TerminationTime minus CurrentTime, both by the device clock; None if either is missing.
    Devices mix times with and without a zone in one answer."""
    start, end = _aware(current), _aware(termination)
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def _collect_topics(element: etree._Element, path: list[str], out: list[str]) -> None:
    qname = etree.QName(element)
    prefix = "tns1:" if not path and qname.namespace == ONVIF_TOPICS_NS else ""
    here = [*path, prefix + qname.localname]
    if element.get(WSTOP_TOPIC) == "true":
        out.append("/".join(here))
    for child in element:
        if isinstance(child.tag, str) and etree.QName(child).localname != "MessageDescription":
            _collect_topics(child, here, out)
