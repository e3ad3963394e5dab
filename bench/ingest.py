"""Ingest benchmark: sustained events/s and acknowledgement latency on SQLite and PostgreSQL.

    python bench/ingest.py                       # 100k events on each backend
    python bench/ingest.py --events 2000 --backends sqlite

Two runs per backend on a fresh database:
  saturated  publishers submit as fast as the bus accepts; latency includes queueing
  paced      a steady offered rate well under capacity; latency is what one event sees
Then correlation catches up over everything stored, and its rate is printed too.
Figures only: nothing here passes or fails on a number.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from vmsbridge.bus import InProcessBus
from vmsbridge.config import SiteDirectory, default_config_path, load_site_config
from vmsbridge.correlate import Correlator
from vmsbridge.ingest import IngestStage
from vmsbridge.model import IngestOutcome
from vmsbridge.store.database import Database
from vmsbridge.store.events import EventStore
from vmsbridge.store.incidents import IncidentStore
from vmsbridge.store.migrate import upgrade

DEVICES = [
    ("cam-lotb-ptz", "motion.start"),
    ("bl-lotb", "phone.offhook"),
    ("door-maple-main", "door.forced"),
    ("cam-library-lobby", "motion.start"),
    ("cam-quad-ptz", "motion.stop"),
    ("door-library-staff", "access.granted"),
]


def payloads(count: int, tag: str) -> list[dict[str, Any]]:
    base = datetime(2026, 11, 20, tzinfo=UTC)
    out = []
    for n in range(count):
        device, kind = DEVICES[n % len(DEVICES)]
        when = (base + timedelta(seconds=n * 0.5)).isoformat()
        out.append(
            {
                "source": f"bench:{tag}",
                "native_id": str(n),
                "kind": kind,
                "device_id": device,
                "occurred_at": when,
                "received_at": when,
                "attributes": {"n": n},
            }
        )
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def publish(
    bus: InProcessBus, items: list[dict[str, Any]], rate: float | None
) -> tuple[float, list[float]]:
    """Submit every item (at ``rate`` per second if given); return (elapsed s, ack latencies s)."""
    latencies: list[float] = []
    futures = []
    start = time.perf_counter()
    for n, item in enumerate(items):
        if rate is not None:
            due = start + n / rate
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
        sent = time.perf_counter()
        future = await bus.submit(item)

        def done(f: asyncio.Future[IngestOutcome], sent: float = sent) -> None:
            latencies.append(time.perf_counter() - sent)

        future.add_done_callback(done)
        futures.append(future)
    outcomes = await asyncio.gather(*futures)
    elapsed = time.perf_counter() - start
    bad = [o for o in outcomes if o.status != "stored"]
    if bad:
        raise SystemExit(f"benchmark input was not stored: {bad[0]}")
    return elapsed, latencies


async def bench_backend(name: str, url: str, events: int, paced_rate: float) -> None:
    site = load_site_config(default_config_path())
    directory = SiteDirectory(site)
    async with Database(url) as db:
        await upgrade(db)
        bus = InProcessBus(capacity=10_000)
        stage = IngestStage(bus, EventStore(db), directory, batch_size=500)
        task = asyncio.create_task(stage.run())
        try:
            elapsed, lat = await publish(bus, payloads(events, "saturated"), rate=None)
            print(
                f"{name:<11} saturated  {events:>7} events  {events / elapsed:>8.0f} events/s  "
                f"ack p50 {percentile(lat, 0.5) * 1e3:7.1f} ms  p99 {percentile(lat, 0.99) * 1e3:7.1f} ms  "
                f"({stage.stats.batches} batches, mean {events / max(stage.stats.batches, 1):.0f} per commit)"
            )
            paced_events = max(1, min(events, int(paced_rate * 5)))
            elapsed, lat = await publish(bus, payloads(paced_events, "paced"), rate=paced_rate)
            print(
                f"{name:<11} paced      {paced_events:>7} events  {paced_events / elapsed:>8.0f} events/s  "
                f"ack p50 {percentile(lat, 0.5) * 1e3:7.1f} ms  p99 {percentile(lat, 0.99) * 1e3:7.1f} ms  "
                f"(offered {paced_rate:.0f}/s; mean {statistics.fmean(lat) * 1e3:.1f} ms)"
            )
        finally:
            bus.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        correlator = Correlator(IncidentStore(db), directory, site.correlation)
        start = time.perf_counter()
        done = await correlator.catch_up()
        elapsed = time.perf_counter() - start
        print(
            f"{name:<11} correlate  {done:>7} events  {done / elapsed:>8.0f} events/s  "
            "(catch-up over the stored log)"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument(
        "--paced-rate", type=float, default=2_000.0, help="offered events/s for the paced run"
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--pg-admin",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="a PostgreSQL database to connect to while creating a scratch database",
    )
    args = parser.parse_args()
    print(f"vmsbridge ingest benchmark: Python {sys.version.split()[0]}, batch 500, bus capacity 10000")
    for backend in args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                await bench_backend(
                    "SQLite", f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", args.events, args.paced_rate
                )
        elif backend == "postgresql":
            name = f"vmsb_bench_{uuid.uuid4().hex[:8]}"
            admin = await asyncpg.connect(args.pg_admin)
            await admin.execute(f'CREATE DATABASE "{name}"')
            try:
                url = (
                    args.pg_admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
                    + "/"
                    + name
                )
                await bench_backend("PostgreSQL", url, args.events, args.paced_rate)
            finally:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await admin.close()
        else:
            raise SystemExit(f"unknown backend {backend!r}: use sqlite and/or postgresql")


if __name__ == "__main__":
    asyncio.run(main())
