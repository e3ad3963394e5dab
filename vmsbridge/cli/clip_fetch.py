"""``vmsbridge clip fetch``: a camera's window the way ``capture_clip`` takes it (pre-roll buffer, then the
camera's recording or the VMS), optionally added to an incident as evidence."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from datetime import datetime

from vmsbridge.cli.clip_common import EXIT_OK, SubParsers, add_output_options, moment, seconds_up_to
from vmsbridge.cli.common import add_common_options, db_url_for, load_site, print_json

__all__ = ["add_fetch", "run_fetch"]

EXIT_USAGE = 2


def add_fetch(sub: SubParsers) -> None:
    fetch = sub.add_parser(
        "fetch",
        help="a camera's time window the way alarm rules take it (buffer, replay or VMS) into an MP4",
        description="Take [--from, --to] of a site camera the way `capture_clip` does: from the pre-roll "
        "buffer the bridge keeps under its data directory, else from the camera's connector (ONVIF "
        "replay, XProtect recorded video or export folder). The clip is written as received (a VMS that "
        "only gives JPEG is marked as a transcode). With --incident the file is added to that incident "
        "as evidence: hashed into the evidence store, a custody entry with the clip's real times, gaps "
        "and transcode, and an audit entry. Exit 1 with the reason when there is no such camera or "
        "incident, or no video for the window; nothing is written then.",
    )
    add_common_options(fetch)
    fetch.add_argument("--camera", required=True, metavar="ID", help="the camera's id in the site file")
    fetch.add_argument("--from", dest="start", type=moment, required=True, metavar="ISO")
    fetch.add_argument("--to", dest="end", type=moment, required=True, metavar="ISO")
    fetch.add_argument("--incident", type=int, default=None, metavar="N", help="add the clip to incident N")
    fetch.add_argument(
        "--actor", default=None, help="who fetches it, for custody and audit (default: the OS user)"
    )
    fetch.add_argument(
        "--purpose", default="fetched by an investigator", help="why (case number, request, ...)"
    )
    fetch.add_argument(
        "--wait",
        type=seconds_up_to(3600),
        default=30.0,
        metavar="S",
        help="how long to wait for the clip (and for a window that ends in the future) "
        "(default: %(default)s s)",
    )
    add_output_options(fetch)
    fetch.set_defaults(handler=run_fetch)


def run_fetch(args: argparse.Namespace) -> int:
    from vmsbridge.clip_fetch import add_fetched_clip, fetch_window
    from vmsbridge.evidence_service import open_content_store
    from vmsbridge.store.database import default_data_dir
    from vmsbridge.store.stores import open_store

    site = load_site(args)  # a broken site file is named first, before anything else is judged
    if args.end <= args.start:
        print(
            f"vmsbridge: --to ({args.end.isoformat()}) must be after --from ({args.start.isoformat()})",
            file=sys.stderr,
        )
        return EXIT_USAGE
    actor = args.actor or getpass.getuser()
    window: tuple[datetime, datetime] = (args.start, args.end)
    work_dir = (site.storage.data_dir or default_data_dir()) / "work"

    async def go() -> dict[str, object]:
        if args.incident is None:
            clip = await fetch_window(
                site, args.camera, *window, args.out, work_dir=work_dir, wait_seconds=args.wait
            )
            return clip.to_json()
        async with open_store(db_url_for(args, site)) as stores:
            await stores.incidents.get(args.incident)  # before any video moves: NotFound names it
            clip = await fetch_window(
                site, args.camera, *window, args.out, work_dir=work_dir, wait_seconds=args.wait
            )
            try:
                item, new = await add_fetched_clip(
                    stores,
                    await open_content_store(site),
                    clip,
                    incident_id=args.incident,
                    camera_id=args.camera,
                    window=window,
                    actor=actor,
                    purpose=args.purpose,
                )
            except BaseException:
                # Exit 1 means no file: the clip is not left behind without its evidence record.
                await asyncio.to_thread(args.out.unlink, True)
                raise
        return {**clip.to_json(), "evidence": {"incident": args.incident, "sha256": item.sha256, "new": new}}

    shown = asyncio.run(go())
    if args.json:
        print_json(shown)
        return EXIT_OK
    gaps = shown["gaps"]
    assert isinstance(gaps, list)
    lines = [
        f"{shown['file']}: {shown['codec']} {shown['width']}x{shown['height']}, {shown['frames']} frames, "
        f"{shown['seconds']} s from {shown['start']}; sha256 {shown['sha256']}"
    ]
    lines += [f"  gap: {g['start']} .. {g['end']} ({g['seconds']} s)" for g in gaps]
    if shown["reencoded"]:
        lines.append(
            f"  TRANSCODED by the {shown.get('transcoded_by') or 'source'}: not the camera's original"
        )
    if "evidence" in shown:
        lines.append(f"  evidence of incident {args.incident}: {item_line(shown['evidence'])}")
    print("\n".join(lines))
    return EXIT_OK


def item_line(evidence: object) -> str:
    assert isinstance(evidence, dict)
    return str(evidence["sha256"]) + ("" if evidence["new"] else " (already attached)")
