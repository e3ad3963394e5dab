"""ONVIF event path benchmark: PullMessages reply -> normalized Event, and device fire -> bus.

    python bench/onvif_events.py                   # full run (about a minute)
    python bench/onvif_events.py --quick           # tiny sizes, for the smoke test

Figures printed (nothing is asserted):
  parse       one PullMessages reply of 100 messages parsed and normalized, in a loop (one core)
  1 device    a burst queued on one emulated device, pulled with MessageLimit 100: events/s
  50 devices  a burst on each of 50 devices, 50 connector instances pulling at once: events/s
  latency     events fired one by one at a steady rate on 50 devices: fire -> bus p50/p99
The emulator runs in its own process (`vmsbridge emulate onvif`) on the same 2 cores, so the
device side's cost is inside the end-to-end figures, as it would not be with real cameras.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from connectors.onvif.config import onvif_connectors
from connectors.onvif.events import PullSettings
from connectors.onvif.mapping import DeviceMap, PropertyStates, build_event
from connectors.onvif.messages import parse_pull_messages
from connectors.onvif.source import OnvifEventSource
from connectors.onvif.topics import read_notification
from vmsbridge.bus import EventPayload
from vmsbridge.config import SiteDirectory, load_site_config
from vmsbridge.model import Event, IngestOutcome

ROOT = Path(__file__).resolve().parent.parent
GRANTED = "tns1:AccessControl/AccessGranted/Credential"


def site_text(devices: int, base_port: int) -> str:
    lines = [
        '[site]\nname = "Bench campus"\ntimezone = "UTC"\n',
        '[[locations]]\nid = "yard"\nname = "Yard"\nclery_geography = "on_campus"\npublic_label = "Yard"\n',
    ]
    for n in range(devices):
        lines.append(
            f'[[connectors.onvif]]\nid = "dev-{n}"\nhost = "127.0.0.1"\nport = {base_port + n}\n'
            f'username = "admin"\npassword_env = "UNUSED"\nlocation = "yard"\n'
        )
    return "\n".join(lines)


def pull_reply(messages: int) -> bytes:
    parts = []
    for n in range(messages):
        parts.append(
            '<wsnt:NotificationMessage><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/'
            f'ConcreteSet">tns1:Device/Trigger/DigitalInput</wsnt:Topic><wsnt:Message><tt:Message '
            f'UtcTime="2026-01-05T10:00:{n % 60:02d}Z" PropertyOperation="Changed"><tt:Source>'
            f'<tt:SimpleItem Name="InputToken" Value="DI{n}"/></tt:Source><tt:Data>'
            f'<tt:SimpleItem Name="LogicalState" Value="true"/></tt:Data></tt:Message></wsnt:Message>'
            "</wsnt:NotificationMessage>"
        )
    return (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" '
        'xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tns1="http://www.onvif.org/ver10/topics">'
        "<s:Body><tev:PullMessagesResponse><tev:CurrentTime>2026-01-05T10:00:07Z</tev:CurrentTime>"
        "<tev:TerminationTime>2026-01-05T10:10:07Z</tev:TerminationTime>"
        + "".join(parts)
        + "</tev:PullMessagesResponse></s:Body></s:Envelope>"
    ).encode()


def bench_parse(directory: SiteDirectory, rounds: int) -> None:
    body = pull_reply(100)
    device_map = DeviceMap(onvif_connectors(directory.site)[0], directory)
    now = datetime.now(UTC)
    start = time.perf_counter()
    made = 0
    for _ in range(rounds):
        states = PropertyStates()
        notifications, _ = parse_pull_messages("bench", body)
        for n in notifications:
            reading = read_notification(n)
            if reading.is_property and not states.is_news(n.topic, reading, n.operation, alarm=True):
                continue
            if build_event(device_map, n, reading, occurred_at=n.utc_time or now, received_at=now):
                made += 1
    elapsed = time.perf_counter() - start
    print(
        f"parse       {made:>7} events  {made / elapsed:>9.0f} events/s  "
        f"(PullMessages reply of 100 -> Event, {rounds} replies, one core)"
    )


class TimingSink:
    """Records when each event reached the bus."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, Event]] = []
        self.target = 0
        self.done = asyncio.Event()

    async def submit(self, payload: EventPayload) -> asyncio.Future[IngestOutcome]:
        assert isinstance(payload, Event)
        self.arrivals.append((time.time(), payload))
        if self.target and len(self.arrivals) >= self.target:
            self.done.set()
        future: asyncio.Future[IngestOutcome] = asyncio.get_running_loop().create_future()
        future.set_result(IngestOutcome("stored"))
        return future


