"""The XProtect API Gateway emulator, driven by aiohttp's client over loopback (no mocks)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from connectors.xprotect.emulator import (
    CLOSE_MALFORMED,
    CLOSE_UNAUTHORIZED,
    COMMUNICATION_ERROR,
    COMMUNICATION_STARTED,
    COMMUNICATION_STOPPED,
    INPUT_ACTIVATED,
    INPUT_DEACTIVATED,
    MOTION_STARTED,
    MOTION_STATE_GROUP,
    MOTION_STOPPED,
    OUTPUT_ACTIVATED,
    OUTPUT_DEACTIVATED,
    RECORDING_STARTED,
    RECORDING_STOPPED,
    AlarmDefinitionSpec,
    CameraSpec,
    InputSpec,
    OutputSpec,
    Quirks,
    UserEventSpec,
    XProtectEmulator,
    XProtectSpec,
)

BOUND = 10.0  # seconds; the upper limit of every wait in this file
REST = "/api/rest/v1"
WS = "/api/ws/events/v1"
EVERYTHING = [{"modifier": "include", "resourceTypes": ["*"], "sourceIds": ["*"], "eventTypes": ["*"]}]
EXPIRED = "Token validation failed: the token is expired."
INVALID = "Token validation failed: the token is invalid."


def site_spec() -> XProtectSpec:
    return XProtectSpec(
        cameras=[
            CameraSpec("cam-1", "North Gate", "hw-1", ptz_presets={"1": "Gate", "2": "Lot B"}),
            CameraSpec("cam-2", "Library Lot", "hw-1"),
            CameraSpec("cam-3", "Old Dock", "hw-2", enabled=False),
        ],
        inputs=[
            InputSpec("in-1", "Door 3 contact", "hw-2"),
            InputSpec("in-2", "Spare", "hw-2", enabled=False),
        ],
        outputs=[OutputSpec("out-1", "Siren", "hw-2")],
        user_defined_events=[UserEventSpec("ude-1", "Lockdown")],
        alarm_definitions=[
            AlarmDefinitionSpec(
                "ad-1", "Door forced", INPUT_ACTIVATED, ["in-1"], ["cam-2", "cam-1"], "Medium"
            ),
            AlarmDefinitionSpec("ad-2", "Lockdown raised", "ude-1", ["ude-1"], []),
        ],
        site_name="North campus",
    )


@pytest.fixture
async def emulator() -> AsyncIterator[XProtectEmulator]:
    async with XProtectEmulator(site_spec()) as emu:
        yield emu


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=BOUND)) as session:
        yield session


async def get_token(
    http: aiohttp.ClientSession,
    emu: XProtectEmulator,
    *,
    path: str = "/API/IDP/connect/token",
    client_id: str = "GrantValidatorClient",
    password: str = "admin",
) -> tuple[int, dict[str, Any]]:
    form = {"grant_type": "password", "username": "admin", "password": password, "client_id": client_id}
    async with http.post(emu.url + path, data=form) as resp:
        return resp.status, await resp.json()


@pytest.fixture
async def token(emulator: XProtectEmulator, http: aiohttp.ClientSession) -> str:
    status, body = await get_token(http, emulator)
    assert status == 200, body
    return str(body["access_token"])


async def call(
    http: aiohttp.ClientSession,
    emu: XProtectEmulator,
    method: str,
    path: str,
    token: str | None,
    *,
    body: Any = None,
    params: dict[str, str] | None = None,
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with http.request(
        method, f"{emu.url}{REST}/{path}", headers=headers, json=body, params=params
    ) as resp:
        return resp.status, await resp.json()


async def control(
    http: aiohttp.ClientSession, emu: XProtectEmulator, name: str, body: Any = None
) -> tuple[int, Any]:
    method = "GET" if name == "state" else "POST"
    async with http.request(method, f"{emu.url}/control/{name}", json=body) as resp:
        return resp.status, await resp.json()


def error_text(body: dict[str, Any]) -> str:
    return str(body["error"]["details"][0]["errorText"])


class Ess:
    """A minimal Events and State client: commands with ids, events kept in arrival order."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.pending: list[dict[str, Any]] = []
        self._command_id = 0

    async def raw(self) -> aiohttp.WSMessage:
        return await asyncio.wait_for(self.ws.receive(), BOUND)

    async def frame(self) -> dict[str, Any]:
        msg = await self.raw()
        assert msg.type is aiohttp.WSMsgType.TEXT, msg
        body = json.loads(msg.data)
        assert isinstance(body, dict)
        return body

    async def command(self, name: str, **fields: Any) -> dict[str, Any]:
        self._command_id += 1
        command_id = self._command_id
        await self.ws.send_json({"command": name, "commandId": command_id, **fields})
        while True:
            body = await self.frame()
            if body.get("commandId") == command_id:
                return body
            assert "commandId" not in body, body
            self.pending.extend(body["events"])

    async def take(self, count: int) -> list[dict[str, Any]]:
        while len(self.pending) < count:
            body = await self.frame()
            assert "commandId" not in body, body
            self.pending.extend(body["events"])
        taken, self.pending = self.pending[:count], self.pending[count:]
        return taken

    async def start(self, session_id: str = "", event_id: str = "") -> dict[str, Any]:
        return await self.command("startSession", sessionId=session_id, eventId=event_id)

    async def subscribe(self, filters: list[dict[str, Any]]) -> str:
        reply = await self.command("addSubscription", filters=filters)
        assert reply["status"] == 200, reply
        return str(reply["subscriptionId"])


async def connect_ws(
    http: aiohttp.ClientSession, emu: XProtectEmulator, token: str | None
) -> aiohttp.ClientWebSocketResponse:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return await asyncio.wait_for(http.ws_connect(emu.url + WS, headers=headers), BOUND)


async def open_ess(
    http: aiohttp.ClientSession,
    emu: XProtectEmulator,
    token: str,
    filters: list[dict[str, Any]] | None = EVERYTHING,
) -> tuple[Ess, str]:
    ess = Ess(await connect_ws(http, emu, token))
    reply = await ess.start()
    assert reply["status"] == 201, reply
    if filters is not None:
        await ess.subscribe(filters)
    return ess, str(reply["sessionId"])


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [str(e["id"]) for e in events]


