"""Evidence of incidents: acquire files into the content store, keep the custody chain, export
verifiable BagIt packets. The hashing and bagging live in the standalone ``evidence`` library;
this module adds the incident, the database and the site."""

from __future__ import annotations

__all__ = [
    "EvidenceAltered",
    "Verification",
    "add_file",
    "clip_details",
    "clip_facts",
    "content_store",
    "dispose",
    "dispose_expired",
    "export_packet",
    "incident_document",
    "last_verifications",
    "log_access",
    "open_content_store",
    "transcode_note",
]

import asyncio
import logging
import mimetypes
import random
import socket
import stat
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError

from evidence.bag import (
    NAME_MAX_BYTES,
    BagBuildError,
    PayloadDigestError,
    PayloadFile,
    build_bag,
    safe_name,
)
from evidence.custody import CustodyEntry, append
from evidence.store import ContentStore
from recording.result import ClipResult
from vmsbridge.config import SiteConfig
from vmsbridge.errors import NotFound, VmsBridgeError
from vmsbridge.evidence_audit import AuditProblem, chain_problems, record_problems, rehash_blob
from vmsbridge.log_output import escape_controls
from vmsbridge.model import IncidentStatus
from vmsbridge.model.evidence import EvidenceAudit, EvidenceItem
from vmsbridge.store.database import default_data_dir
from vmsbridge.store.evidence import DisposalRefused
from vmsbridge.store.stores import Stores

log = logging.getLogger(__name__)

# Writers racing to extend one incident's custody chain (a rule attaching a clip while an
# investigator logs a view) retry this often before giving up.
CHAIN_ATTEMPTS = 8

# Entries that change what the evidence is; access entries (viewed, exported, verified) after the
# last of these are recorded in the database chain but do not change a packet's payload, so two
# exports of unchanged evidence are identical.
SUBSTANTIVE = frozenset({"acquired", "derived", "mask_lifted", "transferred", "disposed"})


class EvidenceAltered(VmsBridgeError):
    """Evidence bytes or records differ from what was recorded at acquisition."""

    def __init__(self, what: str, problems: list[AuditProblem]) -> None:
        super().__init__(f"{what} refused: " + "; ".join(p.message for p in problems))
        self.problems = problems


def content_store(site: SiteConfig, *, clean: bool = True) -> ContentStore:
    """The site's evidence store; ``clean`` first removes (and logs) stale temporaries."""
    root = site.evidence.store_dir or (site.storage.data_dir or default_data_dir()) / "evidence"
    root.mkdir(parents=True, exist_ok=True)
    store = ContentStore(root)
    for removed in store.cleanup_temp() if clean else []:
        log.warning("removed stale temporary %s (%d bytes): %s", removed.path, removed.size, removed.reason)
    return store


async def open_content_store(site: SiteConfig, *, clean: bool = True) -> ContentStore:
    """:func:`content_store` from a running loop: the directory work (making it, sweeping stale
    temporaries) runs in a worker thread."""
    return await asyncio.to_thread(content_store, site, clean=clean)


async def add_file(
    stores: Stores,
    store: ContentStore,
    *,
    incident_id: int,
    path: Path,
    actor: str,
    how: str,
    camera_id: str | None = None,
    derived_from: str | None = None,
    window: tuple[datetime, datetime] | None = None,
    purpose: str = "",
    clip: ClipResult | None = None,
    now: datetime | None = None,
) -> tuple[EvidenceItem, bool]:
    """Hash and store the file, attach it to the incident with a custody entry; (item, newly added).

    ``clip``: what the clip source said of the file (real start and end, gaps, codec and size, and
    whether the source transcoded it); kept in the acquisition entry's details under ``"clip"``, so the
    custody chain's hashes cover it too.
    """
    incident = await stores.incidents.get(incident_id)  # NotFound names the incident
    blob = await asyncio.to_thread(store.put_file, path)  # CPU and disk: off the event loop
    for existing in await stores.evidence.items(incident.id):
        if existing.sha256 == blob.sha256:
            return existing, False
    at = now or datetime.now(UTC)
    item = EvidenceItem(
        incident_id=incident.id,
        sha256=blob.sha256,
        sha512=blob.sha512,
        size=blob.size,
        media_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
        role="derived" if derived_from else "original",
        derived_from=derived_from,
        file_name=path.name,
        camera_id=camera_id,
        how=how,
        acquired_at=at,
        acquired_by=actor,
        window_start=window[0] if window else None,
        window_end=window[1] if window else None,
    )
    details: dict[str, Any] = {"file_name": path.name, "size": blob.size, "sha512": blob.sha512, "how": how}
    if camera_id:
        details["camera"] = camera_id
    if derived_from:
        details["derived_from"] = derived_from
    if window:
        details["window"] = [window[0].isoformat(), window[1].isoformat()]
    if clip is not None:
        details["clip"] = clip_details(clip)

    def entry(chain: list[CustodyEntry]) -> CustodyEntry:
        return append(
            chain,
            at=at,
            actor=actor,
            action="derived" if derived_from else "acquired",
            item=blob.sha256,
            purpose=purpose or how,
            details=details,
        )

    try:
        await _extend_chain(stores, incident.id, entry, item)
    except IntegrityError:
        # The same file was attached by another writer at the same moment: that one counts.
        for existing in await stores.evidence.items(incident.id):
            if existing.sha256 == blob.sha256:
                return existing, False
        raise
    return item, True


