"""`vmsbridge emulate xprotect`, `xprotect probe` and `xprotect watch`, run as separate processes."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.connectors.conftest import WAIT, free_ports, read_line, vmsbridge

QUAD = "0d3c1f2e-7b5a-4c0e-9a51-6e2f3b8d1a01"


@pytest.fixture
async def emulated_gateway() -> AsyncIterator[str]:
    port = free_ports(1)
    emulator = await vmsbridge("emulate", "xprotect", "--port", str(port))
    try:
        first = await read_line(emulator)
        assert first.startswith(f"xprotect-main  http://127.0.0.1:{port} ")
        assert "Ctrl-C to stop" in await read_line(emulator)
        yield f"http://127.0.0.1:{port}"
    finally:
        emulator.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(emulator.wait(), WAIT)
    assert code == 0, "the emulator must stop cleanly on SIGTERM"


async def control(
    url: str, method: str, path: str, body: dict[str, object] | None = None
) -> dict[str, object]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{url}/control/{path}", json=body) as r,
    ):
        assert r.status == 200, await r.text()
        result: dict[str, object] = await r.json()
        return result


async def test_probe_lists_what_the_vms_has_and_compares_it_with_the_site(emulated_gateway: str) -> None:
    probe = await vmsbridge(
        "xprotect", "probe", emulated_gateway, "--user", "admin", "--connector", "xprotect-main", "--json"
    )
    out, err = await asyncio.wait_for(probe.communicate(), WAIT)
    assert probe.returncode == 0, err.decode()
    report = json.loads(out)
    for key in ("cameras", "inputs", "event_types", "alarm_definitions"):
        assert isinstance(report[key], list), key
    names = {c["name"] for c in report["cameras"]}
    assert {"Quad PTZ (clock tower)", "Maple Hall main entrance", "Library lobby"} <= names
    quad = next(c for c in report["cameras"] if c["id"] == QUAD)
    assert quad["ptz_presets"] == {"5": "bl-quad", "6": "library-steps", "1": "overview"}
    assert any(t["name"] == "Motion Started" for t in report["event_types"])
    assert report["vms_cameras_not_in_site"] == []
    assert report["site_cameras_not_in_vms"] == []


async def test_probe_with_a_wrong_password_says_who_was_refused(emulated_gateway: str) -> None:
    probe = await vmsbridge("xprotect", "probe", emulated_gateway, "--user", "mallory")
    _, err = await asyncio.wait_for(probe.communicate(), WAIT)
    assert probe.returncode == 1
    assert "refused user 'mallory'" in err.decode()
    assert "Unclosed" not in err.decode(), "the HTTP session must be closed on the failure path"


async def test_watch_prints_mapped_events_live(emulated_gateway: str) -> None:
    watch = await vmsbridge(
        "xprotect", "watch", emulated_gateway, "--user", "admin", "--connector", "xprotect-main", "--json"
    )
    try:

        async def subscribed() -> None:
            while True:
                counters = (await control(emulated_gateway, "GET", "state"))["counters"]
                assert isinstance(counters, dict)
                if counters.get("addSubscription", 0) >= 1:
                    return
                await asyncio.sleep(0.05)

        await asyncio.wait_for(subscribed(), WAIT)
        await control(emulated_gateway, "POST", "motion", {"camera": QUAD, "on": True})
        event = json.loads(await read_line(watch))
        assert (event["kind"], event["device_id"]) == ("motion.start", "cam-quad-ptz")
    finally:
        watch.send_signal(signal.SIGINT)
        await asyncio.wait_for(watch.wait(), WAIT)
    assert watch.returncode == 0
