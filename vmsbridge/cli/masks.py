"""``vmsbridge masks list|lift``: camera privacy masks and audited, bounded lifts."""

from __future__ import annotations

import argparse
import getpass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from vmsbridge.cli.common import add_common_options, db_url_for, load_site, local_time, print_json

if TYPE_CHECKING:
    from vmsbridge.model.evidence import MaskLiftRecord


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("masks", help="camera privacy masks: list them, lift a liftable one (audited)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    lst = actions.add_parser("list", help="a camera's masks and the lifts in force now")
    add_common_options(lst)
    lst.add_argument("camera", metavar="CAMERA")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=list_masks)

    lift = actions.add_parser(
        "lift",
        help="let an authorized person see behind a liftable mask, for a bounded time",
        description="Record who lifts which mask, why and until when (at most 24 hours), with an "
        "audit entry. Permanent masks cannot be lifted.",
    )
    add_common_options(lift)
    lift.add_argument("camera", metavar="CAMERA")
    lift.add_argument("label", metavar="MASK", help="the liftable mask's label")
    lift.add_argument("--reason", required=True, help="why (case number, warrant, ...)")
    lift.add_argument("--minutes", type=float, required=True, help="how long the lift lasts")
    lift.add_argument("--actor", default=None, help="who is granted it (default: the login name)")
    lift.add_argument(
        "--incident", type=int, default=None, help="record the lift in this incident's custody chain"
    )
    lift.add_argument("--json", action="store_true")
    lift.set_defaults(handler=lift_mask)


def list_masks(args: argparse.Namespace) -> int:
    import asyncio

    from vmsbridge.masking import camera_masks
    from vmsbridge.store.stores import open_store

    site = load_site(args)
    masks = camera_masks(site, args.camera)

    async def go() -> list[dict[str, object]]:
        async with open_store(db_url_for(args, site)) as stores:
            lifts = await stores.mask_lifts.for_camera(args.camera, active_at=datetime.now(UTC))
        lifted = {lift.mask_label: lift for lift in lifts}
        rows: list[dict[str, object]] = []
        for mask in masks:
            lift = lifted.get(mask.label)
            rows.append(
                {
                    "label": mask.label,
                    "kind": mask.kind,
                    "polygon": " ".join(f"{x},{y}" for x, y in mask.polygon),
                    "lifted_until": lift.until.isoformat() if lift else None,
                    "lifted_for": lift.actor if lift else None,
                }
            )
        return rows

    rows = asyncio.run(go())
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        state = (
            f"LIFTED for {row['lifted_for']} until {row['lifted_until']}"
            if row["lifted_until"]
            else "applied"
        )
        print(f"{row['label']:<20} {row['kind']:<10} {state}")
    if not rows:
        print(f"camera {args.camera} has no privacy masks")
    return 0


def lift_mask(args: argparse.Namespace) -> int:
    import asyncio

    from vmsbridge.evidence_service import log_access
    from vmsbridge.masking import grant_lift
    from vmsbridge.store.stores import open_store

    site = load_site(args)
    actor = str(args.actor or getpass.getuser())

    async def go() -> MaskLiftRecord:
        async with open_store(db_url_for(args, site)) as stores:
            lift = await grant_lift(
                stores,
                site,
                camera_id=args.camera,
                label=args.label,
                actor=actor,
                reason=args.reason,
                duration=timedelta(minutes=args.minutes),
                now=datetime.now(UTC),
            )
            if args.incident is not None:
                # The incident's evidence from this camera may now be viewed unmasked: its chain says so.
                await log_access(
                    stores,
                    incident_id=args.incident,
                    action="mask_lifted",
                    actor=actor,
                    purpose=args.reason,
                    details={"camera": args.camera, "mask": args.label, "until": lift.until.isoformat()},
                )
            return lift

    lift = asyncio.run(go())
    if args.json:
        print_json(
            {"camera": args.camera, "mask": args.label, "actor": actor, "until": lift.until.isoformat()}
        )
    else:
        print(f"mask {args.label!r} of {args.camera} lifted for {actor} until {local_time(lift.until, site)}")
    return 0
