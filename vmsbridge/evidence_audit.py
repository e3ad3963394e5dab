"""Re-hashing the evidence store against what was recorded at acquisition, now or on a schedule.

An audit removes stale temporaries (see :mod:`evidence.temps`), then re-hashes every blob that a
live evidence item needs (each blob once, whatever number of incidents share it) and reports:

- ``missing``: an item's blob is not in the store;
- ``altered``: a blob's SHA-256, SHA-512 or size differs from the item's record, or a folder,
  link, named pipe or device is in its place (never opened, so it cannot stop the audit);
- ``unreadable``: reading a blob failed (the error named); the audit goes on with the others;
- ``custody``: an incident's custody chain is broken, or its acquisition entry for an item
  disagrees with the item's record (digest or size);
- ``orphaned`` (whole-store audits only): a blob no live item needs, or a stray file under
  ``sha256/`` (written more than :data:`ORPHAN_GRACE` ago, so a file being attached right now is
  not one).

Every audit is recorded (``evidence_audits``) and logged. The scheduled audit runs while the
bridge serves alarms, so it keeps to a rate (``[evidence] audit_mib_per_second``): it hashes in a
worker thread, waits there between chunks as the rate needs, and leaves the event loop to the rules.
"""

from __future__ import annotations

__all__ = [
    "ORPHAN_GRACE",
    "AuditProblem",
    "AuditReport",
    "Pace",
    "ScheduledAudit",
    "audit_store",
    "parse_every",
]

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from evidence.custody import CustodyEntry, verify_chain
from evidence.store import CHUNK_SIZE, ContentStore, HashingStopped, NotRegularFileError, hash_regular_file
from evidence.temps import Removed
from vmsbridge.config.evidence import AUDIT_MIB_PER_SECOND, parse_every
from vmsbridge.log_output import escape_controls
from vmsbridge.model.evidence import EvidenceAudit, EvidenceItem
from vmsbridge.store.stores import Stores

log = logging.getLogger(__name__)

ORPHAN_GRACE = timedelta(minutes=10)  # far longer than attaching a stored blob to its incident takes
RETRY_AFTER = timedelta(minutes=10)  # a scheduled audit that could not run or be recorded
SCHEDULED_ACTOR = "scheduled audit"
ACQUISITIONS = frozenset({"acquired", "derived"})
CHECKSUMS = ("sha256", "sha512")

AUDIT_THREAD = "evidence-audit"

Clock = Callable[[], datetime]
_P = ParamSpec("_P")
_T = TypeVar("_T")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AuditProblem:
    kind: str  # missing | altered | unreadable | orphaned | custody
    message: str
    incident_id: int | None = None
    sha256: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "incident": self.incident_id,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class AuditReport:
    incident_id: int | None  # None: the whole store
    node: str
    started_at: datetime
    finished_at: datetime
    items_checked: int
    blobs_checked: int
    bytes_hashed: int
    problems: list[AuditProblem] = field(default_factory=list)
    removed: list[Removed] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        kinds = ("missing", "altered", "unreadable", "orphaned", "custody")
        return {kind: sum(1 for p in self.problems if p.kind == kind) for kind in kinds}

    def as_dict(self) -> dict[str, Any]:
        return {
            "incident": self.incident_id,
            "node": self.node,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "items_checked": self.items_checked,
            "blobs_checked": self.blobs_checked,
            "bytes_hashed": self.bytes_hashed,
            "ok": self.ok,
            "counts": self.counts(),
            "problems": [p.as_dict() for p in self.problems],
            "temporaries_removed": [r.as_dict() for r in self.removed],
        }

    def record(self, actor: str) -> EvidenceAudit:
        return EvidenceAudit(
            kind="audit",
            incident_id=self.incident_id,
            node=self.node,
            actor=actor,
            started_at=self.started_at,
            finished_at=self.finished_at,
            items_checked=self.items_checked,
            blobs_checked=self.blobs_checked,
            bytes_hashed=self.bytes_hashed,
            items=None,
            problems=[p.as_dict() for p in self.problems],
            temporaries_removed=[r.as_dict() for r in self.removed],
        )


