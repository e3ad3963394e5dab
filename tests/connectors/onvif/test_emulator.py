"""The ONVIF emulator, driven by the real onvif-zeep-async client over loopback (no mocks)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from onvif import ONVIFCamera
from zeep.exceptions import EntitiesForbidden, Fault

from connectors.onvif.emulator import (
    HUGE_RESPONSE_BYTES,
    DeviceSpec,
    EmulatedDevice,
    OnvifEmulator,
    ProfileSpec,
    Quirks,
    parse_duration,
)

PULLPOINT_NS = "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription"
SOAP_NS = "http://www.w3.org/2003/05/soap-envelope"
TER_NS = "http://www.onvif.org/ver10/error"
WSRF_RW_NS = "http://docs.oasis-open.org/wsrf/rw-2"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
BOUND = 10.0  # seconds; the upper limit of every wait in this file


def north_spec() -> DeviceSpec:
    return DeviceSpec(
        id="onvif-north",
        profiles=[
            ProfileSpec("Profile_1", "VideoSource_1", ptz=True, presets={"1": "Gate", "2": "Lot B"}),
            ProfileSpec("Profile_2", "VideoSource_1"),
        ],
        inputs=["DI1", "DI2"],
        relays=["RO1"],
        doors=["Door_1"],
        access_points=["AP_1"],
    )


@pytest.fixture
async def emulator() -> AsyncIterator[OnvifEmulator]:
    async with OnvifEmulator([north_spec()]) as emu:
        yield emu


@pytest.fixture
def device(emulator: OnvifEmulator) -> EmulatedDevice:
    return emulator.device("onvif-north")


async def connect(device: EmulatedDevice, *, password: str = "admin", adjust_time: bool = False) -> Any:
    cam = ONVIFCamera("127.0.0.1", device.port, "admin", password, no_cache=True, adjust_time=adjust_time)
    try:
        await asyncio.wait_for(cam.update_xaddrs(), BOUND)
    except BaseException:
        await cam.close()
        raise
    return cam


@pytest.fixture
async def camera(device: EmulatedDevice) -> AsyncIterator[Any]:
    cam = await connect(device)
    yield cam
    await cam.close()


async def subscribe(cam: Any, termination: str = "PT60S") -> tuple[Any, Any, str]:
    """A new pull point: (pullpoint service, subscription-manager service, address)."""
    events = await cam.create_events_service()
    result = await events.CreatePullPointSubscription({"InitialTerminationTime": termination})
    address: str = result.SubscriptionReference.Address._value_1
    cam.xaddrs[PULLPOINT_NS] = address
    return (
        await cam.create_pullpoint_service(),
        await cam.create_subscription_service("PullPointSubscription"),
        address,
    )


async def pull(pullpoint: Any, wait: str = "PT0S", limit: int = 100) -> list[Any]:
    result = await asyncio.wait_for(pullpoint.PullMessages({"Timeout": wait, "MessageLimit": limit}), BOUND)
    return list(result.NotificationMessage)


def parts(msg: Any) -> tuple[str, dict[str, str], dict[str, str], str | None]:
    """(topic, source items, data items, PropertyOperation) of one NotificationMessage."""
    body = msg.Message._value_1
    source = {i.Name: i.Value for i in body.Source.SimpleItem} if body.Source else {}
    data = {i.Name: i.Value for i in body.Data.SimpleItem} if body.Data else {}
    return msg.Topic._value_1, source, data, body.PropertyOperation


def subcodes(fault: Fault) -> list[tuple[str, str]]:
    return [(q.namespace, q.localname) for q in fault.subcodes or []]


def soap(
    operation: str, *, password: str = "admin", nonce: bool = True, created: str | None = "now"
) -> bytes:
    """A hand-made SOAP 1.2 request carrying a UsernameToken digest, to test auth independently of zeep."""
    stamp = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    created_text = stamp if created == "now" else created
    raw_nonce = os.urandom(16)
    digest = base64.b64encode(
        hashlib.sha1(raw_nonce + (created_text or "").encode() + password.encode()).digest()
    ).decode()
    token = f"<wsse:Username>admin</wsse:Username><wsse:Password>{digest}</wsse:Password>"
    if nonce:
        token += f"<wsse:Nonce>{base64.b64encode(raw_nonce).decode()}</wsse:Nonce>"
    if created_text is not None:
        token += f"<wsu:Created>{created_text}</wsu:Created>"
    return (
        f'<s:Envelope xmlns:s="{SOAP_NS}" xmlns:wsse="{WSSE_NS}" xmlns:wsu="{WSU_NS}">'
        f"<s:Header><wsse:Security><wsse:UsernameToken>{token}</wsse:UsernameToken></wsse:Security></s:Header>"
        f"<s:Body>{operation}</s:Body></s:Envelope>"
    ).encode()


async def post(url: str, body: bytes) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session:
        headers = {"Content-Type": "application/soap+xml; charset=utf-8"}
        async with session.post(
            url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(BOUND)
        ) as resp:
            return resp.status, await resp.read()


def fault_codes(body: bytes) -> tuple[str, list[str], str]:
    """(Code value, subcode values, reason text) of a SOAP 1.2 fault document."""
    fault = ET.fromstring(body).find(f"{{{SOAP_NS}}}Body/{{{SOAP_NS}}}Fault")
    assert fault is not None
    code = fault.findtext(f"{{{SOAP_NS}}}Code/{{{SOAP_NS}}}Value") or ""
    subs = [v.text or "" for v in fault.iter(f"{{{SOAP_NS}}}Value")][1:]
    return code, subs, fault.findtext(f"{{{SOAP_NS}}}Reason/{{{SOAP_NS}}}Text") or ""


# ---- device service and auth ----------------------------------------------------------------


async def test_device_information_services_and_capabilities(device: EmulatedDevice, camera: Any) -> None:
    devmgmt = await camera.create_devicemgmt_service()
    info = await devmgmt.GetDeviceInformation()
    assert (info.Manufacturer, info.Model, info.FirmwareVersion) == ("vmsbridge", "EmuCam 1", "1.0")
    assert info.SerialNumber == device.spec.serial
    assert info.SerialNumber.startswith("EMU")

    services = {s.Namespace: s for s in await devmgmt.GetServices({"IncludeCapability": False})}
    assert set(services) == {
        "http://www.onvif.org/ver10/device/wsdl",
        "http://www.onvif.org/ver10/media/wsdl",
        "http://www.onvif.org/ver20/ptz/wsdl",
        "http://www.onvif.org/ver10/events/wsdl",
        "http://www.onvif.org/ver10/deviceIO/wsdl",
        "http://www.onvif.org/ver20/imaging/wsdl",
        "http://www.onvif.org/ver10/search/wsdl",
        "http://www.onvif.org/ver10/recording/wsdl",
        "http://www.onvif.org/ver10/replay/wsdl",
    }
    assert services["http://www.onvif.org/ver10/events/wsdl"].XAddr == f"{device.url}/onvif/event_service"
    assert camera.xaddrs["http://www.onvif.org/ver20/ptz/wsdl"] == f"{device.url}/onvif/ptz_service"

    caps = await devmgmt.GetCapabilities({"Category": "All"})
    assert caps.Events.WSPullPointSupport is True
    assert caps.Media.XAddr == f"{device.url}/onvif/media_service"
    assert caps.PTZ.XAddr == f"{device.url}/onvif/ptz_service"
    assert caps.Imaging.XAddr == f"{device.url}/onvif/imaging_service"
    assert caps.Device.IO.InputConnectors == 2

    with pytest.raises(Fault, match="not implemented"):
        await devmgmt.GetNetworkInterfaces()


async def test_wrong_password_is_not_authorized(device: EmulatedDevice) -> None:
    cam = await connect(device, password="wrong")  # GetServices is PRE_AUTH, so this still works
    try:
        devmgmt = await cam.create_devicemgmt_service()
        with pytest.raises(Fault) as caught:
            await devmgmt.GetDeviceInformation()
        assert caught.value.code == "s:Sender"
        assert subcodes(caught.value) == [(TER_NS, "NotAuthorized")]
        assert caught.value.message == "Sender not Authorized"
        # A (wrong) token on a PRE_AUTH operation is ignored.
        assert (await devmgmt.GetSystemDateAndTime()).DateTimeType == "NTP"
    finally:
        await cam.close()


async def test_clock_offset_breaks_auth_unless_the_client_adjusts(device: EmulatedDevice) -> None:
    device.clock_offset = timedelta(hours=1)
    plain = await connect(device)
    try:
        devmgmt = await plain.create_devicemgmt_service()
        utc = (await devmgmt.GetSystemDateAndTime()).UTCDateTime
        reported = datetime(
            utc.Date.Year,
            utc.Date.Month,
            utc.Date.Day,
            utc.Time.Hour,
            utc.Time.Minute,
            utc.Time.Second,
            tzinfo=UTC,
        )
        assert abs((reported - datetime.now(UTC)) - timedelta(hours=1)) < timedelta(seconds=5)
        with pytest.raises(Fault) as caught:
            await devmgmt.GetDeviceInformation()
        assert subcodes(caught.value) == [(TER_NS, "NotAuthorized")]
    finally:
        await plain.close()

    adjusted = await connect(device, adjust_time=True)
    try:
        devmgmt = await adjusted.create_devicemgmt_service()
        assert (await devmgmt.GetDeviceInformation()).Model == "EmuCam 1"
    finally:
        await adjusted.close()


async def test_username_token_needs_nonce_and_created(device: EmulatedDevice) -> None:
    url = f"{device.url}/onvif/device_service"
    op = '<tds:GetDeviceInformation xmlns:tds="http://www.onvif.org/ver10/device/wsdl"/>'
    status, body = await post(url, soap(op))
    assert status == 200
    assert b"<tds:Model>EmuCam 1</tds:Model>" in body
    for bad in (soap(op, nonce=False), soap(op, created=None), soap(op, password="nope")):
        status, body = await post(url, bad)
        assert status == 400
        assert fault_codes(body) == ("s:Sender", ["ter:NotAuthorized"], "Sender not Authorized")
    stale = (datetime.now(UTC) - timedelta(seconds=device.auth_window_seconds + 30)).isoformat()
    status, _ = await post(url, soap(op, created=stale.replace("+00:00", "Z")))
    assert status == 400


async def test_bad_requests_get_soap_faults(device: EmulatedDevice) -> None:
    url = f"{device.url}/onvif/device_service"
    status, body = await post(url, b"this is not xml")
    assert status == 400
    assert fault_codes(body)[:2] == ("s:Sender", ["ter:WellFormed"])
    status, body = await post(url, soap('<tds:Reboot xmlns:tds="http://www.onvif.org/ver10/device/wsdl"/>'))
    assert status == 500
    assert fault_codes(body)[:2] == ("s:Receiver", ["ter:ActionNotSupported"])
    assert device.counters["Reboot"] == 1


# ---- media, PTZ, DeviceIO ---------------------------------------------------------------------


async def test_profiles_stream_and_snapshot(device: EmulatedDevice, camera: Any) -> None:
    media = await camera.create_media_service()
    assert (await media.GetServiceCapabilities()).SnapshotUri is True
    profiles = await media.GetProfiles()
    assert [p.token for p in profiles] == ["Profile_1", "Profile_2"]
    first, second = profiles
    assert first.VideoSourceConfiguration.token == "VSC_1" == device.vsc_token("VideoSource_1")
    assert first.VideoSourceConfiguration.SourceToken == "VideoSource_1"
    assert second.VideoSourceConfiguration.token == "VSC_1"
    assert first.VideoEncoderConfiguration.Encoding == "H264"
    assert first.PTZConfiguration is not None
    assert second.PTZConfiguration is None

    setup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
    stream = await media.GetStreamUri({"StreamSetup": setup, "ProfileToken": "Profile_1"})
    assert stream.Uri == f"rtsp://127.0.0.1:{device.rtsp.port}/live/Profile_1"
    assert stream.InvalidAfterConnect is False
    assert stream.Timeout == timedelta(0)
    assert (
        await media.GetSnapshotUri({"ProfileToken": "Profile_2"})
    ).Uri == f"{device.url}/snapshot/Profile_2.jpg"

    jpeg = await camera.get_snapshot("Profile_1")
    assert jpeg[:2] == b"\xff\xd8"
    assert jpeg[-2:] == b"\xff\xd9"
    async with aiohttp.ClientSession() as session, session.get(f"{device.url}/snapshot/Nope.jpg") as resp:
        assert resp.status == 404


async def test_ptz_presets_goto_and_status(device: EmulatedDevice, camera: Any) -> None:
    device.ptz_move_seconds = 0.2
    ptz = await camera.create_ptz_service()
    presets = await ptz.GetPresets({"ProfileToken": "Profile_1"})
    assert {(p.token, p.Name) for p in presets} == {("1", "Gate"), ("2", "Lot B")}

    await ptz.GotoPreset({"ProfileToken": "Profile_1", "PresetToken": "2"})
    assert device.goto_calls == [("Profile_1", "2")]
    status = await ptz.GetStatus({"ProfileToken": "Profile_1"})
    assert (status.MoveStatus.PanTilt, status.MoveStatus.Zoom) == ("MOVING", "MOVING")
    assert status.UtcTime.tzinfo is not None

    # The move is timed, not an event, so poll the status it drives (bounded).
    for _ in range(int(BOUND / 0.05)):
        if (await ptz.GetStatus({"ProfileToken": "Profile_1"})).MoveStatus.PanTilt == "IDLE":
            break
        await asyncio.sleep(0.05)
    assert device.ptz_status == {"Profile_1": "IDLE"}

    await ptz.GotoPreset({"ProfileToken": "Profile_1", "PresetToken": "1"})
    assert device.ptz_status["Profile_1"] == "MOVING"
    await ptz.Stop({"ProfileToken": "Profile_1", "PanTilt": True, "Zoom": True})
    assert device.ptz_status["Profile_1"] == "IDLE"

    with pytest.raises(Fault) as caught:
        await ptz.GotoPreset({"ProfileToken": "Profile_1", "PresetToken": "99"})
    assert (TER_NS, "NoToken") in subcodes(caught.value)
    with pytest.raises(Fault):
        await ptz.GetPresets({"ProfileToken": "Profile_2"})  # a profile without PTZ
    assert device.goto_calls == [("Profile_1", "2"), ("Profile_1", "1")]


async def test_deviceio_and_relay_event(device: EmulatedDevice, camera: Any) -> None:
    deviceio = await camera.create_deviceio_service()
    assert [i.token for i in await deviceio.GetDigitalInputs()] == ["DI1", "DI2"]
    assert [r.token for r in await deviceio.GetRelayOutputs()] == ["RO1"]
    pullpoint, _, _ = await subscribe(camera)
    await deviceio.SetRelayOutputState({"RelayOutputToken": "RO1", "LogicalState": "active"})
    [msg] = await pull(pullpoint)
    assert parts(msg) == (
        "tns1:Device/Trigger/Relay",
        {"RelayToken": "RO1"},
        {"LogicalState": "active"},
        "Changed",
    )


# ---- events -----------------------------------------------------------------------------------


async def test_event_properties_list_the_topics(camera: Any) -> None:
    events = await camera.create_events_service()
    assert (await events.GetServiceCapabilities()).MaxPullPoints == 4
    props = await events.GetEventProperties()
    assert props.FixedTopicSet is True
    topics: set[str] = set()

    def walk(node: Any, path: str) -> None:
        path = f"{path}/{node.tag.split('}')[1]}" if path else f"tns1:{node.tag.split('}')[1]}"
        if node.get("{http://docs.oasis-open.org/wsn/t-1}topic") == "true":
            topics.add(path)
        for child in node:
            if child.tag.startswith("{http://www.onvif.org/ver10/topics}"):
                walk(child, path)

    for root in props.TopicSet._value_1:
        walk(root, "")
    assert {
        "tns1:Device/Trigger/DigitalInput",
        "tns1:Device/Trigger/Relay",
        "tns1:VideoSource/MotionAlarm",
        "tns1:RuleEngine/CellMotionDetector/Motion",
        "tns1:Door/State/DoorAlarm",
        "tns1:AccessControl/Denied/Credential",
    } <= topics


async def test_fired_events_arrive_with_onvif_items(device: EmulatedDevice, camera: Any) -> None:
    pullpoint, _, address = await subscribe(camera)
    assert address.startswith(f"{device.url}/onvif/subscription?id=")
    assert device.live_subscriptions == 1
    when = datetime(2026, 11, 20, 22, 0, 1, tzinfo=UTC)
    device.fire(
        "tns1:Device/Trigger/DigitalInput", {"InputToken": "DI2"}, {"LogicalState": "true"}, utc_time=when
    )
    device.cell_motion("VSC_1", True)
    device.door_alarm("Door_1", "DoorForcedOpen")
    device.access_denied("AP_1", "Card_7", "CredentialNotEnabled")
    first, cell, door, denied = await pull(pullpoint)
    assert parts(first) == (
        "tns1:Device/Trigger/DigitalInput",
        {"InputToken": "DI2"},
        {"LogicalState": "true"},
        "Changed",
    )
    assert first.Message._value_1.UtcTime == when
    assert first.Topic.Dialect == "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"
    topic, source, data, _ = parts(cell)
    assert topic == "tns1:RuleEngine/CellMotionDetector/Motion"
    assert data == {"IsMotion": "true"}
    assert source["VideoSourceConfigurationToken"] == "VSC_1"
    assert "Rule" in source
    assert parts(door)[1:3] == ({"DoorToken": "Door_1"}, {"State": "DoorForcedOpen"})
    assert parts(denied) == (
        "tns1:AccessControl/Denied/Credential",
        {"AccessPointToken": "AP_1"},
        {"CredentialToken": "Card_7", "Reason": "CredentialNotEnabled"},
        None,  # not a property, so no PropertyOperation
    )
    with pytest.raises(ValueError, match="no digital input"):
        device.set_input("DI9", True)


async def test_long_poll_returns_as_soon_as_an_event_fires(device: EmulatedDevice, camera: Any) -> None:
    pullpoint, _, _ = await subscribe(camera)
    pending = asyncio.create_task(pullpoint.PullMessages({"Timeout": "PT30S", "MessageLimit": 10}))
    await asyncio.wait_for(device.wait_for_pull(), BOUND)

    async def fire() -> None:
        device.motion("VideoSource_1", True)

    started = time.monotonic()
    firing = asyncio.create_task(fire())
    result = await asyncio.wait_for(pending, BOUND)
    await firing
    assert time.monotonic() - started < 5
    [msg] = result.NotificationMessage
    assert parts(msg) == (
        "tns1:VideoSource/MotionAlarm",
        {"Source": "VideoSource_1"},
        {"State": "true"},
        "Changed",
    )


async def test_pull_without_events_waits_for_the_timeout(camera: Any) -> None:
    pullpoint, _, _ = await subscribe(camera)
    started = time.monotonic()
    assert await pull(pullpoint, "PT0.3S") == []
    assert time.monotonic() - started >= 0.25


async def test_message_limit_keeps_the_rest_queued(device: EmulatedDevice, camera: Any) -> None:
    pullpoint, _, _ = await subscribe(camera)
    for n in range(5):
        device.access_granted("AP_1", f"Card_{n}")
    assert [parts(m)[2]["CredentialToken"] for m in await pull(pullpoint, limit=2)] == ["Card_0", "Card_1"]
    assert [parts(m)[2]["CredentialToken"] for m in await pull(pullpoint, limit=10)] == [
        "Card_2",
        "Card_3",
        "Card_4",
    ]


async def test_property_states_are_initialized_and_resynchronised(
    device: EmulatedDevice, camera: Any
) -> None:
    device.set_input("DI1", True)
    device.door_physical("Door_1", "Open")
    device.access_granted("AP_1", "Card_1")  # an instant, not a state: never re-sent
    pullpoint, _, _ = await subscribe(camera)
    initial = [parts(m) for m in await pull(pullpoint)]
    assert initial == [
        ("tns1:Device/Trigger/DigitalInput", {"InputToken": "DI1"}, {"LogicalState": "true"}, "Initialized"),
        ("tns1:Door/State/DoorPhysicalState", {"DoorToken": "Door_1"}, {"State": "Open"}, "Initialized"),
    ]
    device.set_input("DI1", False)
    assert [parts(m)[3] for m in await pull(pullpoint)] == ["Changed"]

    await pullpoint.SetSynchronizationPoint()
    again = [parts(m) for m in await pull(pullpoint)]
    assert again[0] == (
        "tns1:Device/Trigger/DigitalInput",
        {"InputToken": "DI1"},
        {"LogicalState": "false"},
        "Initialized",
    )
    assert len(again) == 2

    device.fire("tns1:Door/State/DoorPhysicalState", {"DoorToken": "Door_1"}, {}, operation="Deleted")
    assert parts((await pull(pullpoint))[0])[3] == "Deleted"
    await pullpoint.SetSynchronizationPoint()
    assert [parts(m)[0] for m in await pull(pullpoint)] == ["tns1:Device/Trigger/DigitalInput"]


async def test_renew_and_unsubscribe(device: EmulatedDevice, camera: Any) -> None:
    pullpoint, manager, _ = await subscribe(camera)
    renewed = await manager.Renew("PT120S")
    assert timedelta(seconds=115) < renewed.TerminationTime - renewed.CurrentTime <= timedelta(seconds=121)
    assert device.counters["Renew"] == 1

    await manager.Unsubscribe()
    assert device.live_subscriptions == 0
    with pytest.raises(Fault) as caught:
        await pull(pullpoint)
    assert subcodes(caught.value) == [(WSRF_RW_NS, "ResourceUnknownFault")]


async def test_absolute_termination_times_use_the_device_clock(device: EmulatedDevice) -> None:
    device.clock_offset = timedelta(hours=-2)
    cam = await connect(device, adjust_time=True)
    try:
        device_time = datetime.now(UTC) + device.clock_offset + timedelta(minutes=5)
        _, manager, _ = await subscribe(cam, device_time.isoformat(timespec="seconds").replace("+00:00", "Z"))
        assert device.live_subscriptions == 1
        renewed = await manager.Renew("PT60S")
        assert abs(renewed.CurrentTime - (datetime.now(UTC) + device.clock_offset)) < timedelta(seconds=5)
        assert timedelta(seconds=55) < renewed.TerminationTime - renewed.CurrentTime <= timedelta(seconds=61)
    finally:
        await cam.close()


async def test_subscriptions_expire_on_the_real_clock(device: EmulatedDevice, camera: Any) -> None:
    pullpoint, _, _ = await subscribe(camera, "PT0.2S")
    assert device.live_subscriptions == 1
    await asyncio.sleep(0.3)  # expiry is real elapsed time by definition
    assert device.live_subscriptions == 0
    with pytest.raises(Fault) as caught:
        await pull(pullpoint)
    assert subcodes(caught.value) == [(WSRF_RW_NS, "ResourceUnknownFault")]


async def test_restart_drops_pull_points_but_keeps_states(device: EmulatedDevice, camera: Any) -> None:
    pullpoint, _, _ = await subscribe(camera)
    device.signal_loss("VideoSource_1", True)
    device.restart()
    assert device.live_subscriptions == 0
    with pytest.raises(Fault) as caught:
        await pull(pullpoint)
    assert subcodes(caught.value) == [(WSRF_RW_NS, "ResourceUnknownFault")]
    fresh, _, _ = await subscribe(camera)
    assert [parts(m) for m in await pull(fresh)] == [
        ("tns1:VideoSource/SignalLoss", {"Source": "VideoSource_1"}, {"State": "true"}, "Initialized")
    ]


async def test_restart_ends_a_waiting_pull(device: EmulatedDevice, camera: Any) -> None:
    pullpoint, _, _ = await subscribe(camera)
    pending = asyncio.create_task(pullpoint.PullMessages({"Timeout": "PT30S", "MessageLimit": 10}))
    await asyncio.wait_for(device.wait_for_pull(), BOUND)
    device.restart()
    with pytest.raises(Fault):
        await asyncio.wait_for(pending, BOUND)


# ---- quirks -----------------------------------------------------------------------------------


async def test_quirk_max_pull_points(device: EmulatedDevice, camera: Any) -> None:
    device.quirks.max_pull_points = 2
    events = await camera.create_events_service()
    assert (await events.GetServiceCapabilities()).MaxPullPoints == 2
    await events.CreatePullPointSubscription({"InitialTerminationTime": "PT60S"})
    _, manager, _ = await subscribe(camera)
    with pytest.raises(Fault, match="maximum number of pull points"):
        await events.CreatePullPointSubscription({"InitialTerminationTime": "PT60S"})
    assert device.live_subscriptions == 2
    await manager.Unsubscribe()
    await events.CreatePullPointSubscription({"InitialTerminationTime": "PT60S"})
    assert device.live_subscriptions == 2


async def test_quirk_renew_fails(device: EmulatedDevice, camera: Any) -> None:
    pullpoint, manager, _ = await subscribe(camera)
    device.quirks.renew_fails = True
    with pytest.raises(Fault):
        await manager.Renew("PT60S")
    device.set_input("DI1", True)
    assert len(await pull(pullpoint)) == 1
    assert device.counters["Renew"] == 1


async def test_quirk_pull_always_empty(device: EmulatedDevice, camera: Any) -> None:
    pullpoint, _, _ = await subscribe(camera)
    device.quirks.pull_always_empty = True
    device.motion("VideoSource_1", True)
    started = time.monotonic()
    assert await pull(pullpoint, "PT0.2S") == []
    assert time.monotonic() - started >= 0.15
    device.quirks.pull_always_empty = False
    assert len(await pull(pullpoint)) == 1  # the event stayed queued


async def test_quirk_require_initial_termination_time(device: EmulatedDevice, camera: Any) -> None:
    device.quirks.require_initial_termination_time = True
    events = await camera.create_events_service()
    with pytest.raises(Fault):
        await events.CreatePullPointSubscription()
    create = '<tev:CreatePullPointSubscription xmlns:tev="http://www.onvif.org/ver10/events/wsdl"/>'
    status, _ = await post(f"{device.url}/onvif/event_service", soap(create))
    assert status == 500
    await subscribe(camera)  # with the element it still works
    device.quirks.require_initial_termination_time = False
    result = await events.CreatePullPointSubscription()
    assert timedelta(seconds=55) < result.TerminationTime - result.CurrentTime <= timedelta(seconds=61)


async def test_quirk_delay(device: EmulatedDevice, camera: Any) -> None:
    devmgmt = await camera.create_devicemgmt_service()
    device.quirks.delay_seconds = 0.3
    started = time.monotonic()
    await devmgmt.GetDeviceInformation()
    assert time.monotonic() - started >= 0.3


async def test_quirk_http_500(device: EmulatedDevice, camera: Any) -> None:
    devmgmt = await camera.create_devicemgmt_service()
    device.quirks.http_500 = True
    with pytest.raises(Fault) as caught:
        await devmgmt.GetSystemDateAndTime()
    assert caught.value.code == "s:Receiver"
    assert device.counters["GetSystemDateAndTime"] == 1  # the call is still seen and counted
    status, body = await post(f"{device.url}/onvif/device_service", b"not even xml")
    assert status == 500
    status, body = await post(f"{device.url}/onvif/device_service", soap("<GetSystemDateAndTime/>"))
    assert status == 500
    assert fault_codes(body)[0] == "s:Receiver"


async def test_quirk_malformed_xml(device: EmulatedDevice, camera: Any) -> None:
    devmgmt = await camera.create_devicemgmt_service()
    device.quirks.malformed_xml = True
    status, body = await post(f"{device.url}/onvif/device_service", soap("<GetSystemDateAndTime/>"))
    assert status == 200
    with pytest.raises(ET.ParseError):
        ET.fromstring(body)
    # zeep parses in recover mode, so the truncation surfaces as a TypeError, not an XML error.
    with pytest.raises(TypeError):
        await devmgmt.GetDeviceInformation()


async def test_quirk_hostile_xml(device: EmulatedDevice, camera: Any) -> None:
    pullpoint, _, address = await subscribe(camera)
    pull_op = (
        '<tev:PullMessages xmlns:tev="http://www.onvif.org/ver10/events/wsdl">'
        "<tev:Timeout>PT1S</tev:Timeout><tev:MessageLimit>10</tev:MessageLimit></tev:PullMessages>"
    )
    device.quirks.hostile_xml = "entity_expansion"
    status, body = await post(address, soap(pull_op))
    assert status == 200
    assert b"<!DOCTYPE" in body
    assert b"&lol9;" in body
    with pytest.raises(EntitiesForbidden):
        await pull(pullpoint)
    device.quirks.hostile_xml = "huge"
    status, body = await post(address, soap(pull_op))
    assert status == 200
    assert len(body) >= HUGE_RESPONSE_BYTES > 20_000_000
    device.quirks.hostile_xml = None
    assert await pull(pullpoint) == []


async def test_quirk_reject_all_auth(device: EmulatedDevice, camera: Any) -> None:
    devmgmt = await camera.create_devicemgmt_service()
    device.quirks.reject_all_auth = True
    with pytest.raises(Fault) as caught:
        await devmgmt.GetDeviceInformation()
    assert subcodes(caught.value) == [(TER_NS, "NotAuthorized")]
    assert (await devmgmt.GetSystemDateAndTime()).DateTimeType == "NTP"


def test_quirks_validate_their_values() -> None:
    quirks = Quirks()
    with pytest.raises(ValueError, match="hostile_xml"):
        quirks.update({"hostile_xml": "zip_bomb"})
    with pytest.raises(ValueError, match="unknown quirk"):
        quirks.update({"renew_fail": True})
    with pytest.raises(ValueError, match="max_pull_points"):
        quirks.update({"max_pull_points": True, "http_500": True})
    assert quirks == Quirks()  # all or nothing
    assert parse_duration("PT1M30.5S") == timedelta(seconds=90.5)
    assert parse_duration("P1DT1H") == timedelta(days=1, hours=1)
    with pytest.raises(ValueError, match="xs:duration"):
        parse_duration("PT")


# ---- control surface and several devices ------------------------------------------------------


async def test_http_control_surface(device: EmulatedDevice, camera: Any) -> None:
    pullpoint, _, _ = await subscribe(camera)
    async with aiohttp.ClientSession(base_url=device.url) as http:

        async def control(path: str, payload: dict[str, Any] | None = None) -> tuple[int, Any]:
            async with http.post(path, json=payload or {}) as resp:
                return resp.status, await resp.json()

        status, state = await control("/control/input", {"token": "DI2", "active": True})
        assert status == 200
        assert state["live_subscriptions"] == 1
        fire = {
            "topic": "tns1:VideoSource/MotionAlarm",
            "source": {"Source": "VideoSource_1"},
            "data": {"State": "1"},
        }
        assert (await control("/control/fire", fire))[0] == 200
        assert [parts(m)[:3] for m in await pull(pullpoint)] == [
            ("tns1:Device/Trigger/DigitalInput", {"InputToken": "DI2"}, {"LogicalState": "true"}),
            ("tns1:VideoSource/MotionAlarm", {"Source": "VideoSource_1"}, {"State": "1"}),
        ]

        burst = {**fire, "topic": "tns1:AccessControl/AccessGranted/Credential", "count": 3}
        assert (await control("/control/fire", burst))[0] == 200
        assert [parts(m)[2]["Seq"] for m in await pull(pullpoint)] == ["0", "1", "2"]
        assert (await control("/control/fire", {**burst, "count": 0}))[0] == 400

        assert (await control("/control/quirks", {"renew_fails": True, "max_pull_points": 7}))[0] == 200
        assert device.quirks.renew_fails
        assert device.quirks.max_pull_points == 7
        assert (await control("/control/quirks", {"max_pull_points": "many"}))[0] == 400
        status, error = await control("/control/quirks", {"no_such_quirk": True})
        assert status == 400
        assert "no_such_quirk" in error["error"]
        assert (await control("/control/input", {"token": "DI9", "active": True}))[0] == 400

        assert (await control("/control/clock", {"offset_seconds": 3600}))[0] == 200
        assert device.clock_offset == timedelta(hours=1)

        status, state = await control("/control/restart")
        assert status == 200
        assert state["live_subscriptions"] == 0

        async with http.get("/control/state") as resp:
            state = await resp.json()
        assert state["clock_offset_seconds"] == 3600
        assert state["counters"]["CreatePullPointSubscription"] == 1
        assert state["ptz_status"] == {"Profile_1": "IDLE"}


async def test_several_devices_listen_on_their_own_ports() -> None:
    plain = DeviceSpec(id="onvif-south", profiles=[ProfileSpec("Main", "Cam")])
    async with OnvifEmulator([north_spec(), plain]) as emu:
        north, south = emu.devices
        assert north.port != south.port
        assert emu.device("onvif-south") is south
        with pytest.raises(KeyError, match="onvif-west"):
            emu.device("onvif-west")
        cam = await connect(south)
        try:
            assert "http://www.onvif.org/ver20/ptz/wsdl" not in cam.xaddrs  # no PTZ profile
            media = await cam.create_media_service()
            assert [p.token for p in await media.GetProfiles()] == ["Main"]
        finally:
            await cam.close()
    with pytest.raises(ValueError, match="unique"):
        OnvifEmulator([plain, plain])
