"""``vmsbridge firelog draft|update|publish|pending|history|export|stats``: fires in student housing."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from vmsbridge.cli.common import add_common_options, load_site, print_json, with_stores
from vmsbridge.cli.crimelog import (
    add_history_parser,
    add_pending_parser,
    add_publish_parser,
    aware_time,
    history_json,
    print_changes,
    print_draft,
    print_pending,
)
from vmsbridge.cli.logexport import add_export_parser, run_export

if TYPE_CHECKING:
    from vmsbridge.app import Stores
    from vmsbridge.clery.publiclog import PendingItem
    from vmsbridge.model.firelog import FireLogEntry

# Kept here too so that --help needs no import of the service layer.
STATISTICS_FIELD_NAMES = ("cause", "injuries", "deaths", "damage_usd")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "firelog",
        help="fire log of student housing: drafts, updates, publishing, deadlines, statistics",
        description="The fire log covers actual fires only (not false alarms or drills) in locations "
        "marked student_housing = true in the site file. Like the crime log, an entry and every "
        "later change are drafts until an actor publishes them, each due by the end of the 2nd "
        "business day after the information was received (no deadline for updates to an entry more "
        "than 60 days old). Cause, injuries, deaths and damage are kept for the annual fire "
        "statistics and never appear in the public log.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    draft = actions.add_parser("draft", help="a draft entry for an actual fire in student housing")
    add_common_options(draft)
    draft.add_argument("--location", required=True, metavar="ID", help="a student-housing location id")
    draft.add_argument(
        "--nature", required=True, help='plain language, e.g. "Kitchen fire, contained to stove"'
    )
    draft.add_argument(
        "--reported-at", required=True, metavar="ISO", help="when it was reported (with offset)"
    )
    draft.add_argument("--occurred-from", default=None, metavar="ISO", help="when it started (or the time)")
    draft.add_argument("--occurred-to", default=None, metavar="ISO", help="end of the range, if a range")
    draft.add_argument("--incident", type=int, default=None, metavar="ID", help="the incident, if any")
    draft.add_argument("--cause", default=None, help="cause of the fire (statistics, not public)")
    draft.add_argument(
        "--injuries",
        type=int,
        default=0,
        metavar="N",
        help="injuries needing treatment at a medical facility (statistics, not public)",
    )
    draft.add_argument("--deaths", type=int, default=0, metavar="N", help="(statistics, not public)")
    draft.add_argument(
        "--damage",
        type=int,
        default=0,
        metavar="USD",
        help="value of property damage in whole dollars (statistics, not public)",
    )
    draft.add_argument("--actor", default="fire-safety-officer", help="who drafts it")
    draft.add_argument("--json", action="store_true", help="print {id, due_by, ...}")
    draft.set_defaults(handler=draft_entry)
    draft.set_defaults(
        field_flags={"location_id": "--location", "incident_id": "--incident", "damage_usd": "--damage"}
    )

    upd = actions.add_parser("update", help="change a field (public fields get their own deadline)")
    add_common_options(upd)
    upd.add_argument("entry_id", type=int, metavar="ID")
    upd.add_argument(
        "--field",
        required=True,
        help="nature, occurred_from, occurred_to, general_location (public); "
        + ", ".join(STATISTICS_FIELD_NAMES)
        + " (statistics)",
    )
    upd.add_argument("--value", required=True)
    upd.add_argument(
        "--received-at", default=None, metavar="ISO", help="when the new information came in (default: now)"
    )
    upd.add_argument("--actor", default="fire-safety-officer")
    upd.add_argument("--json", action="store_true")
    upd.set_defaults(handler=update_entry)

    add_publish_parser(actions).set_defaults(handler=publish_entry)
    pend = add_pending_parser(actions)
    pend.add_argument(
        "--all",
        action="store_true",
        help="also list unpublished changes to the statistics fields, apart and informational only "
        "(never public, so never due)",
    )
    pend.set_defaults(handler=pending_entries)
    add_history_parser(actions).set_defaults(handler=entry_history)

    add_export_parser(
        actions,
        log="fire log",
        extra=" Columns: entry number, date/time reported, nature, date/time occurred, general location.",
    ).set_defaults(handler=export_log)

    stats = actions.add_parser(
        "stats", help="fire statistics per student-housing facility for one year (year reported)"
    )
    add_common_options(stats)
    stats.add_argument(
        "--year", type=int, required=True, metavar="Y", help="calendar year the fires were reported"
    )
    stats.add_argument("--json", action="store_true")
    stats.set_defaults(handler=fire_statistics)


def draft_entry(args: argparse.Namespace) -> int:
    from vmsbridge.clery.firelog import draft

    reported = aware_time("--reported-at", args.reported_at)
    entry, first = with_stores(
        args,
        lambda stores, site: draft(
            stores,
            site,
            location_id=args.location,
            nature=args.nature,
            reported_at=reported,
            actor=args.actor,
            occurred_from=aware_time("--occurred-from", args.occurred_from),
            occurred_to=aware_time("--occurred-to", args.occurred_to),
            incident_id=args.incident,
            cause=args.cause,
            injuries=args.injuries,
            deaths=args.deaths,
            damage_usd=args.damage,
        ),
    )
    print_draft(args, entry, first, noun="fire-log entry")
    return 0


def update_entry(args: argparse.Namespace) -> int:
    from vmsbridge.clery.firelog import update
    from vmsbridge.clery.publiclog import deadline_text

    received = aware_time("--received-at", args.received_at)
    change = with_stores(
        args,
        lambda stores, site: update(
            stores,
            site,
            entry_id=args.entry_id,
            field=args.field,
            value=args.value,
            actor=args.actor,
            received_at=received,
        ),
    )
    if args.json:
        print_json(history_json([change], load_site(args), not_public=STATISTICS_FIELD_NAMES)[0])
    else:
        due = deadline_text(
            change, ZoneInfo(load_site(args).site.timezone), not_public=STATISTICS_FIELD_NAMES
        )
        when = f"publish by {due}" if change.due_by else due
        print(f"fire-log entry {change.entry_id}: {change.field} changed; {when}")
    return 0


def publish_entry(args: argparse.Namespace) -> int:
    from vmsbridge.clery.firelog import publish

    with_stores(args, lambda stores, _: publish(stores, entry_id=args.entry_id, actor=args.actor))
    print(f"fire-log entry {args.entry_id} published by {args.actor}")
    return 0


def pending_entries(args: argparse.Namespace) -> int:
    from vmsbridge.clery.firelog import pending, unpublished_statistics

    as_of = aware_time("--as-of", args.as_of) or datetime.now(UTC)

    async def gather(
        stores: Stores,
    ) -> tuple[list[PendingItem[FireLogEntry]], list[PendingItem[FireLogEntry]]]:
        extra = await unpublished_statistics(stores, as_of=as_of) if args.all else []
        return await pending(stores, as_of=as_of), extra

    items, informational = with_stores(args, lambda stores, _: gather(stores))
    print_pending(
        args, items, place="location", not_public=STATISTICS_FIELD_NAMES, informational=informational
    )
    return 0


def entry_history(args: argparse.Namespace) -> int:
    from vmsbridge.clery.firelog import history

    changes = with_stores(args, lambda stores, _: history(stores, args.entry_id))
    print_changes(args, changes, not_public=STATISTICS_FIELD_NAMES)
    return 0


def export_log(args: argparse.Namespace) -> int:
    from vmsbridge.clery.firelog import export

    return run_export(args, export)


def fire_statistics(args: argparse.Namespace) -> int:
    from vmsbridge.clery.firelog import statistics

    facilities = with_stores(args, lambda stores, site: statistics(stores, site, year=args.year))
    if args.json:
        print_json(
            {
                "year": args.year,
                "facilities": [
                    {
                        "location": f.location_id,
                        "facility": f.facility,
                        "fires": f.fires,
                        "causes": dict(sorted(f.causes.items())),
                        "injuries": f.injuries,
                        "deaths": f.deaths,
                        "damage_usd": f.damage_usd,
                    }
                    for f in facilities
                ],
            }
        )
        return 0
    print(f"Fire statistics {args.year} (fires reported that year), per student-housing facility")
    for f in facilities:
        causes = ", ".join(f"{cause}: {n}" for cause, n in sorted(f.causes.items())) or "-"
        print(
            f"{f.facility}: {f.fires} fire(s); causes {causes}; injuries {f.injuries}; "
            f"deaths {f.deaths}; damage ${f.damage_usd:,}"
        )
    if not facilities:
        print("no student-housing locations in the site file")
    return 0