def _label(item: EvidenceItem) -> str:
    return f"incident {item.incident_id} item {item.sha256} ({escape_controls(item.file_name)})"


def chain_problems(incident_id: int, chain: list[CustodyEntry]) -> list[AuditProblem]:
    """Where the incident's custody chain is broken (edited, removed, inserted or forged entries)."""
    return [
        AuditProblem("custody", f"incident {incident_id}: custody chain {p}", incident_id)
        for p in verify_chain(chain)
    ]


def record_problems(item: EvidenceItem, chain: Iterable[CustodyEntry]) -> list[AuditProblem]:
    """The item's record against its acquisition entry in the custody chain."""
    entry = next((e for e in chain if e.action in ACQUISITIONS and e.item == item.sha256), None)
    if entry is None:
        return [
            AuditProblem(
                "custody", f"{_label(item)}: no custody entry acquires it", item.incident_id, item.sha256
            )
        ]
    problems = []
    for key, recorded in (("sha512", item.sha512), ("size", item.size)):
        was = entry.details.get(key)
        if was is not None and was != recorded:
            problems.append(
                AuditProblem(
                    "custody",
                    f"{_label(item)}: {key} recorded as {recorded}, custody entry {entry.seq} says {was}",
                    item.incident_id,
                    item.sha256,
                )
            )
    return problems


def _blob_problems(items: list[EvidenceItem], found: Mapping[str, str], size: int) -> list[AuditProblem]:
    problems = []
    for item in items:
        differences = [
            f"{name} {now}, recorded {then}"
            for name, now, then in (
                ("sha256", found["sha256"], item.sha256),
                ("sha512", found["sha512"], item.sha512),
                ("size", str(size), str(item.size)),
            )
            if now != then
        ]
        if differences:
            message = f"{_label(item)}: the store's copy has " + "; ".join(differences)
            problems.append(AuditProblem("altered", message, item.incident_id, item.sha256))
    return problems


@dataclass(frozen=True)
class BlobCheck:
    """One blob re-hashed for the items that share it."""

    missing: bool
    hashed: int | None  # bytes hashed; None when it could not be hashed
    problems: list[AuditProblem]


class Pace:
    """Asked by the hashing thread before each chunk: waits as long as keeping to
    ``bytes_per_second`` needs (there, in the thread), then says whether to stop. One pace spans a
    whole audit; a stop ends the wait at once. ``bytes_per_second`` None: no limit."""

    def __init__(self, bytes_per_second: float | None, halt: threading.Event | None = None) -> None:
        self._rate = bytes_per_second
        self._halt = halt or threading.Event()
        self._started: float | None = None
        self._passed = 0  # bytes let through so far

    def __call__(self) -> bool:
        if self._rate is not None:
            now = time.monotonic()
            if self._started is None:
                self._started = now
            delay = self._started + self._passed / self._rate - now
            if delay > 0 and self._halt.wait(delay):
                return True
            self._passed += CHUNK_SIZE  # at most a chunk: never faster than the rate
        return self._halt.is_set()


def rehash_blob(
    store: ContentStore,
    sha256: str,
    sharing: list[EvidenceItem],
    *,
    stop: threading.Event | Pace | None = None,
) -> BlobCheck:
    """Re-hash a blob against the records of the items sharing it (blocking: run it in a thread).

    Whatever is in the blob's place is a problem of those items, never the end of the check: a
    folder, link, named pipe or device is ``altered`` (and never opened), a read error
    ``unreadable``. A missing blob is the caller's to report. Stops only by ``stop``.
    """
    try:
        asked = stop.is_set if isinstance(stop, threading.Event) else stop
        found, size = hash_regular_file(store.path_for(sha256), CHECKSUMS, stop=asked)
    except (FileNotFoundError, NotADirectoryError):
        return BlobCheck(True, None, [])
    except NotRegularFileError as exc:
        what = f"the store's copy is {exc.kind}, not a regular file"
        return BlobCheck(False, None, [_problem("altered", i, what) for i in sharing])
    except OSError as exc:
        what = f"the store's copy cannot be read: {exc.strerror or exc}"
        return BlobCheck(False, None, [_problem("unreadable", i, what) for i in sharing])
    return BlobCheck(False, size, _blob_problems(sharing, found, size))


