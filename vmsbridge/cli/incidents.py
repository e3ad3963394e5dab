"""``vmsbridge incidents list|show|open|close``"""

from __future__ import annotations

import argparse
import getpass
from typing import TYPE_CHECKING, Any

from vmsbridge.cli.common import (
    add_common_options,
    db_url_for,
    load_site,
    local_time,
    print_json,
    with_stores,
)
from vmsbridge.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from vmsbridge.config import SiteConfig
    from vmsbridge.model import Incident, StoredEvent

# vmsbridge.model.Priority's values, spelled out so that building the parser loads no model.
PRIORITIES = ("low", "medium", "high")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("incidents", help="list, show, open and close incidents")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    lst = actions.add_parser("list", help="incidents, newest last")
    add_common_options(lst)
    lst.add_argument("--status", choices=["open", "closed", "all"], default="all")
    lst.add_argument("--limit", type=int, default=50)
    lst.add_argument("--json", action="store_true", help="one JSON array instead of a table")
    lst.set_defaults(handler=list_incidents)

    show = actions.add_parser("show", help="one incident with its events")
    add_common_options(show)
    show.add_argument("incident_id", type=int, metavar="ID")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_incident)

    opn = actions.add_parser("open", help="open an incident by hand (e.g. a call to dispatch)")
    add_common_options(opn)
    opn.add_argument(
        "--location", required=True, metavar="ID", help="a location id from the site configuration"
    )
    opn.add_argument("--summary", required=True, metavar="TEXT")
    opn.add_argument("--priority", choices=PRIORITIES, default="medium")
    opn.add_argument("--actor", default=None, help="who is opening it (default: the login name)")
    opn.add_argument("--json", action="store_true", help='print {"id": ...} only')
    opn.set_defaults(handler=open_incident)

    flag = actions.add_parser(
        "flag",
        help="mark an incident victim-sensitive or under legal hold (or clear it); audited",
        description="Victim-sensitive: exports carry only redacted derivatives unless the actor's role "
        "allows originals ([evidence].originals_for). Legal hold: its evidence cannot be disposed of.",
    )
    add_common_options(flag)
    flag.add_argument("incident_id", type=int, metavar="ID")
    flag.add_argument("--victim-sensitive", choices=["yes", "no"], default=None)
    flag.add_argument("--legal-hold", choices=["yes", "no"], default=None)
    flag.add_argument("--actor", default=None, help="who (default: the login name)")
    flag.add_argument("--json", action="store_true")
    flag.set_defaults(handler=flag_incident)

    close = actions.add_parser("close", help="close an open incident")
    add_common_options(close)
    close.add_argument("incident_id", type=int, metavar="ID")
    close.add_argument("--reason", default="closed by operator")
    close.add_argument("--actor", default=None, help="who is closing it (default: the login name)")
    close.add_argument("--json", action="store_true")
    close.set_defaults(handler=close_incident)

    person = actions.add_parser(
        "person",
        help="record a person on an incident (restricted: listings show counts, never names)",
        description="Victims' names are kept so that notifications naming them are refused; they are "
        "never printed by list/show.",
    )
    person_actions = person.add_subparsers(dest="person_action", required=True, metavar="ACTION")
    padd = person_actions.add_parser("add", help="record a victim, witness, suspect or reporter")
    add_common_options(padd)
    padd.add_argument("incident_id", type=int, metavar="ID")
    padd.add_argument("--role", required=True, choices=["victim", "witness", "suspect", "reporter"])
    padd.add_argument("--name", required=True, help="full name (first and last)")
    padd.add_argument("--actor", default=None, help="who records it (default: the login name)")
    padd.set_defaults(handler=add_person)


def incident_dict(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "location": incident.location_id,
        "status": incident.status.value,
        "priority": incident.priority.value,
        "summary": incident.summary,
        "event_kinds": [k.value for k in incident.event_kinds],
        "event_ids": list(incident.event_ids),
        "started_at": incident.started_at.isoformat(),
        "last_event_at": incident.last_event_at.isoformat(),
        "opened_by": incident.opened_by,
        "closed_at": incident.closed_at.isoformat() if incident.closed_at else None,
        "close_reason": incident.close_reason,
        "victim_sensitive": incident.victim_sensitive,
        "legal_hold": incident.legal_hold,
    }


