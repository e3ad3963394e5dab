"""``vmsbridge crimelog draft|update|publish|pending|history|export``: the daily crime log, drafts first."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, overload
from zoneinfo import ZoneInfo

from vmsbridge.cli.common import add_common_options, load_site, local_time, print_json, with_stores
from vmsbridge.cli.logexport import add_export_parser, run_export
from vmsbridge.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from vmsbridge.app import Stores
    from vmsbridge.clery.publiclog import PendingItem
    from vmsbridge.config import SiteConfig
    from vmsbridge.model.crimelog import CrimeLogEntry, Withholding
    from vmsbridge.model.firelog import FireLogEntry
    from vmsbridge.model.publiclog import LogChange

    Review = tuple[CrimeLogEntry, Withholding]  # a withholding whose review date has passed

# Kept here too so that --help needs no import of the service layer.
WITHHOLDING_REASON_NAMES = (
    "ongoing_investigation",
    "individual_safety",
    "suspect_flight",
    "evidence_destruction",
    "prohibited_by_law",
    "victim_confidentiality",
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "crimelog",
        help="daily crime log: drafts from incidents, updates, publishing, deadlines",
        description="Entries and every later change are drafts until an actor publishes them; each "
        "carries its due-by time: the end of the 2nd business day (institution calendar: weekends, "
        "US federal holidays, [clery] closures) after the information was received. Updates to an "
        "entry reported more than 60 days (institution-local dates) before the update's information "
        "came in are still recorded, with no deadline: the law no longer requires them.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    draft = actions.add_parser("draft", help="a draft entry from an incident")
    add_common_options(draft)
    draft.add_argument("--incident", type=int, required=True, metavar="ID")
    draft.add_argument("--nature", required=True, help="plain-language nature of the crime")
    draft.add_argument(
        "--reported-at", required=True, metavar="ISO", help="when it was reported (with offset)"
    )
    draft.add_argument("--occurred-from", default=None, metavar="ISO")
    draft.add_argument("--occurred-to", default=None, metavar="ISO")
    draft.add_argument("--disposition", default="Open")
    draft.add_argument("--actor", default="clery-coordinator", help="who drafts it")
    draft.add_argument("--json", action="store_true", help="print {id, due_by, ...}")
    draft.set_defaults(handler=draft_entry)
    draft.set_defaults(field_flags={"incident_id": "--incident"})

    upd = actions.add_parser("update", help="change a field (the change gets its own deadline)")
    add_common_options(upd)
    upd.add_argument("entry_id", type=int, metavar="ID")
    upd.add_argument(
        "--field", required=True, help="nature, occurred_from, occurred_to, general_location, disposition"
    )
    upd.add_argument("--value", required=True)
    upd.add_argument(
        "--received-at", default=None, metavar="ISO", help="when the new information came in (default: now)"
    )
    upd.add_argument("--actor", default="clery-coordinator")
    upd.add_argument("--json", action="store_true")
    upd.set_defaults(handler=update_entry)

    add_publish_parser(actions).set_defaults(handler=publish_entry)

    hold = actions.add_parser("withhold", help="keep a field from the public for a legal reason (audited)")
    add_common_options(hold)
    hold.add_argument("entry_id", type=int, metavar="ID")
    hold.add_argument("--field", required=True)
    hold.add_argument("--reason", required=True, help=", ".join(WITHHOLDING_REASON_NAMES))
    hold.add_argument("--note", required=True, help="the evidence for withholding")
    hold.add_argument("--review-by", required=True, metavar="ISO", help="when to review the withholding")
    hold.add_argument("--actor", required=True)
    hold.set_defaults(handler=withhold_field)

    rel = actions.add_parser("release", help="release a withheld field (timestamped, audited)")
    add_common_options(rel)
    rel.add_argument("entry_id", type=int, metavar="ID")
    rel.add_argument("--field", required=True)
    rel.add_argument("--actor", required=True)
    rel.set_defaults(handler=release_field)

    show = actions.add_parser("show", help="an entry as the public sees it (withheld fields say so)")
    add_common_options(show)
    show.add_argument("entry_id", type=int, metavar="ID")
    show.set_defaults(handler=show_public)

    add_pending_parser(actions).set_defaults(handler=pending_entries)
    add_history_parser(actions).set_defaults(handler=entry_history)

    add_export_parser(actions, log="daily crime log").set_defaults(handler=export_log)


def add_publish_parser(
    actions: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """``publish``, the same in the crime log and the fire log; the caller sets the handler."""
    pub = actions.add_parser("publish", help="publish an entry and its pending changes")
    add_common_options(pub)
    pub.add_argument("entry_id", type=int, metavar="ID")
    pub.add_argument("--actor", required=True)
    return pub


def add_pending_parser(
    actions: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    pend = actions.add_parser("pending", help="unpublished drafts and updates with due_by and overdue")
    add_common_options(pend)
    pend.add_argument(
        "--as-of", default=None, metavar="DATETIME", help="judge deadlines at this time (default: now)"
    )
    pend.add_argument("--json", action="store_true")
    return pend


def add_history_parser(
    actions: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    hist = actions.add_parser(
        "history", help="an entry's changes with info-received, due-by and published times"
    )
    add_common_options(hist)
    hist.add_argument("entry_id", type=int, metavar="ID")
    hist.add_argument("--json", action="store_true")
    return hist


@overload
def aware_time(option: str, text: str) -> datetime: ...
@overload
def aware_time(option: str, text: str | None) -> datetime | None: ...
def aware_time(option: str, text: str | None) -> datetime | None:
    """``text`` as a time with its zone (None stays None); ConfigError names ``option``."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(option, [ConfigProblem(option, f"{text!r} is not an ISO 8601 time")]) from None
    if value.tzinfo is None:
        raise ConfigError(option, [ConfigProblem(option, f"{text!r} needs a time zone (add Z or +hh:mm)")])
    return value


