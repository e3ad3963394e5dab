"""``vmsbridge health report|now|digest``: camera uptime, coverage gaps per location, open problems."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from vmsbridge.cli.common import add_common_options, local_time, print_json, with_stores
from vmsbridge.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from vmsbridge.app import Stores
    from vmsbridge.config import SiteConfig
    from vmsbridge.health.digest import CurrentState, Digest
    from vmsbridge.health.report import HealthReport
    from vmsbridge.model.health import ClockSuspect

DEFAULT_DAYS = 7


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "health",
        help="camera health: uptime, coverage gaps per location, incidents with no video, open problems",
        description="Camera states come from stored events: comm lost / signal lost = down; tamper and "
        "VMS not recording = degraded; a connector gap or time when the bridge was not running = "
        "unknown (never counted as up). A location has a coverage gap while none of its cameras works.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    report = actions.add_parser(
        "report",
        help="per camera uptime and outages, per location gaps, incidents in gaps",
        description="Times are ISO 8601 (with or without offset) or dates, read in the site's time "
        "zone; a date given to --to includes that whole day. The window ends at now at the latest.",
    )
    add_common_options(report)
    report.add_argument(
        "--from", dest="start", default=None, metavar="T1", help=f"default: {DEFAULT_DAYS} days ago"
    )
    report.add_argument("--to", dest="end", default=None, metavar="T2", help="default: now")
    report.add_argument("--format", choices=["json", "csv", "html"], default="json")
    report.add_argument(
        "--output", type=Path, default=None, metavar="FILE", help="write here instead of stdout"
    )
    report.set_defaults(handler=health_report)
    report.set_defaults(field_flags={"window": "--from/--to"})

    now = actions.add_parser("now", help="every camera's and location's state now, with since-when")
    add_common_options(now)
    now.add_argument("--json", action="store_true")
    now.set_defaults(handler=health_now)

    digest = actions.add_parser(
        "digest",
        help="open problems now (`vmsbridge run` writes it daily too: [health] digest_at)",
    )
    add_common_options(digest)
    digest.add_argument("--json", action="store_true")
    digest.set_defaults(handler=health_digest)


def parse_when(option: str, text: str, zone: ZoneInfo, *, end_of_day: bool = False) -> datetime:
    """An ISO time (naive = site time) or a date (its midnight in site time; the next one for --to)."""
    value = text.strip()
    try:
        day = date.fromisoformat(value)
    except ValueError:
        day = None
    if day is not None and len(value) == 10:
        if end_of_day:
            day += timedelta(days=1)
        return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            option, [ConfigProblem(option, f"{text!r} is not an ISO 8601 time or a date (YYYY-MM-DD)")]
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def health_report(args: argparse.Namespace) -> int:
    from vmsbridge.health.render import render_csv, render_html, write_json
    from vmsbridge.health.service import health_report as build

    now = datetime.now(UTC)

    async def work(stores: Stores, site: SiteConfig) -> HealthReport:
        zone = ZoneInfo(site.site.timezone)
        end = parse_when("--to", args.end, zone, end_of_day=True) if args.end else now
        start = parse_when("--from", args.start, zone) if args.start else end - timedelta(days=DEFAULT_DAYS)
        return await build(stores.health, site, start, end, now)

    report = with_stores(args, work)
    out = sys.stdout if args.output is None else args.output.open("w", encoding="utf-8")
    try:
        if args.format == "json":
            write_json(report, out)
        elif args.format == "csv":
            out.write(render_csv(report))
        else:
            out.write(render_html(report))
    finally:
        if out is not sys.stdout:
            out.close()
    if args.output is not None:
        gaps = sum(len(loc.gaps) for loc in report.locations)
        print(
            f"wrote {args.output} ({args.format}): {len(report.cameras)} cameras, {gaps} coverage gap(s), "
            f"{len(report.incidents)} incident(s) in uncovered time"
        )
    return 0


def health_now(args: argparse.Namespace) -> int:
    from vmsbridge.health.digest import clock_dict, clock_lines, current_states, location_states, state_dict
    from vmsbridge.health.service import current_clock_suspects, current_picture

    now = datetime.now(UTC)

    async def work(
        stores: Stores, site: SiteConfig
    ) -> tuple[SiteConfig, list[CurrentState], list[CurrentState], list[ClockSuspect]]:
        timelines, coverages = await current_picture(stores.health, site, now)
        clocks = await current_clock_suspects(stores.health, now)
        return site, current_states(site, timelines, now), location_states(site, coverages, now), clocks

    site, cameras, locations, clocks = with_stores(args, work)
    if args.json:
        print_json(
            {
                "at": now.isoformat(),
                "cameras": [state_dict(c) for c in cameras],
                "locations": [state_dict(loc) for loc in locations],
                "clock_suspect": [clock_dict(c) for c in clocks],
            }
        )
        return 0
    print(f"camera health at {local_time(now, site)}")
    for item in cameras:
        since = "" if item.since is None else ("since before " if item.since_is_lower_bound else "since ")
        since += "" if item.since is None else local_time(item.since, site)
        causes = f"  ({', '.join(item.causes)})" if item.causes else ""
        print(f"  {item.subject:<22} {item.state:<9} {since}{causes}")
    uncovered = [loc for loc in locations if loc.state != "covered"]
    print(f"locations without working coverage: {len(uncovered)} of {len(locations)}")
    for item in uncovered:
        assert item.since is not None
        print(f"  {item.subject:<22} {item.state:<9} since {local_time(item.since, site)}")
    for line in clock_lines(clocks, ZoneInfo(site.site.timezone)):
        print(line)
    return 0


def health_digest(args: argparse.Namespace) -> int:
    from vmsbridge.health.digest import digest_json, digest_text
    from vmsbridge.health.service import current_digest

    now = datetime.now(UTC)

    async def work(stores: Stores, site: SiteConfig) -> Digest:
        return await current_digest(stores.health, site, now)

    digest = with_stores(args, work)
    # The same renderers as the files the running bridge writes daily (`[health] digest_at`).
    sys.stdout.write(digest_json(digest) if args.json else digest_text(digest))
    return 0