def clip_details(clip: ClipResult) -> dict[str, Any]:
    """A clip's facts as evidence keeps them (the local file name is the item's own)."""
    facts = clip.to_json()
    del facts["file"]
    facts["transcoded_by"] = clip.transcoded_by
    return facts


def clip_facts(chain: list[CustodyEntry]) -> dict[str, dict[str, Any]]:
    """Each item's clip facts (by SHA-256), from the custody entry that acquired or derived it."""
    found: dict[str, dict[str, Any]] = {}
    for entry in chain:
        clip = entry.details.get("clip")
        if entry.action in ("acquired", "derived") and entry.item and isinstance(clip, dict):
            found.setdefault(entry.item, clip)
    return found


def transcode_note(clip: dict[str, Any] | None) -> str | None:
    """What a reader of a listing or packet must know when the source re-encoded the video."""
    if not clip or not clip.get("reencoded"):
        return None
    by = clip.get("transcoded_by") or "its source"
    return f"transcoded by the {by}: not the camera's original encoding"


async def _extend_chain(
    stores: Stores,
    incident_id: int,
    entry: Callable[[list[CustodyEntry]], CustodyEntry],
    item: EvidenceItem | None = None,
    *,
    write: Callable[[CustodyEntry], Awaitable[None]] | None = None,
) -> CustodyEntry:
    """Append to the incident's custody chain; if another writer appended first, build on theirs.

    ``(incident_id, seq)`` is unique, so a lost race fails instead of forking the chain.
    """
    async with stores.evidence.chain_lock(incident_id):
        for attempt in range(1, CHAIN_ATTEMPTS + 1):
            new = entry(await stores.evidence.chain(incident_id))
            try:
                if write is None:
                    await stores.evidence.record(incident_id, new, item)
                else:
                    await write(new)
                return new
            except IntegrityError:
                if attempt == CHAIN_ATTEMPTS or (item is not None and await _item_exists(stores, item)):
                    raise
                await asyncio.sleep(random.uniform(0, 0.01 * attempt))  # another process: step aside
    raise AssertionError("unreachable")


async def _item_exists(stores: Stores, item: EvidenceItem) -> bool:
    return any(i.sha256 == item.sha256 for i in await stores.evidence.items(item.incident_id))


async def incident_document(stores: Stores, site: SiteConfig, incident_id: int) -> dict[str, Any]:
    incident = await stores.incidents.get(incident_id)
    events = await stores.incidents.events_of(incident_id)
    location = next((loc for loc in site.locations if loc.id == incident.location_id), None)
    return {
        "incident": {
            "id": incident.id,
            "status": incident.status.value,
            "priority": incident.priority.value,
            "summary": incident.summary,
            "started_at": incident.started_at,
            "last_event_at": incident.last_event_at,
            "opened_by": incident.opened_by,
        },
        "location": {
            "id": incident.location_id,
            "name": location.name if location else None,
            "clery_geography": location.clery_geography.value if location else None,
            "public_label": location.public_label if location else None,
        },
        "site": {"name": site.site.name, "timezone": site.site.timezone},
        "events": [
            {
                "id": e.id,
                "kind": e.kind.value,
                "device_id": e.device_id,
                "occurred_at": e.occurred_at,
                "received_at": e.received_at,
                "source": e.source,
                "attributes": e.attributes,
            }
            for e in events
        ],
    }