# --------------------------------------------------------------------------------------------
# Spec and quirk validation
# --------------------------------------------------------------------------------------------


def test_spec_rejects_inconsistent_sites() -> None:
    with pytest.raises(ValueError, match="unique"):
        XProtectSpec(cameras=[CameraSpec("a", "A", "hw"), CameraSpec("a", "B", "hw")])
    with pytest.raises(ValueError, match="unique"):
        XProtectSpec(cameras=[CameraSpec("a", "A", "a")])
    with pytest.raises(ValueError, match="unknown cameras"):
        XProtectSpec(
            cameras=[CameraSpec("a", "A", "hw")],
            alarm_definitions=[AlarmDefinitionSpec("d", "D", MOTION_STARTED, ["a"], ["ghost"])],
        )
    with pytest.raises(ValueError, match="unknown sources"):
        XProtectSpec(
            cameras=[CameraSpec("a", "A", "hw")],
            alarm_definitions=[AlarmDefinitionSpec("d", "D", MOTION_STARTED, ["ghost"], [])],
        )
    with pytest.raises(ValueError, match="priority"):
        AlarmDefinitionSpec("d", "D", MOTION_STARTED, [], [], priority="Urgent")
    with pytest.raises(ValueError, match="non-empty"):
        CameraSpec("", "A", "hw")
    assert site_spec().hardware_ids() == ["hw-1", "hw-2"]


def test_quirks_validate_and_update_all_or_nothing() -> None:
    quirks = Quirks()
    with pytest.raises(ValueError, match="delay_seconds"):
        Quirks(delay_seconds=-1)
    with pytest.raises(ValueError, match="must be a bool"):
        quirks.update({"http_500": "yes"})
    with pytest.raises(ValueError, match="unknown quirk"):
        quirks.update({"fail_tasks": True, "nope": True})
    assert quirks == Quirks()
    quirks.update({"fail_tasks": True, "delay_seconds": 1})
    assert quirks.fail_tasks
    assert quirks.delay_seconds == 1.0


def test_fire_rejects_bad_arguments() -> None:
    emu = XProtectEmulator(site_spec())
    with pytest.raises(ValueError, match="REST path"):
        emu.fire(MOTION_STARTED, "cam-1")
    with pytest.raises(ValueError, match="event_type"):
        emu.fire("", "cameras/cam-1")
    with pytest.raises(ValueError, match="no cameras item"):
        emu.motion("ghost", True)
    with pytest.raises(RuntimeError, match="not started"):
        _ = emu.url


# --------------------------------------------------------------------------------------------
# IDP and bearer tokens
# --------------------------------------------------------------------------------------------


async def test_token_endpoint_issues_bearer_tokens(
    emulator: XProtectEmulator, http: aiohttp.ClientSession
) -> None:
    for path in ("/API/IDP/connect/token", "/IDP/connect/token", "/idp/connect/token"):
        status, body = await get_token(http, emulator, path=path)
        assert status == 200, (path, body)
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 3600
        assert body["scope"] == "managementserver"
        assert isinstance(body["access_token"], str)
        assert len(body["access_token"]) > 20
        assert "refresh_token" not in body
    assert emulator.counters["token"] == 3

    status, body = await get_token(http, emulator, client_id="VmsClient")
    assert status == 200
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": body["refresh_token"],
        "client_id": "VmsClient",
    }
    async with http.post(emulator.url + "/IDP/connect/token", data=refresh) as resp:
        renewed = await resp.json()
        assert resp.status == 200
    assert renewed["access_token"] != body["access_token"]
    async with http.post(emulator.url + "/IDP/connect/token", data=refresh) as resp:
        assert resp.status == 400  # refresh tokens are single use
        assert (await resp.json())["error"] == "invalid_grant"


