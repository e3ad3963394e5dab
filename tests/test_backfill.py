"""A backfill through ``vmsbridge events import`` gives the same incidents in one go or interrupted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _create_pg_database, _drop_pg_database
from vmsbridge.cli.main import main
from vmsbridge.store.stores import open_store

BASE = datetime(2025, 10, 4, 21, 0, tzinfo=UTC)  # last year's history: the wall clock is far ahead

# (minutes after BASE, kind, device); correlation defaults: window 600 s, quiet close 1800 s.
HISTORY = [
    (0, "motion.start", "cam-athletics-gate"),
    (3, "motion.stop", "cam-athletics-gate"),
    (20, "phone.offhook", "bl-quad"),
    (22, "motion.start", "cam-quad-ptz"),
    # an interrupted import stops here; the call at the quad goes on in the second part
    (27, "phone.onhook", "bl-quad"),
    (45, "door.forced", "door-maple-main"),  # 42 min after athletics' last event: that one is quiet
    (50, "motion.start", "cam-maple-entry"),
    (70, "access.denied", "door-library-staff"),  # 43 min after the call ended: the quad is quiet
]
SPLIT = 4

Summary = list[tuple[Any, ...]]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def two_databases(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    if request.param == "sqlite":
        yield (
            f"sqlite+aiosqlite:///{tmp_path / 'one-go.db'}",
            f"sqlite+aiosqlite:///{tmp_path / 'interrupted.db'}",
        )
        return
    urls = (await _create_pg_database(), await _create_pg_database())
    try:
        yield urls
    finally:
        for url in urls:
            await _drop_pg_database(url)


def write_lines(path: Path, rows: list[tuple[int, str, str]]) -> Path:
    lines = [
        {
            "source": "rms-export",
            "native_id": f"h-{minutes}-{device}",
            "kind": kind,
            "device_id": device,
            "occurred_at": (BASE + timedelta(minutes=minutes)).isoformat(),
        }
        for minutes, kind, device in rows
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


async def summary(db_url: str) -> Summary:
    """The incidents as a user sees them (ids aside: a re-run import leaves gaps on PostgreSQL)."""
    async with open_store(db_url) as stores:
        return [
            (
                i.location_id,
                i.priority.value,
                i.status.value,
                i.close_reason,
                i.started_at,
                i.last_event_at,
                [e.native_id for e in await stores.incidents.events_of(i.id)],
            )
            for i in await stores.incidents.search()
        ]


async def test_an_interrupted_backfill_gives_the_incidents_of_an_uninterrupted_one(
    two_databases: tuple[str, str], tmp_path: Path
) -> None:
    one_go, interrupted = two_databases
    whole = write_lines(tmp_path / "history.jsonl", HISTORY)
    first_part = write_lines(tmp_path / "first-part.jsonl", HISTORY[:SPLIT])

    # main() runs its own event loop: each call is a separate bridge process's life, so the
    # interrupted import really restarts between its two parts (the second re-runs the whole file).
    assert await asyncio.to_thread(main, ["events", "import", str(whole), "--db", one_go]) == 0
    assert await asyncio.to_thread(main, ["events", "import", str(first_part), "--db", interrupted]) == 0
    assert await asyncio.to_thread(main, ["events", "import", str(whole), "--db", interrupted]) == 0

    expected = await summary(one_go)
    assert await summary(interrupted) == expected
    by_place = {row[0]: row for row in expected}
    quiet = "quiet for 1800 s"
    # Closed as the history's own time passed, not because the wall clock is a year later.
    assert by_place["athletics"][2:4] == ("closed", quiet)
    assert by_place["quad"][2:4] == ("closed", quiet)
    assert by_place["quad"][6] == ["h-20-bl-quad", "h-22-cam-quad-ptz", "h-27-bl-quad"]
    assert by_place["maple-hall"][2] == "open"
    assert by_place["library"][2] == "open"
    assert [row[0] for row in expected] == ["athletics", "quad", "maple-hall", "library"]