def _problem(kind: str, item: EvidenceItem, what: str) -> AuditProblem:
    return AuditProblem(kind, f"{_label(item)}: {what}", item.incident_id, item.sha256)


def _orphans(
    store: ContentStore, needed: set[str], disposed: Mapping[str, int], now: float
) -> list[AuditProblem]:
    problems = []
    grace = ORPHAN_GRACE.total_seconds()
    for sha256 in store:
        if sha256 in needed:
            continue
        path = store.path_for(sha256)
        try:
            if now - path.lstat().st_mtime < grace:
                continue  # published moments ago: its item is being recorded
        except FileNotFoundError:
            continue
        whose = f" (its item in incident {disposed[sha256]} was disposed of)" if sha256 in disposed else ""
        problems.append(
            AuditProblem("orphaned", f"blob {sha256} belongs to no evidence item{whose}", sha256=sha256)
        )
    for path in store.strays():
        with contextlib.suppress(FileNotFoundError):
            if now - path.lstat().st_mtime >= grace:
                problems.append(AuditProblem("orphaned", f"stray file in the store: {path}"))
    return problems


async def _live_items(stores: Stores, incident_id: int | None) -> list[EvidenceItem]:
    if incident_id is None:
        return await stores.evidence.live_items()
    return [i for i in await stores.evidence.items(incident_id) if i.disposed_at is None]