def site_time(value: datetime | None, site: SiteConfig) -> str | None:
    """An ISO time with the site's offset (what the store hands back may be in UTC)."""
    return value.astimezone(ZoneInfo(site.site.timezone)).isoformat() if value else None


def draft_entry(args: argparse.Namespace) -> int:
    from vmsbridge.clery.crimelog import draft_from_incident

    reported = aware_time("--reported-at", args.reported_at)
    entry, first = with_stores(
        args,
        lambda stores, site: draft_from_incident(
            stores,
            site,
            incident_id=args.incident,
            nature=args.nature,
            reported_at=reported,
            actor=args.actor,
            occurred_from=aware_time("--occurred-from", args.occurred_from),
            occurred_to=aware_time("--occurred-to", args.occurred_to),
            disposition=args.disposition,
        ),
    )
    print_draft(args, entry, first, noun="crime-log entry")
    return 0


def print_draft(
    args: argparse.Namespace, entry: CrimeLogEntry | FireLogEntry, first: LogChange, *, noun: str
) -> None:
    from vmsbridge.clery.publiclog import deadline_text

    if args.json:
        print_json(
            {
                "id": entry.id,
                "status": entry.status,
                "due_by": site_time(first.due_by, load_site(args)),
                "general_location": entry.general_location,
                "nature": entry.nature,
            }
        )
    else:
        due = deadline_text(first, ZoneInfo(load_site(args).site.timezone))
        print(f"draft {noun} {entry.id} ({entry.general_location}): publish by {due}")


def update_entry(args: argparse.Namespace) -> int:
    from vmsbridge.clery.crimelog import update
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
        print_json(
            {
                "entry": change.entry_id,
                "field": change.field,
                "old": change.old_value,
                "new": change.new_value,
                "due_by": site_time(change.due_by, load_site(args)),
            }
        )
    else:
        due = deadline_text(change, ZoneInfo(load_site(args).site.timezone))
        when = f"publish by {due}" if change.due_by else due
        print(f"entry {change.entry_id}: {change.field} changed; {when}")
    return 0


def publish_entry(args: argparse.Namespace) -> int:
    from vmsbridge.clery.crimelog import publish

    with_stores(args, lambda stores, _: publish(stores, entry_id=args.entry_id, actor=args.actor))
    print(f"crime-log entry {args.entry_id} published by {args.actor}")
    return 0