def event_dict(event: StoredEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "kind": event.kind.value,
        "device_id": event.device_id,
        "location": event.location_id,
        "occurred_at": event.occurred_at.isoformat(),
        "received_at": event.received_at.isoformat(),
        "source": event.source,
        "native_id": event.native_id,
        "attributes": event.attributes,
    }


def incident_line(incident: Incident, site: SiteConfig) -> str:
    from vmsbridge.model import IncidentStatus

    state = incident.status.value
    if incident.status is IncidentStatus.CLOSED:
        state = f"closed ({incident.close_reason})"
    kinds = ", ".join(k.value for k in incident.event_kinds) or "no events"
    return (
        f"#{incident.id:<4} {incident.priority.value.upper():<6} {incident.location_id:<14} "
        f"{local_time(incident.started_at, site)}  {state}\n"
        f"       {incident.summary}\n       events: {kinds}"
    )


def _actor(args: argparse.Namespace) -> str:
    return str(args.actor or getpass.getuser())


def list_incidents(args: argparse.Namespace) -> int:
    from vmsbridge.model import IncidentStatus

    site = load_site(args)
    status = None if args.status == "all" else IncidentStatus(args.status)

    incidents = with_stores(
        args,
        lambda stores, _: stores.incidents.search(status, args.limit),
    )
    if args.json:
        print_json([incident_dict(i) for i in incidents])
    elif not incidents:
        print("no incidents")
    else:
        for incident in incidents:
            print(incident_line(incident, site))
    return 0


def show_incident(args: argparse.Namespace) -> int:
    import asyncio

    from vmsbridge.store.stores import open_store

    site = load_site(args)

    async def go() -> tuple[Incident, list[StoredEvent], dict[str, int]]:
        async with open_store(db_url_for(args, site)) as stores:
            incident = await stores.incidents.get(args.incident_id)
            people = await stores.people.counts(args.incident_id)
            return incident, await stores.incidents.events_of(args.incident_id), people

    incident, events, people = asyncio.run(go())
    if args.json:
        print_json({**incident_dict(incident), "people": people, "events": [event_dict(e) for e in events]})
        return 0
    print(incident_line(incident, site))
    if any(people.values()):
        print("       people recorded: " + ", ".join(f"{role} {n}" for role, n in people.items() if n))
    for event in events:
        print(f"       {local_time(event.occurred_at, site)}  {event.kind.value:<22} {event.device_id}")
    return 0


def open_incident(args: argparse.Namespace) -> int:
    from vmsbridge.model import Priority

    site = load_site(args)
    known = {loc.id for loc in site.locations}
    if args.location not in known:
        raise ConfigError(
            "--location",
            [ConfigProblem("--location", f"{args.location!r} is not one of {', '.join(sorted(known))}")],
        )

    incident = with_stores(
        args,
        lambda stores, _: stores.incidents.open(
            location_id=args.location,
            summary=args.summary,
            priority=Priority(args.priority),
            actor=_actor(args),
        ),
    )
    if args.json:
        print_json({"id": incident.id})
    else:
        print(f"opened incident #{incident.id} at {incident.location_id}")
    return 0


def close_incident(args: argparse.Namespace) -> int:
    incident = with_stores(
        args,
        lambda stores, _: stores.incidents.close(args.incident_id, actor=_actor(args), reason=args.reason),
    )
    if args.json:
        print_json(incident_dict(incident))
    else:
        print(f"closed incident #{incident.id}")
    return 0


def flag_incident(args: argparse.Namespace) -> int:
    def choice(value: str | None) -> bool | None:
        return None if value is None else value == "yes"

    incident = with_stores(
        args,
        lambda stores, _: stores.incidents.set_flags(
            args.incident_id,
            actor=_actor(args),
            victim_sensitive=choice(args.victim_sensitive),
            legal_hold=choice(args.legal_hold),
        ),
    )
    if args.json:
        print_json(incident_dict(incident))
    else:
        flags = f"victim-sensitive {incident.victim_sensitive}, legal hold {incident.legal_hold}"
        print(f"incident #{incident.id}: {flags}")
    return 0


def add_person(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    with_stores(
        args,
        lambda stores, _: stores.people.add(
            args.incident_id,
            role=args.role,
            name=args.name.strip(),
            actor=_actor(args),
            now=datetime.now(UTC),
        ),
    )
    print(f"incident #{args.incident_id}: {args.role} recorded")  # the name is never echoed
    return 0
