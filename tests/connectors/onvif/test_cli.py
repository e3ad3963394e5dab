"""`vmsbridge emulate onvif`, `onvif probe` and `onvif watch`, as a user runs them: separate processes."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from tests.connectors.conftest import WAIT, free_ports, read_line, vmsbridge


@pytest.fixture
async def emulated_campus() -> AsyncIterator[int]:
    port = free_ports(2)
    emulator = await vmsbridge("emulate", "onvif", "--port", str(port))
    try:
        lines = [await read_line(emulator) for _ in range(3)]
        assert lines[0].startswith(f"onvif-north    http://127.0.0.1:{port} ")
        assert lines[1].startswith(f"onvif-south    http://127.0.0.1:{port + 1} ")
        assert "Ctrl-C to stop" in lines[2]
        yield port
    finally:
        emulator.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(emulator.wait(), WAIT)
    assert code == 0, "the emulator must stop cleanly on SIGTERM"


async def control(
    port: int, method: str, path: str, body: dict[str, object] | None = None
) -> dict[str, object]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"http://127.0.0.1:{port}/control/{path}", json=body) as response,
    ):
        assert response.status == 200, await response.text()
        result: dict[str, object] = await response.json()
        return result


async def test_probe_reports_what_the_device_offers(emulated_campus: int) -> None:
    probe = await vmsbridge("onvif", "probe", f"127.0.0.1:{emulated_campus}", "--user", "admin", "--json")
    out, err = await asyncio.wait_for(probe.communicate(), WAIT)
    assert probe.returncode == 0, err.decode()
    report = json.loads(out)
    assert (report["manufacturer"], report["model"]) == ("vmsbridge", "EmuEncoder")
    assert [p["token"] for p in report["profiles"]] == ["Profile_1"]
    assert report["presets"] == {"Profile_1": {"3": "bl-lotb", "1": "entrance", "2": "overview"}}
    assert "tns1:Device/Trigger/DigitalInput" in report["topics"]


async def test_probe_with_a_wrong_password_fails_naming_the_device(emulated_campus: int) -> None:
    probe = await vmsbridge("onvif", "probe", f"127.0.0.1:{emulated_campus}", "--user", "nobody")
    _, err = await asyncio.wait_for(probe.communicate(), WAIT)
    assert probe.returncode == 1
    assert f"ONVIF device 127.0.0.1:{emulated_campus}" in err.decode()
    assert "NotAuthorized" in err.decode()


async def test_probe_without_a_password_variable_says_which_one(emulated_campus: int) -> None:
    probe = await vmsbridge(
        "onvif",
        "probe",
        f"127.0.0.1:{emulated_campus}",
        "--user",
        "admin",
        "--password-env",
        "NO_SUCH_VARIABLE_SET",
    )
    _, err = await asyncio.wait_for(probe.communicate(), WAIT)
    assert probe.returncode == 2
    assert "NO_SUCH_VARIABLE_SET is not set" in err.decode()


async def test_watch_prints_mapped_events_live_and_releases_its_subscription(emulated_campus: int) -> None:
    watch = await vmsbridge(
        "onvif",
        "watch",
        f"127.0.0.1:{emulated_campus}",
        "--user",
        "admin",
        "--connector",
        "onvif-north",
        "--json",
    )
    try:

        async def subscribed() -> None:
            while (await control(emulated_campus, "GET", "state"))["live_subscriptions"] != 1:  # noqa: ASYNC110
                await asyncio.sleep(0.05)

        await asyncio.wait_for(subscribed(), WAIT)
        await control(emulated_campus, "POST", "input", {"token": "DI1", "active": True})
        event = json.loads(await read_line(watch))
        assert (event["kind"], event["device_id"], event["source"]) == (
            "phone.offhook",
            "bl-lotb",
            "onvif:onvif-north",
        )
    finally:
        watch.send_signal(signal.SIGINT)
        await asyncio.wait_for(watch.wait(), WAIT)
    assert watch.returncode == 0
    assert (await control(emulated_campus, "GET", "state"))["live_subscriptions"] == 0


MONTH_13 = b"""<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
  xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema">
 <s:Body><tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>
  <tt:DateTimeType>Manual</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>
  <tt:UTCDateTime>
   <tt:Time><tt:Hour>10</tt:Hour><tt:Minute>0</tt:Minute><tt:Second>0</tt:Second></tt:Time>
   <tt:Date><tt:Year>2026</tt:Year><tt:Month>13</tt:Month><tt:Day>1</tt:Day></tt:Date>
  </tt:UTCDateTime>
 </tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse></s:Body>
</s:Envelope>"""


@pytest.fixture
async def device_in_month_13() -> AsyncIterator[int]:
    """A device whose clock answers Month 13, whatever it is asked."""

    async def answer(_: web.Request) -> web.Response:
        return web.Response(body=MONTH_13, content_type="application/soap+xml")

    app = web.Application()
    app.router.add_post("/{path:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def test_probe_of_a_device_whose_clock_says_month_13_fails_with_a_clear_error(
    device_in_month_13: int,
) -> None:
    probe = await vmsbridge("onvif", "probe", f"127.0.0.1:{device_in_month_13}", "--user", "admin")
    _, err = await asyncio.wait_for(probe.communicate(), WAIT)
    assert probe.returncode == 1, err.decode()
    message = err.decode()
    assert f"ONVIF device 127.0.0.1:{device_in_month_13}" in message
    assert "month must be in 1..12" in message
    assert "Traceback" not in message


async def test_watch_that_never_subscribed_exits_1_with_the_reason(emulated_campus: int) -> None:
    watch = await vmsbridge(
        "onvif", "watch", f"127.0.0.1:{emulated_campus}", "--user", "nobody", "--for", "2"
    )
    _, err = await asyncio.wait_for(watch.communicate(), WAIT)
    message = err.decode()
    assert watch.returncode == 1, message
    assert f"never subscribed to the events of 127.0.0.1:{emulated_campus}" in message
    assert "NotAuthorized" in message
    assert "Unclosed client session" not in message