def pending_entries(args: argparse.Namespace) -> int:
    from vmsbridge.clery.crimelog import pending, reviews_overdue

    as_of = aware_time("--as-of", args.as_of) or datetime.now(UTC)

    async def gather(stores: Stores) -> tuple[list[PendingItem[CrimeLogEntry]], list[Review]]:
        return await pending(stores, as_of=as_of), await reviews_overdue(stores, as_of=as_of)

    items, reviews = with_stores(args, lambda stores, _: gather(stores))
    print_pending(args, items, place="incident", reviews=reviews)
    return 0


def _change_kind(change: LogChange) -> str:
    return "draft" if change.field == "entry" else "update"


def print_pending(
    args: argparse.Namespace,
    items: Sequence[PendingItem[Any]],
    *,
    place: str,
    not_public: Sequence[str] = (),
    reviews: Sequence[Review] = (),
    informational: Sequence[PendingItem[Any]] = (),
) -> None:
    """Pending changes as ``--json`` asks; ``place`` names the entry's anchor (``incident_id`` or
    ``location_id`` of the entry) in the JSON.

    ``reviews`` are withholdings whose review date has passed (JSON type ``review_overdue``);
    ``informational`` are changes the law sets no deadline for because they are never public
    (JSON type ``informational``), listed apart from what is due.
    """
    from vmsbridge.clery.publiclog import deadline_text

    site = load_site(args)

    def change_row(i: PendingItem[Any], kind: str) -> dict[str, Any]:
        return {
            "type": kind,
            "entry": i.entry.id,
            place: getattr(i.entry, f"{place}_id"),
            "change": i.change.field,
            "received_at": site_time(i.change.info_received_at, site),
            "due_by": site_time(i.change.due_by, site),
            "overdue": i.overdue,
        }

    if args.json:
        rows = [change_row(i, _change_kind(i.change)) for i in items]
        rows += [
            {
                "type": "review_overdue",
                "entry": entry.id,
                place: getattr(entry, f"{place}_id"),
                "field": w.field,
                "withholding": w.id,
                "reason": w.reason,
                "note": w.note,
                "actor": w.actor,
                "withheld_at": site_time(w.withheld_at, site),
                "review_by": site_time(w.review_by, site),
                "overdue": True,
            }
            for entry, w in reviews
        ]
        rows += [change_row(i, "informational") for i in informational]
        print_json(rows)
        return
    zone = ZoneInfo(site.site.timezone)
    for item in items:
        flag = "OVERDUE" if item.overdue else "due" if item.change.due_by else "no deadline:"
        due = deadline_text(item.change, zone, not_public=not_public)
        print(f"entry {item.entry.id:<5} {item.change.field:<18} {flag} {due}")
    for entry, w in reviews:
        print(
            f"entry {entry.id:<5} {w.field:<18} REVIEW OVERDUE: withheld ({w.reason}) by {w.actor} "
            f"since {local_time(w.withheld_at, site)}; review by {local_time(w.review_by, site)}"
        )
    if not items and not reviews:
        print("nothing pending")
    if informational:
        print("informational only (not in the public log, no deadline):")
        for item in informational:
            received = local_time(item.change.info_received_at, site)
            print(f"entry {item.entry.id:<5} {item.change.field:<18} received {received}, unpublished")


def print_history(
    changes: Sequence[LogChange],
    site: SiteConfig,
    *,
    not_public: Sequence[str] = (),
    withholdings: Sequence[Withholding] = (),
) -> None:
    from vmsbridge.clery.publiclog import deadline_text

    zone = ZoneInfo(site.site.timezone)
    for c in changes:
        what = "entry drafted" if c.field == "entry" else f"{c.field}: {c.old_value} -> {c.new_value}"
        published = local_time(c.published_at, site) if c.published_at else "not yet published"
        print(f"#{c.id} {what}")
        print(f"    received {local_time(c.info_received_at, site)}  by {c.actor}")
        print(f"    due by   {deadline_text(c, zone, not_public=not_public)}")
        print(f"    published {published}")
    for w in withholdings:
        released = (
            f"{local_time(w.released_at, site)}  by {w.released_by}" if w.released_at else "not yet released"
        )
        print(f"withholding #{w.id} {w.field} withheld ({w.reason})")
        print(f"    withheld {local_time(w.withheld_at, site)}  by {w.actor}")
        print(f"    note     {w.note}")
        print(f"    review by {local_time(w.review_by, site)}")
        print(f"    released {released}")