def _folder(role: str) -> str:
    return "originals" if role == "original" else "derived"


def _payload_name(item: EvidenceItem) -> str:
    """The item's name in a packet: its digest's start, then its file name made safe anywhere and
    short enough that the whole name is (the extension kept)."""
    prefix = f"{item.sha256[:12]}-"
    return prefix + safe_name(item.file_name, max_bytes=NAME_MAX_BYTES - len(prefix))


def _build(
    store: ContentStore,
    items: list[EvidenceItem],
    out: Path,
    document: dict[str, Any],
    custody: list[CustodyEntry],
    info: dict[str, str],
    signing_key: Path | None,
    zip_it: bool,
) -> Path:
    """Let the library copy the read-only blobs in under readable names, checked against the record."""
    staged: dict[str, list[PayloadFile]] = {"original": [], "derived": []}
    for item in items:
        staged[item.role].append(
            PayloadFile(store.path_for(item.sha256), _payload_name(item), item.sha256, item.sha512)
        )
    return build_bag(
        out,
        originals=staged["original"],
        derived=staged["derived"],
        incident=document,
        custody=custody,
        info=info,
        signing_key=signing_key,
        zip=zip_it,
        claims=store.tmp,
    )


def _through_last_change(chain: list[CustodyEntry]) -> list[CustodyEntry]:
    last = max((i for i, e in enumerate(chain) if e.action in SUBSTANTIVE), default=-1)
    return chain[: last + 1]


async def export_packet(
    stores: Stores,
    site: SiteConfig,
    store: ContentStore,
    *,
    incident_id: int,
    out: Path,
    actor: str,
    reason: str,
    zip_it: bool = False,
    now: datetime | None = None,
) -> Path:
    """Build the packet, then record the export in the custody chain (and who asked, and why)."""
    document = await incident_document(stores, site, incident_id)
    incident = await stores.incidents.get(incident_id)
    items = [i for i in await stores.evidence.items(incident_id) if i.disposed_at is None]
    chain = await stores.evidence.chain(incident_id)
    withheld = 0
    if incident.victim_sensitive and actor not in site.evidence.originals_for:
        # Only redacted derivatives leave the building unless the actor's role allows originals.
        withheld = sum(1 for i in items if i.role == "original")
        items = [i for i in items if i.role != "original"]
    clips = clip_facts(chain)
    document["evidence"] = [
        {
            "file": f"data/{_folder(i.role)}/{_payload_name(i)}",
            "sha256": i.sha256,
            "sha512": i.sha512,
            "size": i.size,
            "media_type": i.media_type,
            "derived_from": i.derived_from,
            "camera": i.camera_id,
            "how": i.how,
            "acquired_at": i.acquired_at,
            "acquired_by": i.acquired_by,
            "window": [i.window_start, i.window_end] if i.window_start else None,
            "clip": clips.get(i.sha256),
            "transcode": transcode_note(clips.get(i.sha256)),
        }
        for i in items
    ]
    info = {"External-Identifier": f"incident-{incident_id}", "Source-Organization": site.site.name}
    started = datetime.now(UTC)
    problems = chain_problems(incident_id, chain)
    problems += [p for i in items for p in record_problems(i, chain)]
    path: Path | None = None
    hashed = blobs = 0
    regular = await asyncio.to_thread(lambda: all(_regular_blob(store, i.sha256) for i in items))
    if problems or not regular:
        # No packet will be made; re-hash every item all the same, so that each problem is named
        # and what is recorded for each item (and `evidence list` shows) is what its bytes hold.
        for item in items:
            check = await asyncio.to_thread(rehash_blob, store, item.sha256, [item])
            if check.missing:
                what = f"item {item.sha256} ({escape_controls(item.file_name)}): not in the evidence store"
                problems.append(AuditProblem("missing", what, incident_id, item.sha256))
            elif check.hashed is not None:
                hashed, blobs = hashed + check.hashed, blobs + 1
            problems += check.problems
    else:
        try:
            path = await asyncio.to_thread(
                _build,
                store,
                items,
                out,
                document,
                _through_last_change(chain),
                info,
                site.evidence.signing_key,
                zip_it,
            )
        except PayloadDigestError as exc:
            problems = _altered(items, exc)
        except BagBuildError as exc:
            raise VmsBridgeError(f"export of incident {incident_id} refused: {exc}") from None
        hashed, blobs = sum(i.size for i in items), len(items)  # bagit hashed every copy
    await stores.evidence.record_audit(
        EvidenceAudit(
            kind="export",
            incident_id=incident_id,
            node=socket.gethostname(),
            actor=actor,
            started_at=started,
            finished_at=datetime.now(UTC),
            items_checked=len(items),
            blobs_checked=blobs,
            bytes_hashed=hashed,
            items=[i.sha256 for i in items],  # each re-hashed, or named in a problem
            problems=[p.as_dict() for p in problems],
            temporaries_removed=[],
        )
    )
    if problems or path is None:
        raise EvidenceAltered(f"export of incident {incident_id}", problems)
    details: dict[str, Any] = {
        "packet": str(path),
        "items": len(items),
        "signed": site.evidence.signing_key is not None,
        "rehashed": len(items),
    }
    if incident.victim_sensitive:
        details["victim_sensitive"] = True
        details["originals_withheld"] = withheld
        details["originals_allowed_by_role"] = actor in site.evidence.originals_for
    at = now or datetime.now(UTC)
    await _extend_chain(
        stores,
        incident_id,
        lambda chain: append(
            chain, at=at, actor=actor, action="exported", item=None, purpose=reason, details=details
        ),
    )
    return path