async def test_token_endpoint_rejects_bad_requests(
    emulator: XProtectEmulator, http: aiohttp.ClientSession
) -> None:
    status, body = await get_token(http, emulator, password="wrong")
    assert status == 400
    assert body == {
        "error": "invalid_grant",
        "error_description": "invalid_username_or_password",
        "error_code": "InvalidCredentials",
    }
    status, body = await get_token(http, emulator, client_id="SomeoneElse")
    assert (status, body) == (400, {"error": "invalid_client"})
    form = {"grant_type": "windows_credentials", "client_id": "GrantValidatorClient"}
    async with http.post(emulator.url + "/IDP/connect/token", data=form) as resp:
        assert (resp.status, await resp.json()) == (400, {"error": "unsupported_grant_type"})
    async with http.post(emulator.url + "/IDP/connect/token", json={"grant_type": "password"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid_request"
    assert emulator.counters["token"] == 0
    assert emulator.counters["token_rejected"] == 4


async def test_rest_requires_a_valid_unexpired_token(
    emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str
) -> None:
    assert (await call(http, emulator, "GET", "cameras", token))[0] == 200
    status, body = await call(http, emulator, "GET", "cameras", None)
    assert status == 401
    assert body == {"error": {"httpCode": 401, "details": [{"errorText": INVALID}]}}
    status, body = await call(http, emulator, "GET", "cameras", "forged")
    assert (status, error_text(body)) == (401, INVALID)

    emulator.expire_tokens()
    status, body = await call(http, emulator, "GET", "cameras", token)
    assert (status, error_text(body)) == (401, EXPIRED)
    status, body = await get_token(http, emulator)
    assert (await call(http, emulator, "GET", "cameras", body["access_token"]))[0] == 200
    assert emulator.counters["401"] == 3


async def test_token_lifetime_is_settable_at_run_time(
    emulator: XProtectEmulator, http: aiohttp.ClientSession
) -> None:
    emulator.token_lifetime_seconds = 0  # expired as soon as issued: no sleeping needed
    status, body = await get_token(http, emulator)
    assert (status, body["expires_in"]) == (200, 0)
    status, reply = await call(http, emulator, "GET", "sites", body["access_token"])
    assert (status, error_text(reply)) == (401, EXPIRED)


async def test_well_known_endpoints(emulator: XProtectEmulator, http: aiohttp.ClientSession) -> None:
    async with http.get(emulator.url + "/api/.well-known/uris") as resp:
        uris = await resp.json()
    assert uris["ProductVersion"] == "24.2.0"
    assert uris["ApiGateways"] == [emulator.url + "/api/"]
    async with http.get(emulator.url + "/IDP/.well-known/openid-configuration") as resp:
        openid = await resp.json()
    assert openid["token_endpoint"] == emulator.url + "/IDP/connect/token"


# --------------------------------------------------------------------------------------------
# Configuration REST
# --------------------------------------------------------------------------------------------


async def test_lists_hold_enabled_items_unless_disabled_is_asked(
    emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str
) -> None:
    status, body = await call(http, emulator, "GET", "cameras", token)
    assert status == 200
    assert ids(body["array"]) == ["cam-1", "cam-2"]
    status, body = await call(http, emulator, "GET", "cameras?disabled", token)
    assert ids(body["array"]) == ["cam-1", "cam-2", "cam-3"]
    _, body = await call(http, emulator, "GET", "inputEvents", token)
    assert ids(body["array"]) == ["in-1"]
    _, body = await call(http, emulator, "GET", "outputs", token)
    assert ids(body["array"]) == ["out-1"]
    _, body = await call(http, emulator, "GET", "userDefinedEvents", token)
    assert [(u["id"], u["name"]) for u in body["array"]] == [("ude-1", "Lockdown")]


async def test_list_filters(emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str) -> None:
    async def names(params: dict[str, str]) -> list[str]:
        status, body = await call(http, emulator, "GET", "cameras", token, params=params)
        assert status == 200, body
        return [c["name"] for c in body["array"]]

    assert await names({"name": "contains:'GATE'"}) == ["North Gate"]
    assert await names({"name": "North Gate"}) == ["North Gate"]
    assert await names({"name": "startsWith:Lib"}) == ["Library Lot"]
    assert await names({"name": "notEquals:'North Gate'"}) == ["Library Lot"]
    assert await names({"channel": "gt:0"}) == ["Library Lot"]
    assert await names({"name": "contains:'nothing like it'"}) == []


async def test_items_relations_and_children(
    emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str
) -> None:
    status, body = await call(http, emulator, "GET", "cameras/cam-1", token)
    assert status == 200
    camera = body["data"]
    assert camera["id"] == "cam-1"
    assert camera["name"] == camera["displayName"] == "North Gate"
    assert camera["enabled"] is True
    assert camera["lastModified"].endswith("Z")
    assert camera["relations"] == {
        "self": {"type": "cameras", "id": "cam-1"},
        "parent": {"type": "hardware", "id": "hw-1"},
    }
    _, body = await call(http, emulator, "GET", "cameras/cam-3", token)
    assert body["data"]["enabled"] is False

    _, body = await call(http, emulator, "GET", "hardware", token)
    hardware = body["array"]
    assert ids(hardware) == ["hw-1", "hw-2"]
    recorder_ref = hardware[0]["relations"]["parent"]
    assert recorder_ref["type"] == "recordingServers"
    _, body = await call(http, emulator, "GET", f"recordingServers/{recorder_ref['id']}", token)
    site_ref = body["data"]["relations"]["parent"]
    assert site_ref["type"] == "sites"
    _, body = await call(http, emulator, "GET", "sites", token)
    assert [(s["id"], s["name"], s["version"]) for s in body["array"]] == [
        (site_ref["id"], "North campus", "24.2.0")
    ]

    _, body = await call(http, emulator, "GET", "hardware/hw-1/cameras", token)
    assert ids(body["array"]) == ["cam-1", "cam-2"]
    _, body = await call(http, emulator, "GET", "hardware/hw-2/inputEvents?disabled", token)
    assert ids(body["array"]) == ["in-1", "in-2"]
    _, body = await call(http, emulator, "GET", "cameras/cam-1/ptzPresets", token)
    assert body["array"] == [
        {
            "id": "1",
            "name": "Gate",
            "displayName": "Gate",
            "relations": {
                "self": {"type": "ptzPresets", "id": "1"},
                "parent": {"type": "cameras", "id": "cam-1"},
            },
        },
        {
            "id": "2",
            "name": "Lot B",
            "displayName": "Lot B",
            "relations": {
                "self": {"type": "ptzPresets", "id": "2"},
                "parent": {"type": "cameras", "id": "cam-1"},
            },
        },
    ]
    status, body = await call(http, emulator, "GET", "cameras/cam-1/ptzPresets/2", token)
    assert (status, body["data"]["name"]) == (200, "Lot B")
    _, body = await call(http, emulator, "GET", "cameras/cam-2/ptzPresets", token)
    assert body["array"] == []


async def test_unknown_items_answer_404_in_the_error_shape(
    emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str
) -> None:
    status, body = await call(http, emulator, "GET", "cameras/ghost", token)
    assert status == 404
    assert body == {
        "error": {
            "httpCode": 404,
            "details": [{"errorText": "Device not found. cameras/ghost", "errorTextId": "VMO61008"}],
        }
    }
    for path in ("nothings", "cameras/cam-1/ptzPresets/9", "cameras/cam-1/streams", "a/b/c/d/e"):
        status, body = await call(http, emulator, "GET", path, token)
        assert status == 404, path
        assert body["error"]["httpCode"] == 404


async def test_event_types_state_groups_and_alarm_definitions(
    emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str
) -> None:
    _, body = await call(http, emulator, "GET", "eventTypes", token)
    types = {t["id"]: t for t in body["array"]}
    expected = {
        MOTION_STARTED: ("Motion Started", MOTION_STOPPED),
        MOTION_STOPPED: ("Motion Stopped", MOTION_STARTED),
        COMMUNICATION_STARTED: ("Communication Started", COMMUNICATION_STOPPED),
        COMMUNICATION_STOPPED: ("Communication Stopped", COMMUNICATION_STARTED),
        COMMUNICATION_ERROR: ("Communication Error", COMMUNICATION_STARTED),
        RECORDING_STARTED: ("Recording Started", RECORDING_STOPPED),
        RECORDING_STOPPED: ("Recording Stopped", RECORDING_STARTED),
        INPUT_ACTIVATED: ("Input Activated", INPUT_DEACTIVATED),
        INPUT_DEACTIVATED: ("Input Deactivated", INPUT_ACTIVATED),
        OUTPUT_ACTIVATED: ("Output Activated", OUTPUT_DEACTIVATED),
        OUTPUT_DEACTIVATED: ("Output Deactivated", OUTPUT_ACTIVATED),
    }
    for type_id, (name, counter) in expected.items():
        item = types[type_id]
        assert (item["name"], item["displayName"], item["counterEventID"]) == (name, name, counter)
        assert item["stateGroupId"], name
        assert item["generatorType"] == "Device"
    assert types[MOTION_STARTED]["stateGroupId"] == MOTION_STATE_GROUP
    assert types["ude-1"]["generatorType"] == "External"
    assert types["ude-1"]["stateGroupId"] == ""

    _, body = await call(http, emulator, "GET", "stateGroups", token)
    groups = {g["id"]: g for g in body["array"]}
    assert {t["stateGroupId"] for t in types.values() if t["stateGroupId"]} == set(groups)
    assert groups[MOTION_STATE_GROUP]["states"] == ["Motion", "No Motion"]

    _, body = await call(http, emulator, "GET", "alarmDefinitions", token)
    definition = body["array"][0]
    assert definition["name"] == "Door forced"
    assert definition["eventType"] == INPUT_ACTIVATED
    assert definition["sourceList"] == [{"type": "inputEvents", "id": "in-1"}]
    assert definition["relatedCameraList"] == [
        {"type": "cameras", "id": "cam-2"},
        {"type": "cameras", "id": "cam-1"},
    ]
    _, priorities = await call(http, emulator, "GET", "alarmPriorities", token)
    medium = next(p for p in priorities["array"] if p["name"] == "Medium")
    assert definition["priority"] == medium["id"]
    assert body["array"][1]["sourceList"] == [{"type": "userDefinedEvents", "id": "ude-1"}]


# --------------------------------------------------------------------------------------------
# Tasks
# --------------------------------------------------------------------------------------------


async def test_goto_preset_task_runs_to_success_and_cleans_up(
    emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str
) -> None:
    status, body = await call(http, emulator, "GET", "cameras/cam-1/ptzPresets?tasks&noData", token)
    assert status == 200
    assert ids(body["tasks"]) == ["DefaultPtzPreset", "GetDevicePresets"]
    _, body = await call(http, emulator, "GET", "cameras/cam-1/ptzPresets/2?tasks", token)
    assert body == {"tasks": [{"id": "GoToPtzPreset", "displayName": "Go to preset"}]}

    status, body = await call(
        http,
        emulator,
        "POST",
        "cameras/cam-1/ptzPresets/2?task=GoToPtzPreset",
        token,
        body={"sessionDataId": 0},
    )
    assert status == 200
    result = body["result"]
    assert (result["sessionDataId"], result["state"], result["path"]["type"]) == (0, "Idle", "tasks")
    task_path = f"tasks/{result['path']['id']}"

    status, body = await call(http, emulator, "GET", task_path, token)
    assert status == 200
    assert body["data"]["state"] == "InProgress"
    assert body["data"]["progress"] < 100
    assert emulator.ptz_gotos == []
    _, body = await call(http, emulator, "GET", task_path, token)
    assert (body["data"]["state"], body["data"]["progress"]) == ("Success", 100)
    assert body["data"]["path"] == {"type": "ptzPresets", "id": "2"}
    assert "errorText" not in body["data"]
    assert emulator.ptz_gotos == [("cam-1", "2")]
    _, body = await call(http, emulator, "GET", task_path, token)  # finished tasks do not re-run
    assert body["data"]["state"] == "Success"
    assert emulator.ptz_gotos == [("cam-1", "2")]

    status, _ = await call(http, emulator, "POST", f"{task_path}?task=TaskCleanup", token)
    assert status == 200
    status, body = await call(http, emulator, "GET", task_path, token)
    assert status == 404
    assert body["error"]["httpCode"] == 404


async def test_task_errors(emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str) -> None:
    status, body = await call(http, emulator, "POST", "cameras/cam-1/ptzPresets/2?task=Spin", token)
    assert status == 400
    assert "Spin" in error_text(body)
    status, _ = await call(http, emulator, "POST", "cameras/cam-1/ptzPresets/9?task=GoToPtzPreset", token)
    assert status == 404
    status, _ = await call(http, emulator, "POST", "cameras/cam-1/ptzPresets/2", token)
    assert status == 400
    status, _ = await call(http, emulator, "GET", "tasks/999", token)
    assert status == 404


async def test_fail_tasks_quirk_ends_tasks_in_error(
    emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str
) -> None:
    emulator.quirks.fail_tasks = True
    _, body = await call(
        http, emulator, "POST", "cameras/cam-1/ptzPresets/1?task=GoToPtzPreset", token, body={}
    )
    task_path = f"tasks/{body['result']['path']['id']}"
    data: dict[str, Any] = {}
    for _ in range(emulator.task_polls_to_complete):
        _, reply = await call(http, emulator, "GET", task_path, token)
        data = reply["data"]
    assert data["state"] == "Error"
    assert "fail_tasks" in data["errorText"]
    assert emulator.ptz_gotos == []


async def test_output_trigger_task_fires_output_events(
    emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str
) -> None:
    _, body = await call(http, emulator, "GET", "outputs/out-1?tasks", token)
    assert ids(body["tasks"]) == ["Activate", "Deactivate", "Trigger"]
    _, body = await call(
        http, emulator, "POST", "outputs/out-1?task=Trigger", token, body={"sessionDataId": 0}
    )
    task_path = f"tasks/{body['result']['path']['id']}"
    for _ in range(emulator.task_polls_to_complete):
        await call(http, emulator, "GET", task_path, token)
    _, body = await call(http, emulator, "GET", "events?page=0&size=10", token)
    assert [(e["type"], e["source"]) for e in body["array"]] == [
        (OUTPUT_DEACTIVATED, "outputs/out-1"),
        (OUTPUT_ACTIVATED, "outputs/out-1"),
    ]


# --------------------------------------------------------------------------------------------
# Events REST and alarm definitions
# --------------------------------------------------------------------------------------------


async def test_events_rest_triggers_and_fans_out(
    emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str
) -> None:
    udes = [
        {
            "modifier": "include",
            "resourceTypes": ["userDefinedEvents"],
            "sourceIds": ["*"],
            "eventTypes": ["*"],
        }
    ]
    ess, _ = await open_ess(http, emulator, token, udes)
    status, body = await call(http, emulator, "POST", "events", token, body={"type": "ude-1"})
    assert status == 202
    event = body["data"]
    assert (event["type"], event["source"]) == ("ude-1", "userDefinedEvents/ude-1")
    assert event["time"].endswith("Z")
    assert "stategroupid" not in event
    assert await ess.take(1) == [event]
    assert emulator.triggered_events == [event]

    status, body = await call(
        http, emulator, "POST", "events", token, body={"type": MOTION_STARTED, "source": "cameras/cam-1"}
    )
    assert status == 202
    motion = body["data"]
    assert motion["stategroupid"] == MOTION_STATE_GROUP
    status, body = await call(http, emulator, "GET", "events", token, params={"page": "0", "size": "10"})
    assert ids(body["array"]) == [motion["id"], event["id"]]
    _, body = await call(http, emulator, "GET", "events", token, params={"page": "1", "size": "1"})
    assert ids(body["array"]) == [event["id"]]
    status, body = await call(http, emulator, "GET", f"events/{event['id']}", token)
    assert (status, body["data"]) == (200, event)

    for bad in (
        {"type": "no-such-type"},
        {"type": MOTION_STARTED},
        {"type": MOTION_STARTED, "source": "cameras/ghost"},
        {"type": MOTION_STARTED, "source": "cam-1"},
        {"source": "cameras/cam-1"},
    ):
        status, body = await call(http, emulator, "POST", "events", token, body=bad)
        assert status == 400, bad
        assert body["error"]["httpCode"] == 400
    status, _ = await call(http, emulator, "GET", "events/nope", token)
    assert status == 404
    assert len(emulator.triggered_events) == 2


async def test_alarm_definition_match_creates_an_alarm(
    emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str
) -> None:
    emulator.input("in-1", False)  # wrong event type
    emulator.motion("cam-1", True)  # wrong source
    assert emulator.alarms == []
    event = emulator.input("in-1", True)
    assert len(emulator.alarms) == 1
    alarm = emulator.alarms[0]
    assert alarm["name"] == "Door forced"
    assert alarm["message"] == "Input Activated"
    assert alarm["source"] == {"type": "cameras", "id": "cam-2"}
    assert alarm["priority"]["name"] == "Medium"
    assert alarm["state"]["name"] == "New"
    assert alarm["localId"] == 1
    assert alarm["time"] == event["time"]

    await call(http, emulator, "POST", "events", token, body={"type": "ude-1"})
    status, body = await call(http, emulator, "GET", "alarms", token)
    assert status == 200
    assert [(a["name"], a["source"], a["priority"]["name"]) for a in body["array"]] == [
        ("Lockdown raised", None, "High"),
        ("Door forced", {"type": "cameras", "id": "cam-2"}, "Medium"),
    ]


# --------------------------------------------------------------------------------------------
# Alarms and bookmarks REST
# --------------------------------------------------------------------------------------------


async def test_alarms_rest(emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str) -> None:
    _, states = await call(http, emulator, "GET", "alarmStates", token)
    assert [(s["name"], s["level"]) for s in states["array"]] == [
        ("New", 1),
        ("In progress", 4),
        ("On hold", 9),
        ("Closed", 11),
    ]
    state_ids = {s["name"]: s["id"] for s in states["array"]}
    _, priorities = await call(http, emulator, "GET", "alarmPriorities", token)
    assert [(p["name"], p["level"]) for p in priorities["array"]] == [("High", 1), ("Medium", 2), ("Low", 3)]
    priority_ids = {p["name"]: p["id"] for p in priorities["array"]}

    status, body = await call(
        http,
        emulator,
        "POST",
        "alarms",
        token,
        body={"name": "Tailgating", "message": "Door 3", "source": "cam-1"},
    )
    assert status == 202
    alarm_id = body["data"]["id"]
    status, body = await call(http, emulator, "GET", f"alarms/{alarm_id}", token)
    assert status == 200
    alarm = body["data"]
    assert {k: alarm[k] for k in ("name", "message", "source", "state", "priority", "comment")} == {
        "name": "Tailgating",
        "message": "Door 3",
        "source": {"type": "cameras", "id": "cam-1"},
        "state": {"id": state_ids["New"], "name": "New"},
        "priority": {"id": priority_ids["High"], "name": "High"},
        "comment": "",
    }
    assert isinstance(alarm["localId"], int)
    assert alarm["time"].endswith("Z")
    assert alarm["lastModified"].endswith("Z")

    patch = {
        "state": state_ids["In progress"],
        "priority": priority_ids["Low"],
        "comment": "guard on the way",
        "assignedTo.displayName": None,
        "reasonForClosing": None,
    }
    status, body = await call(http, emulator, "PATCH", f"alarms/{alarm_id}", token, body=patch)
    assert status == 202
    assert body["data"]["state"]["name"] == "In progress"
    assert body["data"]["priority"]["name"] == "Low"
    assert body["data"]["comment"] == "guard on the way"
    assert emulator.alarms[0]["state"]["name"] == "In progress"

    for bad in ({"state": "closed-ish"}, {"priority": 3}, {"colour": "red"}, {"comment": 5}):
        status, body = await call(http, emulator, "PATCH", f"alarms/{alarm_id}", token, body=bad)
        assert status == 400, bad
    assert emulator.alarms[0]["comment"] == "guard on the way"
    status, _ = await call(http, emulator, "PATCH", "alarms/ghost", token, body={"comment": "x"})
    assert status == 404
    status, body = await call(http, emulator, "GET", "alarms/ghost", token)
    assert (status, body["error"]["httpCode"]) == (404, 404)
    for bad in ({"message": "no name", "source": "cam-1"}, {"name": "x", "source": "ghost"}, {"name": "x"}):
        status, _ = await call(http, emulator, "POST", "alarms", token, body=bad)
        assert status == 400, bad

    for name in ("second", "third"):
        source = {"type": "cameras", "id": "cam-2"}
        await call(
            http, emulator, "POST", "alarms", token, body={"name": name, "source": source, "priority": "Low"}
        )
    _, body = await call(http, emulator, "GET", "alarms", token, params={"page": "0", "size": "2"})
    assert [a["name"] for a in body["array"]] == ["third", "second"]
    assert body["array"][0]["priority"]["name"] == "Low"
    _, body = await call(http, emulator, "GET", "alarms", token, params={"page": "1", "size": "2"})
    assert [a["name"] for a in body["array"]] == ["Tailgating"]
    status, _ = await call(http, emulator, "GET", "alarms", token, params={"size": "0"})
    assert status == 400


async def test_bookmarks_rest(emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str) -> None:
    request = {
        "header": "Tailgating",
        "description": "Two people, one badge",
        "timeBegin": "2024-05-01T12:00:00Z",
        "timeEnd": "2024-05-01T12:01:00+00:00",
        "devicePath": {"type": "cameras", "id": "cam-1"},
    }
    status, body = await call(http, emulator, "POST", "bookmarks", token, body=request)
    assert status == 201
    bookmark = body["data"]
    assert bookmark["header"] == "Tailgating"
    assert bookmark["timeEnd"] == "2024-05-01T12:01:00Z"
    assert bookmark["timeTriggered"] == bookmark["timeBegin"] == "2024-05-01T12:00:00Z"
    assert bookmark["devicePath"] == {"type": "cameras", "id": "cam-1"}
    assert bookmark["deviceName"] == "North Gate"
    status, body = await call(http, emulator, "GET", f"bookmarks/{bookmark['id']}", token)
    assert (status, body["data"]) == (200, bookmark)
    assert emulator.bookmarks == [bookmark]

    status, _ = await call(http, emulator, "GET", "bookmarks/ghost", token)
    assert status == 404
    for change in (
        {"devicePath": {"type": "cameras", "id": "ghost"}},
        {"devicePath": {"type": "inputEvents", "id": "in-1"}},
        {"timeEnd": "2024-05-01T11:00:00Z"},
        {"timeBegin": "yesterday"},
        {"header": ""},
    ):
        status, _ = await call(http, emulator, "POST", "bookmarks", token, body={**request, **change})
        assert status == 400, change
    assert len(emulator.bookmarks) == 1


# --------------------------------------------------------------------------------------------
# Events and State WebSocket
# --------------------------------------------------------------------------------------------


async def test_websocket_upgrade_checks_the_bearer_token(
    emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await connect_ws(http, emulator, "forged")
    assert info.value.status == 401
    ess, _ = await open_ess(http, emulator, token)
    assert emulator.open_sockets == 1
    assert emulator.counters["ws_connect"] == 1

    emulator.expire_tokens()
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await connect_ws(http, emulator, token)
    assert info.value.status == 401
    # The open socket was checked when it connected; it keeps working after expiry.
    event = emulator.motion("cam-1", True)
    assert await ess.take(1) == [event]
    assert (await ess.command("getState"))["status"] == 200
    await ess.ws.close()


async def test_authenticate_command_without_header(
    emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str
) -> None:
    ess = Ess(await connect_ws(http, emulator, None))
    reply = await ess.command("authenticate", token=f"Bearer {token}")
    assert reply["status"] == 200
    assert (await ess.start())["status"] == 201
    await ess.ws.close()

    ess = Ess(await connect_ws(http, emulator, None))
    reply = await ess.command("startSession", sessionId="", eventId="")
    assert reply["status"] == 401
    assert reply["error"]["errorText"]
    msg = await ess.raw()
    assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, CLOSE_UNAUTHORIZED)

    ess = Ess(await connect_ws(http, emulator, None))
    reply = await ess.command("authenticate", token="Bearer forged")
    assert reply["status"] == 401
    assert reply["error"]["errorText"] == INVALID
    msg = await ess.raw()
    assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, CLOSE_UNAUTHORIZED)


async def test_start_session_and_command_errors(
    emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str
) -> None:
    ess = Ess(await connect_ws(http, emulator, token))
    for name in ("addSubscription", "getState", "removeSubscription"):
        reply = await ess.command(name, filters=EVERYTHING)
        assert reply["status"] == 400, name
    reply = await ess.start()
    assert reply["status"] == 201
    assert reply["sessionId"]
    assert emulator.sessions == 1
    reply = await ess.command("addSubscription", filters=[{"modifier": "maybe"}])
    assert reply["status"] == 400
    assert "modifier" in reply["error"]["errorText"]
    reply = await ess.command("addSubscription", filters=[])
    assert reply["status"] == 400
    reply = await ess.command("removeSubscription", subscriptionId="nope")
    assert reply["status"] == 404
    reply = await ess.command("dance")
    assert reply["status"] == 400
    assert (await ess.command("getState"))["status"] == 200  # still open
    assert emulator.counters["startSession"] == 1
    assert emulator.counters["getState"] == 2
    await ess.ws.close()


async def test_subscription_filters(
    emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str
) -> None:
    cameras_but_cam2 = [
        {"modifier": "include", "resourceTypes": ["cameras"], "sourceIds": ["*"], "eventTypes": ["*"]},
        {"modifier": "exclude", "resourceTypes": ["*"], "sourceIds": ["cam-2"], "eventTypes": ["*"]},
    ]
    ess, _ = await open_ess(http, emulator, token, cameras_but_cam2)
    emulator.motion("cam-2", True)  # excluded
    emulator.input("in-1", True)  # not included
    first = emulator.motion("cam-1", True)
    assert ids(await ess.take(1)) == [first["id"]]

    # A second subscription is independent: the first one's exclude does not apply to it.
    inputs = [{"modifier": "Include", "sourceIds": ["IN-1"], "eventTypes": [INPUT_ACTIVATED.upper()]}]
    subscription = await ess.subscribe(inputs)
    emulator.input("in-1", False)  # wrong event type
    second = emulator.input("in-1", True)
    emulator.motion("cam-2", False)
    third = emulator.recording("cam-1", True)
    assert ids(await ess.take(2)) == [second["id"], third["id"]]

    reply = await ess.command("removeSubscription", subscriptionId=subscription)
    assert reply["status"] == 200
    emulator.input("in-1", True)
    fourth = emulator.communication("cam-1", False)
    assert ids(await ess.take(1)) == [fourth["id"]]
    assert ess.pending == []
    await ess.ws.close()


async def test_get_state_returns_latest_state_per_source_and_group(
    emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str
) -> None:
    ess, _ = await open_ess(http, emulator, token, filters=None)
    assert (await ess.command("getState"))["states"] == []  # no subscription yet
    await ess.subscribe(
        [{"modifier": "include", "resourceTypes": ["*"], "sourceIds": ["cam-1"], "eventTypes": ["*"]}]
    )
    reply = await ess.command("getState")
    assert reply["status"] == 200
    assert sorted(s["type"] for s in reply["states"]) == sorted(
        [COMMUNICATION_STARTED, MOTION_STOPPED, RECORDING_STOPPED]
    )
    assert {s["source"] for s in reply["states"]} == {"cameras/cam-1"}

    motion = emulator.motion("cam-1", True)
    emulator.motion("cam-2", True)
    assert await ess.take(1) == [motion]
    states = (await ess.command("getState"))["states"]
    assert len(states) == 3
    assert [s for s in states if s["stategroupid"] == MOTION_STATE_GROUP] == [motion]
    await ess.ws.close()


async def test_resume_within_the_window_replays_exactly_the_missed_events(
    emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str
) -> None:
    motion_only = [
        {
            "modifier": "include",
            "resourceTypes": ["cameras"],
            "sourceIds": ["*"],
            "eventTypes": [MOTION_STARTED, MOTION_STOPPED],
        }
    ]
    ess, session_id = await open_ess(http, emulator, token, motion_only)
    e1, e2 = emulator.motion("cam-1", True), emulator.motion("cam-1", False)
    assert ids(await ess.take(2)) == [e1["id"], e2["id"]]
    e3 = emulator.motion("cam-2", True)  # pushed just before the drop; the client never reads it
    emulator.input("in-1", True)  # not subscribed: never replayed

    await emulator.drop_sockets()
    msg = await ess.raw()
    assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    assert emulator.open_sockets == 0
    assert emulator.sessions == 1

    e4 = emulator.motion("cam-2", False)
    emulator.recording("cam-1", True)  # not subscribed
    e5 = emulator.motion("cam-1", True)

    again = Ess(await connect_ws(http, emulator, token))
    reply = await again.start(session_id, e2["id"])
    assert (reply["status"], reply["sessionId"]) == (200, session_id)
    assert ids(await again.take(3)) == [e3["id"], e4["id"], e5["id"]]
    # The subscription survived, and nothing is replayed twice: the next event is the live one.
    e6 = emulator.motion("cam-1", False)
    assert ids(await again.take(1)) == [e6["id"]]
    assert again.pending == []
    assert emulator.counters["addSubscription"] == 1
    await again.ws.close()


async def test_resume_without_event_id_replays_the_whole_buffer(
    emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str
) -> None:
    _, session_id = await open_ess(http, emulator, token)
    fired = [emulator.motion("cam-1", True), emulator.motion("cam-1", False)]
    await emulator.drop_sockets()
    again = Ess(await connect_ws(http, emulator, token))
    assert (await again.start(session_id))["status"] == 200
    assert ids(await again.take(2)) == ids(fired)
    await again.ws.close()


async def test_resume_after_expiry_gets_a_new_session(
    emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str
) -> None:
    ess, session_id = await open_ess(http, emulator, token)
    last = emulator.motion("cam-1", True)
    await ess.take(1)
    await emulator.drop_sockets()
    emulator.expire_sessions()
    assert emulator.sessions == 0
    emulator.motion("cam-1", False)

    again = Ess(await connect_ws(http, emulator, token))
    reply = await again.start(session_id, last["id"])
    assert reply["status"] == 201
    assert reply["sessionId"] != session_id
    emulator.motion("cam-2", True)  # the old subscriptions are gone with the old session
    assert (await again.command("getState"))["states"] == []
    assert again.pending == []

    # The resume window also ends sessions, measured on the real clock.
    emulator.resume_window_seconds = 0
    await emulator.drop_sockets()
    third = Ess(await connect_ws(http, emulator, token))
    assert (await third.start(reply["sessionId"]))["status"] == 201
    await third.ws.close()


async def test_send_malformed_pushes_bad_frames(
    emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str
) -> None:
    ess, _ = await open_ess(http, emulator, token)
    await emulator.send_malformed()
    first = await ess.raw()
    assert first.type is aiohttp.WSMsgType.TEXT
    with pytest.raises(json.JSONDecodeError):
        json.loads(first.data)
    assert await ess.frame() == {"events": "not-a-list"}
    await ess.ws.close()


@pytest.mark.parametrize("frame", ["not json", '{"commandId": 1}', '["startSession"]', b"\x00binary"])
async def test_malformed_client_command_closes_the_socket(
    emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str, frame: str | bytes
) -> None:
    ess, _ = await open_ess(http, emulator, token)
    if isinstance(frame, bytes):
        await ess.ws.send_bytes(frame)
    else:
        await ess.ws.send_str(frame)
    msg = await ess.raw()
    assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, CLOSE_MALFORMED)
    await ess.ws.close()
    assert emulator.sessions == 1  # the session stays resumable