def history_json(
    changes: Sequence[LogChange], site: SiteConfig, *, not_public: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The changes for ``--json``, every time with the site's UTC offset (as ``draft`` prints it)."""
    from vmsbridge.clery.publiclog import NOT_PUBLIC, OLDER_THAN_60_DAYS

    return [
        {
            "type": "change",
            "change": c.id,
            "field": c.field,
            "old": c.old_value,
            "new": c.new_value,
            "info_received_at": site_time(c.info_received_at, site),
            "due_by": site_time(c.due_by, site),
            "deadline": "required"
            if c.due_by
            else NOT_PUBLIC
            if c.field in not_public
            else OLDER_THAN_60_DAYS,
            "published_at": site_time(c.published_at, site),
            "actor": c.actor,
        }
        for c in changes
    ]


def withholding_json(withholdings: Sequence[Withholding], site: SiteConfig) -> list[dict[str, Any]]:
    """Withholding records for ``history --json``, times with the site's UTC offset."""
    return [
        {
            "type": "withholding",
            "withholding": w.id,
            "field": w.field,
            "reason": w.reason,
            "note": w.note,
            "actor": w.actor,
            "withheld_at": site_time(w.withheld_at, site),
            "review_by": site_time(w.review_by, site),
            "released_at": site_time(w.released_at, site),
            "released_by": w.released_by,
        }
        for w in withholdings
    ]


def entry_history(args: argparse.Namespace) -> int:
    from vmsbridge.clery.crimelog import history, withholdings

    async def gather(stores: Stores) -> tuple[list[LogChange], list[Withholding]]:
        return await history(stores, args.entry_id), await withholdings(stores, args.entry_id)

    changes, held = with_stores(args, lambda stores, _: gather(stores))
    print_changes(args, changes, withholdings=held)
    return 0


def print_changes(
    args: argparse.Namespace,
    changes: Sequence[LogChange],
    *,
    not_public: Sequence[str] = (),
    withholdings: Sequence[Withholding] = (),
) -> None:
    """An entry's history as ``--json`` asks: JSON (changes, type ``change``, then withholdings,
    type ``withholding``), or text in institution time."""
    site = load_site(args)
    if args.json:
        print_json(history_json(changes, site, not_public=not_public) + withholding_json(withholdings, site))
    else:
        print_history(changes, site, not_public=not_public, withholdings=withholdings)


def export_log(args: argparse.Namespace) -> int:
    from vmsbridge.clery.crimelog import export

    return run_export(args, export)


def withhold_field(args: argparse.Namespace) -> int:
    from vmsbridge.clery.crimelog import withhold

    review_by = aware_time("--review-by", args.review_by)
    with_stores(
        args,
        lambda stores, _: withhold(
            stores,
            entry_id=args.entry_id,
            field=args.field,
            reason=args.reason,
            note=args.note,
            actor=args.actor,
            review_by=review_by,
        ),
    )
    review = local_time(review_by, load_site(args))
    print(f"entry {args.entry_id}: {args.field} withheld ({args.reason}); review by {review}")
    return 0


def release_field(args: argparse.Namespace) -> int:
    from vmsbridge.clery.crimelog import release

    with_stores(
        args, lambda stores, _: release(stores, entry_id=args.entry_id, field=args.field, actor=args.actor)
    )
    print(f"entry {args.entry_id}: {args.field} released")
    return 0


def show_public(args: argparse.Namespace) -> int:
    from vmsbridge.clery.crimelog import public_view

    print_json(
        with_stores(
            args,
            lambda stores, site: public_view(stores, args.entry_id, zone=ZoneInfo(site.site.timezone)),
        )
    )
    return 0
