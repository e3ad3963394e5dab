"""Crash safety: an ingesting process killed with SIGKILL loses no event it acknowledged."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import ROOT
from vmsbridge.correlate import CORRELATOR_STAGE
from vmsbridge.health.monitor import MONITOR_SOURCE
from vmsbridge.store.stores import open_store

TOTAL = 20_000
KILL_AFTER_ACKS = 3_000
LINE_TIMEOUT = 60  # bounds every wait on the child, so a hung child fails the test instead of CI
RUN_TIMEOUT = 300


def write_stream(path: Path) -> None:
    base = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
    devices = ["cam-lotb-ptz", "bl-lotb", "door-maple-main", "cam-library-lobby"]
    kinds = ["motion.start", "phone.offhook", "door.forced", "camera.comm_lost"]
    with path.open("w") as out:
        for n in range(TOTAL):
            when = base + timedelta(seconds=n)
            event = {
                "source": "test:crash",
                "native_id": f"c-{n}",
                "kind": kinds[n % 4],
                "device_id": devices[n % 4],
                "occurred_at": when.isoformat(),
                "received_at": when.isoformat(),
            }
            out.write(json.dumps(event) + "\n")


def import_command(stream: Path, db_url: str) -> list[str]:
    return [sys.executable, "-m", "vmsbridge", "events", "import", str(stream), "--acks", "--db", db_url]


async def start_import(stream: Path, db_url: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *import_command(stream, db_url),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_sigkill_mid_ingest_then_replay_stores_every_acknowledged_event_once(
    db_url: str, tmp_path: Path
) -> None:
    stream = tmp_path / "events.jsonl"
    write_stream(stream)

    child = await start_import(stream, db_url)
    assert child.stdout is not None
    acked: list[str] = []
    try:
        while len(acked) < KILL_AFTER_ACKS:
            line = await asyncio.wait_for(child.stdout.readline(), LINE_TIMEOUT)
            if not line:
                break  # the child ended on its own; the assertions below will say so
            status, _source, native_id = line.decode().split()
            assert status == "stored"
            acked.append(native_id)
        child.send_signal(signal.SIGKILL)
        # what the child printed before it died was acknowledged too
        rest, errors = await asyncio.wait_for(child.communicate(), LINE_TIMEOUT)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    acked += [line.split()[2] for line in rest.decode().splitlines()]
    assert child.returncode == -signal.SIGKILL, errors.decode()

    async with open_store(db_url) as stores:
        after_kill = await stores.events.native_id_counts("test:crash")
    assert set(acked) <= after_kill.keys(), "an acknowledged event was lost"
    assert len(after_kill) < TOTAL, "the child finished before it was killed: the test proved nothing"

    # restart: the source replays the whole stream, as a real one does after a crash
    rerun = await start_import(stream, db_url)
    try:
        out, errors = await asyncio.wait_for(rerun.communicate(), RUN_TIMEOUT)
    finally:
        if rerun.returncode is None:
            rerun.kill()
            await rerun.wait()
    assert rerun.returncode == 0, errors.decode()
    statuses = [line.split()[0] for line in out.decode().splitlines()]
    assert statuses.count("duplicate") == len(after_kill)
    assert statuses.count("stored") == TOTAL - len(after_kill)

    async with open_store(db_url) as stores:
        final = await stores.events.native_id_counts("test:crash")
        [newest] = await stores.events.recent(1)
        assert await stores.incidents.cursor(CORRELATOR_STAGE) == newest.id, "correlation did not catch up"
    assert len(final) == TOTAL
    async with open_store(db_url) as stores:
        # The health monitor may add its own camera.offline for the camera whose comm_lost was
        # never followed by a restore: once, whatever the crash and the replay did.
        alerts = await stores.events.native_id_counts(MONITOR_SOURCE)
        assert all(n == 1 for n in alerts.values())
        assert len(alerts) <= 1
        assert await stores.events.count() == TOTAL + len(alerts)  # one row per event, none extra
