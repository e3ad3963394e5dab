"""Audits of the evidence store, on SQLite and PostgreSQL: what is missing, altered or orphaned is
named, nothing is changed but stale temporaries removed, and every audit is recorded."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
import threading
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from evidence.custody import append
from evidence.store import ContentStore, HashingStopped, hash_file, hash_regular_file
from evidence.temps import host_tag
from tests.evidence.conftest import dead_pid
from vmsbridge import evidence_audit
from vmsbridge.config.evidence import parse_every
from vmsbridge.evidence_audit import AuditReport, ScheduledAudit, audit_store, rehash_blob
from vmsbridge.evidence_service import add_file, dispose, last_verifications
from vmsbridge.log_output import escape_controls
from vmsbridge.model import Priority
from vmsbridge.model.evidence import EvidenceItem
from vmsbridge.store.stores import Stores

T0 = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
DAY_AGO = time.time() - 86_400


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _clip(tmp_path: Path, name: str, seed: int, size: int = 300_000) -> Path:
    path = tmp_path / name
    path.write_bytes(hashlib.sha256(str(seed).encode()).digest() * (size // 32))
    return path


def _flip(path: Path, offset: int = 1000) -> None:
    os.chmod(path, 0o644)  # what it takes: blobs are read-only
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def _age(path: Path) -> None:
    os.utime(path, (DAY_AGO, DAY_AGO))


async def _incident(stores: Stores, summary: str = "x") -> int:
    incident = await stores.incidents.open(
        location_id="quad", summary=summary, priority=Priority.LOW, actor="op", at=T0
    )
    return incident.id


async def test_audit_names_missing_altered_orphaned_and_custody_problems(
    stores: Stores, tmp_path: Path
) -> None:
    store = ContentStore(tmp_path / "store")
    first, second = await _incident(stores, "a"), await _incident(stores, "b")
    added = {}
    for name, seed in (("altered.mp4", 1), ("missing.mp4", 2), ("fine.mp4", 3)):
        added[name], _ = await add_file(
            stores, store, incident_id=first, path=_clip(tmp_path, name, seed), actor="op", how="t", now=T0
        )
    shared, _ = await add_file(
        stores, store, incident_id=second, path=tmp_path / "fine.mp4", actor="op", how="t", now=T0
    )
    # An item whose record disagrees with its acquisition entry (as if the row had been edited).
    odd = store.put_file(_clip(tmp_path, "odd.mp4", 4))
    chain = await stores.evidence.chain(second)
    entry = append(
        chain,
        at=T0,
        actor="op",
        action="acquired",
        item=odd.sha256,
        purpose="t",
        details={"sha512": "0" * 128},
    )
    record = EvidenceItem(
        second,
        odd.sha256,
        odd.sha512,
        odd.size,
        "video/mp4",
        "original",
        None,
        "odd.mp4",
        None,
        "t",
        T0,
        "op",
    )
    await stores.evidence.record(second, entry, record)

    altered = added["altered.mp4"]
    _flip(store.path_for(altered.sha256))
    now = hash_file(store.path_for(altered.sha256))
    missing = added["missing.mp4"]
    store.path_for(missing.sha256).unlink()
    orphan = store.put_stream([b"attached to nothing"])
    _age(orphan.path)
    young_orphan = store.put_stream([b"being attached right now"])
    stray = store.blobs / "notes.txt"
    stray.write_text("not a blob")
    _age(stray)
    leftover = store.tmp / f"+{host_tag()}+{dead_pid()}+x.part"
    leftover.write_bytes(b"half a clip")

    report = await audit_store(stores, store)

    assert not report.ok
    assert report.counts() == {"missing": 1, "altered": 1, "unreadable": 0, "orphaned": 2, "custody": 1}
    assert report.items_checked == 5
    assert report.blobs_checked == 3  # the blob two incidents share is hashed once
    assert report.bytes_hashed == 3 * altered.size
    messages: dict[str, list[str]] = {p.kind: [] for p in report.problems}
    for p in report.problems:
        messages[p.kind].append(p.message)
    assert messages["altered"] == [
        f"incident {first} item {altered.sha256} (altered.mp4): the store's copy has sha256 {now['sha256']}, "
        f"recorded {altered.sha256}; sha512 {now['sha512']}, recorded {altered.sha512}"
    ]
    assert messages["missing"] == [f"incident {first} item {missing.sha256} (missing.mp4): not in the store"]
    assert messages["orphaned"] == [
        f"blob {orphan.sha256} belongs to no evidence item",
        f"stray file in the store: {stray}",
    ]
    assert messages["custody"] == [
        f"incident {second} item {odd.sha256} (odd.mp4): sha512 recorded as {odd.sha512}, "
        f"custody entry 2 says {'0' * 128}"
    ]
    assert young_orphan.sha256 not in " ".join(p.message for p in report.problems)
    assert [(r.path, r.size) for r in report.removed] == [(leftover, 11)]
    assert shared.sha256 in store  # an audit changes nothing

    await stores.evidence.record_audit(report.record("auditor"))
    verified = await last_verifications(stores, first)
    assert {sha: v.outcome for sha, v in verified.items()} == {
        altered.sha256: "altered",
        missing.sha256: "missing",
        added["fine.mp4"].sha256: "intact",
    }
    assert {v.by for v in verified.values()} == {"audit"}


async def _unless_blocked(audit: Awaitable[AuditReport], pipe: Path) -> AuditReport:
    try:
        return await asyncio.wait_for(audit, timeout=60)
    except TimeoutError:
        # Stuck opening the pipe to read it: a writer coming and going lets that open return.
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("the audit waited 60 s on a named pipe in a blob's place")


async def test_a_folder_or_a_pipe_in_a_blobs_place_is_its_items_problem_and_the_audit_goes_on(
    stores: Stores, tmp_path: Path
) -> None:
    store = ContentStore(tmp_path / "store")
    incident = await _incident(stores)
    added = {}
    for name, seed in (("folder.mp4", 1), ("pipe.mp4", 2), ("altered.mp4", 3), ("fine.mp4", 4)):
        added[name], _ = await add_file(
            stores, store, incident_id=incident, path=_clip(tmp_path, name, seed), actor="op", how="t", now=T0
        )
    folder = store.path_for(added["folder.mp4"].sha256)
    folder.unlink()
    folder.mkdir()
    pipe = store.path_for(added["pipe.mp4"].sha256)
    pipe.unlink()
    os.mkfifo(pipe)
    _flip(store.path_for(added["altered.mp4"].sha256))

    report = await _unless_blocked(audit_store(stores, store), pipe)

    assert report.counts() == {"missing": 0, "altered": 3, "unreadable": 0, "orphaned": 0, "custody": 0}
    assert (report.items_checked, report.blobs_checked) == (4, 2)
    messages = {p.sha256: p.message for p in report.problems}
    label = f"incident {incident} item"
    assert messages[folder.name] == f"{label} {folder.name} (folder.mp4): the store's copy is a folder, " + (
        "not a regular file"
    )
    assert messages[pipe.name].endswith("(pipe.mp4): the store's copy is a named pipe, not a regular file")
    await stores.evidence.record_audit(report.record("auditor"))
    verified = await last_verifications(stores, incident)
    assert {sha: v.outcome for sha, v in verified.items()} == {
        folder.name: "altered",
        pipe.name: "altered",
        added["altered.mp4"].sha256: "altered",
        added["fine.mp4"].sha256: "intact",
    }


async def test_a_blob_that_cannot_be_read_is_named_unreadable_and_the_audit_goes_on(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ContentStore(tmp_path / "store")
    incident = await _incident(stores)
    bad, _ = await add_file(
        stores, store, incident_id=incident, path=_clip(tmp_path, "bad.mp4", 1), actor="op", how="t", now=T0
    )
    good, _ = await add_file(
        stores, store, incident_id=incident, path=_clip(tmp_path, "good.mp4", 2), actor="op", how="t", now=T0
    )
    real = hash_regular_file

    def failing_disk(path: Path, *args: Any, **kwargs: Any) -> tuple[dict[str, str], int]:
        if path.name == bad.sha256:
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr("vmsbridge.evidence_audit.hash_regular_file", failing_disk)
    report = await audit_store(stores, store)
    assert [(p.kind, p.sha256) for p in report.problems] == [("unreadable", bad.sha256)]
    assert report.problems[0].message.endswith(
        f"(bad.mp4): the store's copy cannot be read: {os.strerror(errno.EIO)}"
    )
    assert (report.blobs_checked, report.bytes_hashed) == (1, good.size)


async def test_one_incident_audit_and_disposed_items(stores: Stores, tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "store")
    kept, other = await _incident(stores, "kept"), await _incident(stores, "other")
    item, _ = await add_file(
        stores, store, incident_id=kept, path=_clip(tmp_path, "a.mp4", 1), actor="op", how="t", now=T0
    )
    gone, _ = await add_file(
        stores, store, incident_id=kept, path=_clip(tmp_path, "b.mp4", 2), actor="op", how="t", now=T0
    )
    theirs, _ = await add_file(
        stores, store, incident_id=other, path=_clip(tmp_path, "c.mp4", 3), actor="op", how="t", now=T0
    )
    _flip(store.path_for(theirs.sha256))
    _age(store.put_stream([b"orphan"]).path)
    await stores.incidents.close(kept, actor="op", reason="done", at=T0)
    await dispose(stores, store, incident_id=kept, sha256=gone.sha256, actor="records", reason="retention")
    assert gone.sha256 not in store

    report = await audit_store(stores, store, incident_id=kept)
    assert report.ok, report.problems  # the other incident's blob and the orphan are not in scope
    assert (report.incident_id, report.items_checked, report.blobs_checked) == (kept, 1, 1)
    whole = await audit_store(stores, store)
    assert whole.counts() == {"missing": 0, "altered": 1, "unreadable": 0, "orphaned": 1, "custody": 0}
    assert item.sha256 not in " ".join(p.message for p in whole.problems)


async def test_an_audit_stops_between_chunks_when_asked(stores: Stores, tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "store")
    incident = await _incident(stores)
    await add_file(stores, store, incident_id=incident, path=_clip(tmp_path, "a.mp4", 1), actor="op", how="t")
    stop = threading.Event()
    stop.set()
    with pytest.raises(HashingStopped):
        await audit_store(stores, store, stop=stop)


async def test_scheduled_audit_runs_at_once_then_every_interval_after_the_last(
    stores: Stores, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = ContentStore(tmp_path / "store")
    incident = await _incident(stores)
    item, _ = await add_file(
        stores, store, incident_id=incident, path=_clip(tmp_path, "a.mp4", 1), actor="op", how="t", now=T0
    )
    clock = Clock(T0 + timedelta(hours=1))
    scheduled = ScheduledAudit(stores, store, timedelta(hours=24), clock=clock)
    with caplog.at_level(logging.INFO, logger="vmsbridge.evidence_audit"):
        first = await scheduled.step()  # nothing recorded yet: due at once
    assert first is not None
    assert first.ok
    assert any("audit of the evidence store: 1 item(s), 1 blob(s)" in r.getMessage() for r in caplog.records)
    clock.now += timedelta(hours=23)
    assert await scheduled.step() is None
    # A restarted bridge counts from the recorded audit too.
    assert await ScheduledAudit(stores, store, timedelta(hours=24), clock=clock).step() is None

    _flip(store.path_for(item.sha256))
    clock.now += timedelta(hours=1)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="vmsbridge.evidence_audit"):
        second = await scheduled.step()
    assert second is not None
    assert second.counts()["altered"] == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors[0].endswith(": 1 altered")
    assert errors[1].startswith(f"evidence altered: incident {incident} item {item.sha256} (a.mp4)")
    last = await stores.evidence.last_audit(incident_id=None)
    assert last is not None
    assert (last.actor, last.started_at, last.problems[0]["kind"]) == (
        "scheduled audit",
        clock.now,
        "altered",
    )
    assert scheduled.completed == 2


@pytest.mark.parametrize(
    ("text", "every"),
    [("24h", timedelta(hours=24)), ("90m", timedelta(minutes=90)), ("7d", timedelta(days=7)), ("off", None)],
)
def test_parse_every(text: str, every: timedelta | None) -> None:
    assert parse_every(text) == every


@pytest.mark.parametrize("text", ["24", "1s", "5m", "400d", "1h30m", "-1h", "soon"])
def test_parse_every_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        parse_every(text)


async def test_a_file_name_with_quotes_and_controls_is_shown_as_the_logs_show_it(
    stores: Stores, tmp_path: Path
) -> None:
    store = ContentStore(tmp_path / "store")
    incident = await _incident(stores)
    name = 'it\'s "odd"\x1b[2J\\.mp4'
    item, _ = await add_file(
        stores, store, incident_id=incident, path=_clip(tmp_path, name, 1), actor="op", how="t", now=T0
    )
    store.path_for(item.sha256).unlink()

    report = await audit_store(stores, store)

    assert [p.message for p in report.problems] == [
        f"incident {incident} item {item.sha256} ({escape_controls(name)}): not in the store"
    ]
    assert "\\'" not in report.problems[0].message  # quotes stay as they are, only controls escaped


async def test_a_scheduled_audit_keeps_to_its_rate_and_never_holds_up_the_loop(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ContentStore(tmp_path / "store")
    incident = await _incident(stores)
    mib = 1 << 20
    for seed in range(4):
        clip = _clip(tmp_path, f"{seed}.mp4", seed, size=mib)
        await add_file(stores, store, incident_id=incident, path=clip, actor="op", how="t", now=T0)
    scheduled = ScheduledAudit(
        stores, store, timedelta(hours=24), clock=Clock(T0 + timedelta(hours=1)), mib_per_second=2.0
    )
    gaps: list[float] = []
    auditing = True

    async def loop_ticks() -> None:  # what rules would need: the loop free to run other work
        last = time.monotonic()
        while auditing:
            await asyncio.sleep(0.01)
            gaps.append(time.monotonic() - last)
            last = time.monotonic()

    hashed_in: set[str] = set()

    def noting_thread(*args: Any, **kwargs: Any) -> Any:
        hashed_in.add(threading.current_thread().name)
        return rehash_blob(*args, **kwargs)

    monkeypatch.setattr(evidence_audit, "rehash_blob", noting_thread)
    ticker = asyncio.create_task(loop_ticks())
    started = time.monotonic()
    report = await scheduled.step()
    took = time.monotonic() - started
    auditing = False
    await ticker

    assert report is not None
    assert report.ok, report.problems
    assert report.bytes_hashed == 4 * mib
    assert took >= 1.4, f"4 MiB at 2 MiB/s took {took:.2f} s: the rate was not kept"
    assert max(gaps) < took / 2, f"the loop stood still for {max(gaps):.2f} s of the audit's {took:.2f} s"
    # Its own thread: the shared ones stay free for rule actions while it waits out its rate.
    assert {name.split("_")[0] for name in hashed_in} == {"evidence-audit"}
    scheduled.stop()