# --------------------------------------------------------------------------------------------
# Quirks
# --------------------------------------------------------------------------------------------


async def test_delay_quirk_delays_rest_and_idp(
    emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str
) -> None:
    emulator.quirks.delay_seconds = 0.2
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (await call(http, emulator, "GET", "cameras", token))[0] == 200
    assert loop.time() - started >= 0.2
    started = loop.time()
    assert (await get_token(http, emulator))[0] == 200
    assert loop.time() - started >= 0.2


async def test_http_500_quirk_fails_rest_only(
    emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str
) -> None:
    emulator.quirks.http_500 = True
    status, body = await call(http, emulator, "GET", "cameras", token)
    assert status == 500
    assert body["error"]["httpCode"] == 500
    assert error_text(body)
    assert (await call(http, emulator, "POST", "events", token, body={"type": "ude-1"}))[0] == 500
    assert (await get_token(http, emulator))[0] == 200
    assert (await control(http, emulator, "state"))[0] == 200
    ess, _ = await open_ess(http, emulator, token)  # the WebSocket is not REST
    await ess.ws.close()
    emulator.quirks.http_500 = False
    assert (await call(http, emulator, "GET", "cameras", token))[0] == 200


async def test_malformed_json_quirk_truncates_event_frames(
    emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str
) -> None:
    ess, _ = await open_ess(http, emulator, token)
    emulator.quirks.malformed_json = True
    emulator.motion("cam-1", True)
    msg = await ess.raw()
    assert msg.type is aiohttp.WSMsgType.TEXT
    assert msg.data.startswith('{"events": [')
    with pytest.raises(json.JSONDecodeError):
        json.loads(msg.data)
    assert (await ess.command("getState"))["status"] == 200  # replies stay valid
    await ess.ws.close()


