"""XProtect event path benchmark: WebSocket frame -> normalized Event, and reconnect -> resumed.

    python bench/xprotect_events.py            # full run (about half a minute)
    python bench/xprotect_events.py --quick    # tiny sizes, for the smoke test

Figures printed (nothing is asserted):
  frames      ESS frames (1 event each, and 100 each) parsed, mapped and handed to the bus, one core
  replay      events fired while the socket is down, replayed on resume, measured end to end
  resume      socket dropped -> session resumed (status 200), over repeated drops: p50 / max
The emulator runs in the same process and event loop, so its cost is inside the end-to-end figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.xprotect.config import xprotect_connectors
from connectors.xprotect.emulator import MOTION_STARTED, MOTION_STOPPED, XProtectEmulator
from connectors.xprotect.sitespec import emulated_gateway
from connectors.xprotect.source import XProtectEventSource
from vmsbridge.backoff import Backoff
from vmsbridge.bus import EventPayload
from vmsbridge.config import SiteDirectory, load_site_config
from vmsbridge.model import Event, IngestOutcome

ROOT = Path(__file__).resolve().parent.parent
QUAD = "0d3c1f2e-7b5a-4c0e-9a51-6e2f3b8d1a01"


class CountingSink:
    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.done = asyncio.Event()

    async def submit(self, payload: EventPayload) -> asyncio.Future[IngestOutcome]:
        assert isinstance(payload, Event)
        self.count += 1
        if self.target and self.count >= self.target:
            self.done.set()
        future: asyncio.Future[IngestOutcome] = asyncio.get_running_loop().create_future()
        future.set_result(IngestOutcome("stored"))
        return future


def frames(total: int, per_frame: int) -> list[str]:
    out = []
    for start in range(0, total, per_frame):
        events = [
            {
                "id": f"00000000-0000-4000-8000-{n:012d}",
                "type": MOTION_STARTED if n % 2 else MOTION_STOPPED,
                "source": f"cameras/{QUAD}",
                "time": datetime.now(UTC).isoformat(),
                "stategroupid": "motion",
            }
            for n in range(start, min(total, start + per_frame))
        ]
        out.append(json.dumps({"events": events}))
    return out


async def bench_frames(source: XProtectEventSource, total: int) -> None:
    for per_frame in (1, 100):
        sink = CountingSink()
        source._sink = sink  # the parse-and-map path alone, without a socket
        batch = frames(total, per_frame)
        start = time.perf_counter()
        for frame in batch:
            message: dict[str, Any] = json.loads(frame)
            await source._on_events(message["events"], "live")
        elapsed = time.perf_counter() - start
        print(
            f"frames      {sink.count:>7} events  {sink.count / elapsed:>9.0f} events/s  "
            f"({per_frame} event(s) per frame, JSON -> Event -> bus, one core)"
        )


async def bench_end_to_end(site_dir: SiteDirectory, replay: int, drops: int) -> None:
    site = site_dir.site
    async with XProtectEmulator(emulated_gateway(site, "xprotect-main")) as gateway:
        connector = xprotect_connectors(site)[0].model_copy(
            update={"url": gateway.url, "username": "admin", "alarm_poll_seconds": 60}
        )
        source = XProtectEventSource(connector, site_dir, "admin", backoff=Backoff(0.05, 0.5))
        sink = CountingSink()
        task = asyncio.create_task(source.run(sink))
        try:
            await asyncio.wait_for(source.ess.connected.wait(), 30)
            # Replay: fire while the socket is down, then time how fast the backlog drains.
            before = sink.count
            sink.target = before + replay
            sink.done.clear()
            await gateway.drop_sockets()
            for n in range(replay):
                gateway.motion(QUAD, n % 2 == 0)
            start = time.perf_counter()
            await asyncio.wait_for(sink.done.wait(), 120)
            elapsed = time.perf_counter() - start
            print(
                f"replay      {replay:>7} events  {replay / elapsed:>9.0f} events/s  "
                f"(fired while disconnected, replayed after resume; emulator in the same loop)"
            )

            waits = []
            for _ in range(drops):
                resumed = source.ess.stats.resumed_sessions
                await gateway.drop_sockets()
                while source.ess.stats.resumed_sessions == resumed:  # noqa: ASYNC110 - a counter, no event
                    await asyncio.sleep(0.001)
                if source.ess.stats.last_resume_seconds is not None:
                    waits.append(source.ess.stats.last_resume_seconds * 1e3)
            print(
                f"resume      {len(waits):>7} drops   p50 {statistics.median(waits):7.1f} ms  "
                f"max {max(waits):7.1f} ms  (socket dropped -> session resumed, status 200)"
            )
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    args = parser.parse_args()
    site = load_site_config(ROOT / "examples" / "campus.toml")
    directory = SiteDirectory(site)
    print(f"vmsbridge XProtect event benchmark: Python {sys.version.split()[0]}")
    offline = XProtectEventSource(xprotect_connectors(site)[0], directory, "unused")
    await bench_frames(offline, 200 if args.quick else 50_000)
    await bench_end_to_end(directory, replay=100 if args.quick else 5_000, drops=3 if args.quick else 30)


if __name__ == "__main__":
    asyncio.run(main())