def _regular_blob(store: ContentStore, sha256: str) -> bool:
    """The blob is in the store as a file of its own (not missing, nor a link, folder or pipe)."""
    try:
        return stat.S_ISREG(store.path_for(sha256).lstat().st_mode)
    except OSError:
        return False


def _altered(items: list[EvidenceItem], exc: PayloadDigestError) -> list[AuditProblem]:
    by_file = {f"data/{_folder(i.role)}/{_payload_name(i)}": i for i in items}
    problems = []
    for file in dict.fromkeys(m.file for m in exc.mismatches):
        item = by_file[file]
        found = "; ".join(
            f"{m.algorithm} {m.found}, recorded at acquisition {m.expected}"
            for m in exc.mismatches
            if m.file == file
        )
        problems.append(
            AuditProblem(
                "altered",
                f"item {item.sha256} ({escape_controls(item.file_name)}): the store's copy has {found} "
                "(in the database and the custody chain)",
                item.incident_id,
                item.sha256,
            )
        )
    return problems


@dataclass(frozen=True)
class Verification:
    """The last full re-hash of one item: when, by what (a store audit or an export), what it found."""

    at: datetime
    by: str  # "audit" | "export"
    outcome: str  # "intact" | "missing" | "altered" | "custody"
    detail: str = ""


async def last_verifications(stores: Stores, incident_id: int) -> dict[str, Verification]:
    """Each live item's last verification (items never re-hashed are absent), by SHA-256."""
    items = [i for i in await stores.evidence.items(incident_id) if i.disposed_at is None]
    audit = await stores.evidence.last_audit(incident_id=incident_id)
    checks: list[EvidenceAudit] = [audit] if audit is not None else []
    checks += await stores.evidence.export_checks(incident_id, since=audit.started_at if audit else None)
    found: dict[str, Verification] = {}
    for check in sorted(checks, key=lambda c: c.finished_at):
        for item in items:
            covered = (
                item.sha256 in check.items
                if check.items is not None
                else item.acquired_at <= check.started_at
            )
            if not covered:
                continue
            problem = next(
                (
                    p
                    for p in check.problems
                    if p.get("sha256") == item.sha256 and p.get("incident") in (None, incident_id)
                ),
                None,
            )
            outcome = str(problem["kind"]) if problem else "intact"
            found[item.sha256] = Verification(
                check.finished_at, check.kind, outcome, str(problem["message"]) if problem else ""
            )
    return found