# --------------------------------------------------------------------------------------------
# Control surface
# --------------------------------------------------------------------------------------------


async def test_control_surface_fires_events(
    emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str
) -> None:
    ess, _ = await open_ess(http, emulator, token)
    status, body = await control(http, emulator, "motion", {"camera": "cam-1", "on": True})
    assert status == 200
    assert body["event"]["type"] == MOTION_STARTED
    status, body = await control(
        http, emulator, "fire", {"type": COMMUNICATION_ERROR, "source": "cameras/cam-2", "data": {"code": 7}}
    )
    assert status == 200
    status, body = await control(http, emulator, "communication", {"camera": "cam-2", "ok": True})
    assert status == 200
    status, body = await control(http, emulator, "input", {"input": "in-1", "active": True})
    assert status == 200
    status, body = await control(http, emulator, "output", {"output": "out-1", "active": True})
    assert status == 200
    status, body = await control(http, emulator, "recording", {"camera": "cam-1", "on": False})
    assert status == 200
    got = await ess.take(6)
    assert [(e["type"], e["source"]) for e in got] == [
        (MOTION_STARTED, "cameras/cam-1"),
        (COMMUNICATION_ERROR, "cameras/cam-2"),
        (COMMUNICATION_STARTED, "cameras/cam-2"),
        (INPUT_ACTIVATED, "inputEvents/in-1"),
        (OUTPUT_ACTIVATED, "outputs/out-1"),
        (RECORDING_STOPPED, "cameras/cam-1"),
    ]
    assert got[1]["data"] == {"code": 7}

    status, state = await control(http, emulator, "state")
    assert status == 200
    assert set(state) >= {"open_sockets", "sessions", "counters", "alarms", "ptz_gotos", "quirks"}
    assert (state["open_sockets"], state["sessions"]) == (1, 1)
    assert [a["name"] for a in state["alarms"]] == ["Door forced"]
    assert state["quirks"] == {
        "delay_seconds": 0.0,
        "fail_tasks": False,
        "http_500": False,
        "malformed_json": False,
        "no_ptz_preset_task": False,
        "alarm_levels_as_ids": False,
        "alarm_source_from_event": False,
    }
    await ess.ws.close()


