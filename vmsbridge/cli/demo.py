"""``vmsbridge demo``: the whole spine on the embedded default, with nothing to configure."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import make_url

from vmsbridge.app import running_services
from vmsbridge.cli.common import load_site, local_time, print_json
from vmsbridge.cli.incidents import incident_dict, incident_line
from vmsbridge.config import SiteConfig
from vmsbridge.scenario import ScenarioSource


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "demo",
        help="play a scripted campus scenario through ingest and correlation, and show the incidents",
        description="Runs the real pipeline (bus, durable ingest, correlation) on a fresh SQLite "
        "database with the example campus and a scripted source: a blue-light phone pickup, a "
        "forced residence-hall door, motion, a camera that stops answering, a replayed event and "
        "an event from an unknown device. Nothing to configure.",
    )
    parser.add_argument("--config", default=None, help="site configuration (default: the example campus)")
    parser.add_argument(
        "--db",
        default=None,
        metavar="URL",
        help="keep the results in this database (default: a temporary SQLite file)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")
    # The demo reports its own rejections; the ingest warning would only repeat them.
    parser.add_argument("--log-level", default="ERROR", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.set_defaults(handler=demo)


async def run_demo(site: SiteConfig, db_url: str, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    async with running_services(site, db_url) as services:
        source = ScenarioSource(services.directory, now, run_tag=f"demo-{now:%Y%m%dT%H%M%S}")
        await source.run(services.bus)
        await services.correlator.catch_up()
        await services.correlator.close_quiet()
        incidents = await services.stores.incidents.search()
        stored_total = await services.stores.events.count()
    outcomes = Counter(o.status for o in source.outcomes)
    return {
        "site": site.site.name,
        "database": make_url(db_url).render_as_string(hide_password=True),
        "published": len(source.outcomes),
        "events": outcomes["stored"],
        "events_in_store": stored_total,
        "duplicates": outcomes["duplicate"],
        "rejected": outcomes["rejected"],
        "rejections": [o.reason for o in source.outcomes if o.status == "rejected"],
        "incidents": [incident_dict(i) for i in incidents],
        "_incident_objects": incidents,
    }


def demo(args: argparse.Namespace) -> int:
    site = load_site(args)
    with tempfile.TemporaryDirectory(prefix="vmsbridge-demo-") as tmp:
        url = args.db or f"sqlite+aiosqlite:///{tmp}/demo.db"
        result = asyncio.run(run_demo(site, url))
    incidents = result.pop("_incident_objects")
    if args.json:
        print_json(result)
        return 0
    where = "a temporary SQLite database" if args.db is None else result["database"]
    print(f"vmsbridge demo: {site.site.name} ({site.site.timezone}), {where}\n")
    print(
        f"The scripted source published {result['published']} events:\n"
        f"  {result['events']} stored (each persisted before it was acknowledged)\n"
        f"  {result['duplicates']} replay recognised by (source, native_id) and not stored twice\n"
        f"  {result['rejected']} rejected and kept for inspection:"
    )
    for reason in result["rejections"]:
        print(f"    - {reason}")
    print(f"\nCorrelation folded them into {len(incidents)} incidents:\n")
    for incident in incidents:
        print(incident_line(incident, site))
        print()
    print(f"(times in {site.site.timezone}; now is {local_time(datetime.now(UTC), site)})")
    if args.db and incidents:
        first = max(incidents, key=lambda i: i.priority.rank)
        print(f"\nLook closer: vmsbridge incidents show {first.id} --db {result['database']}")
    return 0