async def dispose(
    stores: Stores,
    store: ContentStore,
    *,
    incident_id: int,
    sha256: str,
    actor: str,
    reason: str,
    now: datetime | None = None,
) -> None:
    """Dispose of one item: refused while its incident is open or on legal hold; a custody entry."""
    incident = await stores.incidents.get(incident_id)
    if incident.status is IncidentStatus.OPEN:
        raise VmsBridgeError(f"incident {incident_id} is open: its evidence cannot be disposed of")
    if incident.legal_hold:
        raise VmsBridgeError(f"incident {incident_id} is on legal hold: its evidence cannot be disposed of")
    items = {i.sha256: i for i in await stores.evidence.items(incident_id)}
    item = items.get(sha256)
    if item is None:
        raise NotFound(f"incident {incident_id} has no evidence item {sha256}")
    if item.disposed_at is not None:
        raise VmsBridgeError(f"item {sha256} was disposed of at {item.disposed_at.isoformat()}")
    # Identical content may belong to another incident too: the bytes go only when nothing needs them.
    still_needed = any(
        other.sha256 == sha256 and other.incident_id != incident_id
        for other in await stores.evidence.live_items()
    )
    await _dispose_item(
        stores, store, item, still_needed, actor=actor, reason=reason, at=now or datetime.now(UTC)
    )


async def _dispose_item(
    stores: Stores,
    store: ContentStore,
    item: EvidenceItem,
    still_needed: bool,
    *,
    actor: str,
    reason: str,
    at: datetime,
) -> None:
    """Record the disposal, then remove the bytes unless ``still_needed`` by another incident.

    The custody entry comes first: a crash between the two leaves bytes the chain says are gone
    (the audit names them orphaned), never bytes gone with nothing in the chain. The record is
    refused (``DisposalRefused``) if the incident was put on hold or reopened meanwhile.
    """
    incident_id, sha256 = item.incident_id, item.sha256
    details = {"file_name": item.file_name, "bytes_removed": not still_needed}

    async def mark(entry: CustodyEntry) -> None:
        await stores.evidence.mark_disposed(incident_id, sha256, entry)

    await _extend_chain(
        stores,
        incident_id,
        lambda chain: append(
            chain, at=at, actor=actor, action="disposed", item=sha256, purpose=reason, details=details
        ),
        write=mark,
    )
    if not still_needed:
        await asyncio.to_thread(store.discard, sha256)


async def dispose_expired(
    stores: Stores, site: SiteConfig, store: ContentStore, *, actor: str, now: datetime | None = None
) -> list[tuple[int, str]]:
    """Dispose of items past their retention whose incident is closed and not on hold.

    A hold placed (or an incident reopened) while the sweep runs wins: each disposal checks it
    again in the transaction that records it. Linear: one query finds the expired items, one the
    live ones (whose count per digest says whether another incident still needs the bytes), then
    one custody append per item.
    """
    at = now or datetime.now(UTC)
    keep = site.evidence.retention
    expired = await stores.evidence.expired_items(
        at, original_days=keep.original_days, derived_days=keep.derived_days
    )
    if not expired:
        return []
    holders = Counter(item.sha256 for item in await stores.evidence.live_items())  # incidents per digest
    done: list[tuple[int, str]] = []
    for item in expired:
        days = keep.original_days if item.role == "original" else keep.derived_days
        try:
            await _dispose_item(
                stores,
                store,
                item,
                holders[item.sha256] > 1,
                actor=actor,
                reason=f"retention of {days} days for {item.role} items ended",
                at=at,
            )
        except DisposalRefused as refused:  # e.g. a legal hold placed since the selection
            log.info("retention sweep keeps an item: %s", refused)
            continue
        holders[item.sha256] -= 1
        done.append((item.incident_id, item.sha256))
    return done


async def log_access(
    stores: Stores,
    *,
    incident_id: int,
    action: Literal["viewed", "transferred", "verified", "mask_lifted"],
    actor: str,
    purpose: str,
    item: str | None = None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> CustodyEntry:
    """Record who viewed, handed over, checked or unmasked evidence, and why, in the incident's chain."""
    await stores.incidents.get(incident_id)
    if item is not None and item not in {i.sha256 for i in await stores.evidence.items(incident_id)}:
        raise NotFound(f"incident {incident_id} has no evidence item {item}")
    at = now or datetime.now(UTC)
    return await _extend_chain(
        stores,
        incident_id,
        lambda chain: append(
            chain, at=at, actor=actor, action=action, item=item, purpose=purpose, details=details or {}
        ),
    )