async def test_control_surface_rejects_bad_input(
    emulator: XProtectEmulator, http: aiohttp.ClientSession
) -> None:
    for name, body in (
        ("motion", {"camera": "ghost", "on": True}),
        ("motion", {"camera": "cam-1", "on": "yes"}),
        ("input", {"input": "cam-1", "active": True}),
        ("fire", {"type": MOTION_STARTED, "source": "cam-1"}),
        ("fire", {"type": MOTION_STARTED}),
        ("fire", [1, 2]),
        ("quirks", {"http_500": "yes"}),
        ("quirks", {"nope": True}),
        ("settings", {"resume_window_seconds": -1}),
        ("settings", {"colour": 1}),
    ):
        status, reply = await control(http, emulator, name, body)
        assert status == 400, (name, body)
        assert isinstance(reply["error"], str)
    async with http.post(emulator.url + "/control/motion", data=b"{not json") as resp:
        assert resp.status == 400
        assert "error" in await resp.json()


async def test_control_surface_hooks(
    emulator: XProtectEmulator, http: aiohttp.ClientSession, token: str
) -> None:
    status, state = await control(http, emulator, "quirks", {"fail_tasks": True, "delay_seconds": 0})
    assert status == 200
    assert emulator.quirks.fail_tasks
    assert state["quirks"]["fail_tasks"]
    await control(http, emulator, "quirks", {"fail_tasks": False})
    status, state = await control(
        http, emulator, "settings", {"resume_window_seconds": 5, "token_lifetime_seconds": 60}
    )
    assert (state["resume_window_seconds"], emulator.token_lifetime_seconds) == (5.0, 60.0)

    ess, _ = await open_ess(http, emulator, token)
    status, _ = await control(http, emulator, "malformed")
    assert status == 200
    assert (await ess.raw()).type is aiohttp.WSMsgType.TEXT
    assert await ess.frame() == {"events": "not-a-list"}

    status, state = await control(http, emulator, "drop-sockets")
    assert (status, state["open_sockets"], state["sessions"]) == (200, 0, 1)
    assert (await ess.raw()).type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    status, state = await control(http, emulator, "expire-sessions")
    assert (status, state["sessions"]) == (200, 0)
    status, _ = await control(http, emulator, "expire-tokens")
    assert status == 200
    status, body = await call(http, emulator, "GET", "cameras", token)
    assert (status, error_text(body)) == (401, EXPIRED)
    assert state["counters"]["ws_connect"] == 1
