"""What ``crimelog export`` and ``firelog export`` share: their options, the window, the output."""

from __future__ import annotations

__all__ = ["add_export_parser", "export_window", "run_export", "write_export"]

import argparse
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from vmsbridge.cli.common import add_common_options, load_site, with_stores
from vmsbridge.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from vmsbridge.app import Stores
    from vmsbridge.clery.export import ExportWindow, PublicLog
    from vmsbridge.config import SiteConfig

WINDOW_HELP = (
    "Which entries: those whose date reported (institution-local date, [site] timezone) falls in "
    "the 60 days ending on --as-of, both ends included (--as-of 2026-12-31 covers 2026-11-02 "
    "through 2026-12-31), or for an older-records request in --from .. --to (both included). "
    "Only published entries appear, newest reported first, each as last published: changes not yet "
    "published are not shown, withheld fields say Withheld, and no person is ever named."
)


def add_export_parser(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], *, log: str, extra: str = ""
) -> argparse.ArgumentParser:
    export = actions.add_parser(
        "export",
        help=f"the public {log} as CSV, HTML or JSON (last 60 days, or a date range on request)",
        description=f"The public {log}. {WINDOW_HELP}{extra}",
    )
    add_common_options(export)
    window = export.add_mutually_exclusive_group()
    window.add_argument(
        "--as-of",
        default=None,
        metavar="DATE",
        help="last day of the 60-day window, YYYY-MM-DD (default: today, institution time)",
    )
    window.add_argument(
        "--from", dest="from_day", default=None, metavar="DATE", help="first day of a request, YYYY-MM-DD"
    )
    export.add_argument(
        "--to", dest="to_day", default=None, metavar="DATE", help="last day of a request (with --from)"
    )
    export.add_argument("--format", choices=["csv", "html", "json"], default="csv")
    export.add_argument(
        "--output", type=Path, default=None, metavar="FILE", help="write here (atomically); default: stdout"
    )
    export.set_defaults(field_flags={"first": "--from", "last": "--to", "fmt": "--format"})
    return export


def _day(option: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(option, [ConfigProblem(option, f"{text!r} is not a date (YYYY-MM-DD)")]) from None


def export_window(args: argparse.Namespace, site: SiteConfig) -> ExportWindow:
    from vmsbridge.clery.export import window_ending, window_for_request

    if args.as_of is not None and args.to_day is not None:
        raise ConfigError(
            "--as-of", [ConfigProblem("--as-of", "is the 60-day window; --from/--to is a request: use one")]
        )
    if args.to_day is not None and args.from_day is None:
        raise ConfigError("--to", [ConfigProblem("--to", "needs --from (a request names both ends)")])
    if args.from_day is not None:
        if args.to_day is None:
            raise ConfigError("--from", [ConfigProblem("--from", "needs --to (a request names both ends)")])
        return window_for_request(_day("--from", args.from_day), _day("--to", args.to_day))
    if args.as_of is not None:
        return window_ending(_day("--as-of", args.as_of))
    return window_ending(datetime.now(UTC).astimezone(ZoneInfo(site.site.timezone)).date())


def write_export(args: argparse.Namespace, text: str, rows: int) -> None:
    from evidence.atomic import write_atomically

    if args.output is None:
        sys.stdout.write(text)
        return
    write_atomically(args.output, text)
    print(f"{rows} entries written to {args.output}", file=sys.stderr)


def run_export(
    args: argparse.Namespace, export: Callable[[Stores, SiteConfig, ExportWindow], Awaitable[PublicLog]]
) -> int:
    """The handler of ``export``: ``export`` is the log's own (imported late, so --help needs none)."""
    from vmsbridge.clery.export import render

    window = export_window(args, load_site(args))
    log = with_stores(args, lambda stores, site: export(stores, site, window))
    write_export(args, render(log, args.format), len(log.rows))
    return 0
