"""``vmsbridge evidence add|list|export|verify|audit|log|dispose|expire|keygen``."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vmsbridge.cli.common import add_common_options, db_url_for, load_site, print_json
from vmsbridge.errors import ConfigError, ConfigProblem
from vmsbridge.log_output import escape_controls

if TYPE_CHECKING:
    from evidence.custody import CustodyEntry
    from vmsbridge.evidence_audit import AuditReport
    from vmsbridge.evidence_service import Verification
    from vmsbridge.model.evidence import EvidenceItem


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("evidence", help="hashed evidence, custody chain, BagIt packets")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    add = actions.add_parser("add", help="hash a file into the evidence store and attach it to an incident")
    add_common_options(add)
    add.add_argument("incident_id", type=int, metavar="INCIDENT")
    add.add_argument("file", type=Path, metavar="FILE")
    add.add_argument("--actor", required=True, help="who acquired it")
    add.add_argument("--how", default="added by hand", help="how it was acquired (export, download, ...)")
    add.add_argument("--camera", default=None, help="the camera it comes from")
    add.add_argument(
        "--derived-from", default=None, metavar="SHA256", help="the original it was derived from"
    )
    add.add_argument(
        "--from", dest="window_from", default=None, metavar="ISO-TIME", help="start of the footage"
    )
    add.add_argument("--to", dest="window_to", default=None, metavar="ISO-TIME", help="end of the footage")
    add.add_argument("--json", action="store_true")
    add.set_defaults(handler=add_evidence)

    lst = actions.add_parser("list", help="an incident's evidence and its custody chain")
    add_common_options(lst)
    lst.add_argument("incident_id", type=int, metavar="INCIDENT")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=list_evidence)

    export = actions.add_parser(
        "export",
        help="a BagIt evidence packet: originals, derived copies, incident.json, custody.jsonl",
        description="Build a BagIt bag (SHA-256 and SHA-512 manifests) that any BagIt tool and "
        "`vmsbridge evidence verify` can check, signed with [evidence].signing_key when configured; "
        "the export is recorded in the custody chain.",
    )
    add_common_options(export)
    export.add_argument("incident_id", type=int, metavar="INCIDENT")
    export.add_argument("--out", type=Path, required=True, help="packet directory to create (must not exist)")
    export.add_argument("--zip", action="store_true", help="write OUT.zip instead of a directory")
    export.add_argument("--actor", required=True, help="who exports it")
    export.add_argument("--reason", default="evidence export", help="why (case number, request, ...)")
    export.set_defaults(handler=export_evidence)

    verify = actions.add_parser(
        "verify", help="check a packet: bag fixity, custody chain, signature; names every problem"
    )
    verify.add_argument("path", type=Path, metavar="PATH", help="packet directory or .zip")
    verify.add_argument(
        "--pubkey", type=Path, default=None, help="Ed25519 public key (PEM) to check the signature"
    )
    verify.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    verify.set_defaults(handler=verify_evidence)

    audit = actions.add_parser(
        "audit",
        help="re-hash the evidence store: missing, altered and orphaned blobs, custody disagreements",
        description="Re-hash every blob a live evidence item needs (SHA-256 and SHA-512) and compare "
        "it with what was recorded at acquisition and with the custody chain; a whole-store audit also "
        "names blobs and files no item needs. Stale temporaries of crashed writes and exports are "
        "removed first. The result is recorded; exit 1 when anything is wrong.",
    )
    add_common_options(audit)
    audit.add_argument(
        "--incident", type=int, default=None, metavar="N", help="only this incident's evidence"
    )
    audit.add_argument("--actor", default="audit", help="who runs it (recorded with the result)")
    audit.add_argument("--json", action="store_true")
    audit.set_defaults(handler=audit_evidence)

    log = actions.add_parser(
        "log", help="record that evidence was viewed, handed over or checked (who, why) in its custody chain"
    )
    add_common_options(log)
    log.add_argument("incident_id", type=int, metavar="INCIDENT")
    log.add_argument("action", choices=["viewed", "transferred", "verified"])
    log.add_argument("--actor", required=True)
    log.add_argument("--purpose", required=True)
    log.add_argument("--item", default=None, metavar="SHA256", help="the item concerned (default: all)")
    log.add_argument("--to", dest="recipient", default=None, help="for a transfer: who received it")
    log.set_defaults(handler=log_custody)

    dispose = actions.add_parser(
        "dispose", help="dispose of an item (refused while its incident is open or on legal hold)"
    )
    add_common_options(dispose)
    dispose.add_argument("incident_id", type=int, metavar="INCIDENT")
    dispose.add_argument("sha256", metavar="SHA256")
    dispose.add_argument("--actor", required=True)
    dispose.add_argument("--reason", required=True)
    dispose.set_defaults(handler=dispose_evidence)

    expire = actions.add_parser(
        "expire", help="dispose of items past [evidence.retention] whose incident is closed and not on hold"
    )
    add_common_options(expire)
    expire.add_argument("--actor", required=True)
    expire.set_defaults(handler=expire_evidence)

    keygen = actions.add_parser(
        "keygen", help="a new Ed25519 key pair for signing packets (never overwrites)"
    )
    keygen.add_argument("private", type=Path, metavar="PRIVATE.pem")
    keygen.add_argument("public", type=Path, metavar="PUBLIC.pem")
    keygen.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    keygen.set_defaults(handler=keygen_evidence)


def add_evidence(args: argparse.Namespace) -> int:
    import asyncio

    from vmsbridge.evidence_service import add_file, open_content_store
    from vmsbridge.store.stores import open_store

    site = load_site(args)
    if not args.file.is_file():
        raise ConfigError("FILE", [ConfigProblem("FILE", f"{args.file} is not a file")])
    window = _window(args.window_from, args.window_to)

    async def go() -> tuple[EvidenceItem, bool]:
        async with open_store(db_url_for(args, site)) as stores:
            return await add_file(
                stores,
                await open_content_store(site),
                incident_id=args.incident_id,
                path=args.file,
                actor=args.actor,
                how=args.how,
                camera_id=args.camera,
                derived_from=args.derived_from,
                window=window,
            )

    item, new = asyncio.run(go())
    sha256 = item.sha256
    if args.json:
        print_json({"sha256": sha256, "new": new, "incident": args.incident_id})
    else:
        print(sha256 if new else f"{sha256} (already attached to incident {args.incident_id})")
    return 0


def list_evidence(args: argparse.Namespace) -> int:
    import asyncio

    from evidence.custody import verify_chain
    from vmsbridge.evidence_service import clip_facts, last_verifications, transcode_note
    from vmsbridge.store.stores import open_store

    site = load_site(args)

    async def go() -> tuple[list[EvidenceItem], list[CustodyEntry], dict[str, Verification]]:
        async with open_store(db_url_for(args, site)) as stores:
            await stores.incidents.get(args.incident_id)  # NotFound names it
            items = await stores.evidence.items(args.incident_id)
            chain = await stores.evidence.chain(args.incident_id)
            return items, chain, await last_verifications(stores, args.incident_id)

    items, chain, verified = asyncio.run(go())
    problems = verify_chain(chain)
    clips = clip_facts(chain)
    if args.json:
        print_json(
            {
                "items": [
                    {
                        **dataclasses.asdict(i),
                        "last_verified": dataclasses.asdict(verified[i.sha256])
                        if i.sha256 in verified
                        else None,
                        "clip": clips.get(i.sha256),
                        "transcode": transcode_note(clips.get(i.sha256)),
                    }
                    for i in items
                ],
                "custody": [{**e.body(), "hash": e.hash} for e in chain],
                "custody_problems": problems,
            }
        )
        return 0 if not problems else 1
    for item in items:
        print(
            f"{item.sha256}  {item.role:<8} {item.size:>12} B  {escape_controls(item.file_name)}  "
            f"({escape_controls(item.acquired_by)})  "
            f"{_verified(item, verified.get(item.sha256))}"
        )
        for note in _clip_notes(clips.get(item.sha256)):
            print(f"    {note}")
    state = "intact" if not problems else "BROKEN: " + "; ".join(problems)
    print(f"custody chain: {len(chain)} entries, {state}")
    return 0 if not problems else 1


def _clip_notes(clip: dict[str, Any] | None) -> list[str]:
    """What a clip item holds, under its line: real times, gaps, and a transcode in capitals."""
    if not clip:
        return []
    notes = [
        f"clip {clip.get('codec')} {clip.get('width')}x{clip.get('height')}, {clip.get('frames')} frames, "
        f"{clip.get('start')} - {clip.get('end')}"
    ]
    for gap in clip.get("gaps") or []:
        notes.append(f"GAP {gap.get('start')} - {gap.get('end')} ({gap.get('seconds')} s without video)")
    if clip.get("reencoded"):
        by = clip.get("transcoded_by") or "its source"
        notes.append(f"TRANSCODED by the {by}: not the camera's original encoding")
    return notes


def _verified(item: EvidenceItem, check: Verification | None) -> str:
    if item.disposed_at is not None:
        return f"disposed of {item.disposed_at.isoformat(timespec='seconds')}"
    if check is None:
        return "never re-hashed (run `vmsbridge evidence audit`)"
    when = f"{check.at.isoformat(timespec='seconds')} by {check.by}"
    return f"verified {when}: intact" if check.outcome == "intact" else f"{check.outcome.upper()} at {when}"


def audit_evidence(args: argparse.Namespace) -> int:
    import asyncio

    from vmsbridge.evidence_audit import audit_store
    from vmsbridge.evidence_service import open_content_store
    from vmsbridge.store.stores import open_store

    site = load_site(args)

    async def go() -> AuditReport:
        async with open_store(db_url_for(args, site)) as stores:
            # No cleaning here: the audit's own sweep reports what it removes.
            store = await open_content_store(site, clean=False)
            report = await audit_store(stores, store, incident_id=args.incident)
            await stores.evidence.record_audit(report.record(args.actor))
            return report

    report = asyncio.run(go())
    if args.json:
        print_json(report.as_dict())
        return 0 if report.ok else 1
    for removed in report.removed:
        print(f"removed stale temporary {removed.path} ({removed.size} bytes): {removed.reason}")
    for problem in report.problems:
        print(f"{problem.kind.upper()}: {problem.message}")
    scope = "evidence store" if args.incident is None else f"evidence of incident {args.incident}"
    counts = ", ".join(f"{n} {kind}" for kind, n in report.counts().items())
    print(
        f"{scope}: {report.items_checked} item(s), {report.blobs_checked} blob(s), "
        f"{report.bytes_hashed} bytes re-hashed: {'intact' if report.ok else counts}"
    )
    return 0 if report.ok else 1


def export_evidence(args: argparse.Namespace) -> int:
    import asyncio

    from vmsbridge.evidence_service import export_packet, open_content_store
    from vmsbridge.store.stores import open_store

    site = load_site(args)

    async def go() -> Path:
        async with open_store(db_url_for(args, site)) as stores:
            return await export_packet(
                stores,
                site,
                await open_content_store(site),
                incident_id=args.incident_id,
                out=args.out,
                actor=args.actor,
                reason=args.reason,
                zip_it=args.zip,
            )

    try:
        path = asyncio.run(go())
    except FileExistsError as exc:
        raise ConfigError("--out", [ConfigProblem("--out", f"{exc} exists; choose a new path")]) from None
    print(path)
    return 0


def verify_evidence(args: argparse.Namespace) -> int:
    from evidence.bag import verify_bag

    problems = verify_bag(args.path, args.pubkey)
    if not problems:
        signed = " and its signature" if args.pubkey else ""
        print(f"{args.path}: intact (bag fixity, custody chain{signed})")
        return 0
    for problem in problems:
        print(f"{args.path}: {problem}", file=sys.stderr)
    return 1


def keygen_evidence(args: argparse.Namespace) -> int:
    from evidence.bag import keygen

    try:
        keygen(args.private, args.public)
    except FileExistsError as exc:
        raise ConfigError(
            "keygen", [ConfigProblem("keygen", f"{exc.filename} exists; keys are never overwritten")]
        ) from None
    print(
        f"private key {args.private} (keep it secret; set [evidence].signing_key), public key {args.public}"
    )
    return 0


def dispose_evidence(args: argparse.Namespace) -> int:
    import asyncio

    from vmsbridge.evidence_service import dispose, open_content_store
    from vmsbridge.store.stores import open_store

    site = load_site(args)

    async def go() -> None:
        async with open_store(db_url_for(args, site)) as stores:
            await dispose(
                stores,
                await open_content_store(site),
                incident_id=args.incident_id,
                sha256=args.sha256,
                actor=args.actor,
                reason=args.reason,
            )

    asyncio.run(go())
    print(f"disposed of {args.sha256} (incident {args.incident_id}); recorded in its custody chain")
    return 0


def expire_evidence(args: argparse.Namespace) -> int:
    import asyncio

    from vmsbridge.evidence_service import dispose_expired, open_content_store
    from vmsbridge.store.stores import open_store

    site = load_site(args)

    async def go() -> list[tuple[int, str]]:
        async with open_store(db_url_for(args, site)) as stores:
            return await dispose_expired(stores, site, await open_content_store(site), actor=args.actor)

    done = asyncio.run(go())
    for incident_id, sha256 in done:
        print(f"disposed of {sha256} (incident {incident_id})")
    print(f"{len(done)} item(s) past retention disposed of")
    return 0


def _window(start: str | None, end: str | None) -> tuple[datetime, datetime] | None:
    if start is None and end is None:
        return None
    problems = []
    times: list[datetime] = []
    for key, text in (("--from", start), ("--to", end)):
        try:
            value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        except ValueError:
            problems.append(ConfigProblem(key, f"{text!r} is not an ISO 8601 time"))
            continue
        if value.tzinfo is None:
            problems.append(ConfigProblem(key, f"{text!r} has no time zone (add Z or +hh:mm)"))
        times.append(value)
    if not problems and times[1] < times[0]:
        problems.append(ConfigProblem("--to", "is before --from"))
    if problems:
        raise ConfigError("time window", problems)
    return times[0], times[1]


def log_custody(args: argparse.Namespace) -> int:
    import asyncio

    from vmsbridge.evidence_service import log_access
    from vmsbridge.store.stores import open_store

    site = load_site(args)
    details = {"to": args.recipient} if args.recipient else {}

    async def go() -> CustodyEntry:
        async with open_store(db_url_for(args, site)) as stores:
            return await log_access(
                stores,
                incident_id=args.incident_id,
                action=args.action,
                actor=args.actor,
                purpose=args.purpose,
                item=args.item,
                details=details,
            )

    entry = asyncio.run(go())
    print(f"custody entry {entry.seq} of incident {args.incident_id}: {entry.action} by {entry.actor}")
    return 0