async def start_emulator(site_file: Path, base_port: int, devices: int) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vmsbridge",
        "emulate",
        "onvif",
        "--devices",
        str(site_file),
        "--port",
        str(base_port),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    for _ in range(devices + 1):
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        if not line:
            raise SystemExit(
                f"emulator failed: {(await process.stderr.read()).decode() if process.stderr else ''}"
            )
    return process


async def fire(http: aiohttp.ClientSession, port: int, body: dict[str, Any]) -> None:
    async with http.post(f"http://127.0.0.1:{port}/control/fire", json=body) as response:
        response.raise_for_status()


async def bench_devices(devices: int, burst: int, paced_seconds: float, base_port: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        site_file = Path(tmp) / "bench.toml"
        site_file.write_text(site_text(devices, base_port))
        site = load_site_config(site_file)
        directory = SiteDirectory(site)
        emulator = await start_emulator(site_file, base_port, devices)
        sink = TimingSink()
        settings = PullSettings(subscription_seconds=300, pull_timeout=5, message_limit=100)
        sources = [
            OnvifEventSource(c, directory, "admin", settings=settings, health_interval=30)
            for c in onvif_connectors(site)
        ]
        tasks = [asyncio.create_task(s.run(sink)) for s in sources]
        try:
            await asyncio.wait_for(asyncio.gather(*(s.loop.subscribed.wait() for s in sources)), 120)
            async with aiohttp.ClientSession() as http:
                # Burst: queue everything on the devices first, then measure how fast it drains.
                sink.target = devices * burst
                body = {
                    "topic": GRANTED,
                    "source": {"AccessPointToken": "AP1"},
                    "data": {"CredentialToken": "c"},
                    "count": burst,
                }
                await asyncio.gather(*(fire(http, base_port + n, body) for n in range(devices)))
                await asyncio.wait_for(sink.done.wait(), 600)
                times = [t for t, _ in sink.arrivals]
                pulls = sum(s.loop.stats.pulls for s in sources)
                rate = len(times) / (times[-1] - times[0]) if len(times) > 1 else float("nan")
                label = "1 device  " if devices == 1 else f"{devices} devices"
                per_pull = len(times) / max(pulls, 1)
                print(
                    f"{label}  {len(times):>7} events  {rate:>9.0f} events/s  "
                    f"(burst of {burst} per device, MessageLimit 100, {per_pull:.0f} per pull on average)"
                )

                if paced_seconds <= 0:
                    return
                # Steady trickle: each event carries its fire time; latency = bus time - fire time.
                rounds = int(paced_seconds * 10)
                expected = rounds * devices
                sink.arrivals.clear()
                sink.done.clear()
                sink.target = expected
                for r in range(rounds):
                    tick = time.perf_counter()
                    await asyncio.gather(
                        *(
                            fire(
                                http,
                                base_port + n,
                                {
                                    "topic": GRANTED,
                                    "source": {"AccessPointToken": "AP1"},
                                    "data": {"CredentialToken": f"{time.time():.6f}", "R": str(r)},
                                },
                            )
                            for n in range(devices)
                        )
                    )
                    await asyncio.sleep(max(0.0, 0.1 - (time.perf_counter() - tick)))
                with contextlib.suppress(TimeoutError):  # what is missing then shows in the count printed
                    await asyncio.wait_for(sink.done.wait(), 30)
                latencies = sorted(t - float(e.attributes["credential"]) for t, e in sink.arrivals)
                p50 = latencies[len(latencies) // 2] * 1e3
                p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1e3
                print(
                    f"latency     {len(latencies):>7} events  {expected / paced_seconds:>9.0f} offered/s  "
                    f"fire -> bus p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
                    f"mean {statistics.fmean(latencies) * 1e3:.1f} ms  ({devices} devices)"
                )
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            emulator.send_signal(signal.SIGTERM)
            await asyncio.wait_for(emulator.wait(), 30)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--port", type=int, default=28_000, help="first emulator port")
    args = parser.parse_args()
    directory = SiteDirectory(load_site_config(ROOT / "examples" / "campus.toml"))
    print(f"vmsbridge ONVIF event benchmark: Python {sys.version.split()[0]}")
    bench_parse(directory, rounds=5 if args.quick else 300)
    await bench_devices(1, burst=200 if args.quick else 10_000, paced_seconds=0, base_port=args.port)
    many = 3 if args.quick else 50
    await bench_devices(
        many,
        burst=50 if args.quick else 2_000,
        paced_seconds=0.5 if args.quick else 5,
        base_port=args.port,
    )


if __name__ == "__main__":
    asyncio.run(main())