async def audit_store(
    stores: Stores,
    store: ContentStore,
    *,
    incident_id: int | None = None,
    clock: Clock = _utc_now,
    stop: threading.Event | None = None,
    mib_per_second: float | None = None,
    worker: Executor | None = None,
) -> AuditReport:
    """Re-hash the store (or one incident's evidence) against the records; nothing is changed but
    stale temporaries removed. Raises :class:`~evidence.store.HashingStopped` when ``stop`` is set.
    ``mib_per_second`` bounds the reading (None: as fast as the disk goes); ``worker`` runs the
    blocking work (default: asyncio's shared threads)."""
    pace = Pace(mib_per_second * (1 << 20) if mib_per_second is not None else None, stop)

    async def off_loop(work: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        return await asyncio.get_running_loop().run_in_executor(worker, partial(work, *args, **kwargs))

    started = clock()
    if incident_id is not None:
        await stores.incidents.get(incident_id)  # NotFound names it
    removed = await off_loop(store.cleanup_temp)
    items = await _live_items(stores, incident_id)
    problems: list[AuditProblem] = []
    chains: dict[int, list[CustodyEntry]] = {}
    for item in items:
        if item.incident_id not in chains:
            chains[item.incident_id] = chain = await stores.evidence.chain(item.incident_id)
            # Hashing a long chain is CPU work: in a thread, so rules keep the loop.
            problems += await off_loop(chain_problems, item.incident_id, chain)
        problems += record_problems(item, chains[item.incident_id])
    by_blob: dict[str, list[EvidenceItem]] = {}
    for item in items:
        by_blob.setdefault(item.sha256, []).append(item)
    missing: list[EvidenceItem] = []
    hashed = checked = 0
    for sha256, sharing in by_blob.items():
        check = await off_loop(rehash_blob, store, sha256, sharing, stop=pace)
        if check.missing:
            missing += sharing
        elif check.hashed is not None:
            hashed += check.hashed
            checked += 1
        problems += check.problems
    # Items disposed of while the audit ran lost their bytes on purpose; re-read before judging.
    live_now = await _live_items(stores, incident_id)
    still_live = {(i.incident_id, i.sha256) for i in live_now}
    problems += [
        AuditProblem("missing", f"{_label(i)}: not in the store", i.incident_id, i.sha256)
        for i in missing
        if (i.incident_id, i.sha256) in still_live
    ]
    if incident_id is None:
        disposed = {
            i.sha256: i.incident_id
            for incident in {i.incident_id for i in items}
            for i in await stores.evidence.items(incident)
            if i.disposed_at is not None
        }
        needed = {i.sha256 for i in live_now}
        problems += await off_loop(_orphans, store, needed, disposed, time.time())
    return AuditReport(
        incident_id=incident_id,
        node=socket.gethostname(),
        started_at=started,
        finished_at=clock(),
        items_checked=len(items),
        blobs_checked=checked,
        bytes_hashed=hashed,
        problems=problems,
        removed=removed,
    )


def log_report(report: AuditReport) -> None:
    scope = (
        "the evidence store" if report.incident_id is None else f"incident {report.incident_id}'s evidence"
    )
    for removed in report.removed:
        log.warning("removed stale temporary %s (%d bytes): %s", removed.path, removed.size, removed.reason)
    summary = (
        f"audit of {scope}: {report.items_checked} item(s), {report.blobs_checked} blob(s), "
        f"{report.bytes_hashed} bytes re-hashed"
    )
    if report.ok:
        log.info("%s: intact", summary)
        return
    counts = ", ".join(f"{n} {kind}" for kind, n in report.counts().items() if n)
    log.error("%s: %s", summary, counts)
    for problem in report.problems:
        log.error("evidence %s: %s", problem.kind, problem.message)


class ScheduledAudit:
    """Audits the whole store every ``every``, counted from the last recorded audit (so restarts do
    not re-hash the store each time); the first audit of a new install runs at once."""

    def __init__(
        self,
        stores: Stores,
        store: ContentStore,
        every: timedelta,
        *,
        clock: Clock = _utc_now,
        mib_per_second: float | None = AUDIT_MIB_PER_SECOND,
    ) -> None:
        self._stores = stores
        self._store = store
        self.every = every
        self.mib_per_second = mib_per_second
        self._clock = clock
        self._stop = asyncio.Event()
        self._halt = threading.Event()  # stops hashing in its thread
        # Its own thread (made when first needed): a paced audit waits there for hours, and must
        # not take one of the shared threads that rule actions use.
        self._worker: ThreadPoolExecutor | None = None
        self.completed = 0

    def stop(self) -> None:
        self._stop.set()
        self._halt.set()

    async def _due(self) -> datetime | None:
        """When the next audit is due; None: now (no audit of the whole store recorded yet)."""
        last = await self._stores.evidence.last_audit(incident_id=None)
        return last.started_at + self.every if last is not None else None

    async def _wait_until(self, when: datetime | None) -> None:
        if when is None:
            return
        delay = (when - self._clock()).total_seconds()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=delay)

    async def step(self) -> AuditReport | None:
        """Audit the store if an audit is due (logged and recorded); None when none is due yet."""
        due = await self._due()
        if due is not None and self._clock() < due:
            return None
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix=AUDIT_THREAD)
        report = await audit_store(
            self._stores,
            self._store,
            clock=self._clock,
            stop=self._halt,
            mib_per_second=self.mib_per_second,
            worker=self._worker,
        )
        await self._stores.evidence.record_audit(report.record(SCHEDULED_ACTOR))
        log_report(report)  # once on record: what the log says can be looked up
        self.completed += 1
        return report

    async def run(self) -> None:
        """Audit whenever one is due until :meth:`stop` (or cancellation, which stops the hashing too)."""
        try:
            while not self._stop.is_set():
                try:
                    await self._wait_until(await self._due())
                    if not self._stop.is_set():
                        await self.step()
                except HashingStopped:
                    return
                except (SQLAlchemyError, OSError) as exc:
                    log.error(
                        "evidence audit could not run or be recorded; next try in %s: %s", RETRY_AFTER, exc
                    )
                    await self._wait_until(self._clock() + RETRY_AFTER)
        except asyncio.CancelledError:
            self._halt.set()  # the hashing thread ends at its next chunk instead of finishing the store
            raise
        finally:
            if self._halt.is_set() and self._worker is not None:  # stopped for good, not to be retried
                self._worker.shutdown(wait=False)  # its thread ends with the chunk it is on
                self._worker = None
