"""``vmsbridge clery import|asr|explain``: Clery records from the records system, and ASR statistics."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from evidence.atomic import write_atomically
from vmsbridge.cli.common import add_common_options, local_time, print_json, with_stores
from vmsbridge.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from vmsbridge.app import Stores
    from vmsbridge.clery.asr import AsrStatistics, Decision
    from vmsbridge.config import SiteConfig
    from vmsbridge.model.clery import CleryRecord

EXIT_REJECTED_LINES = 1
FIRST_ASR_YEAR = 1992  # the first calendar year the Clery Act's statistics cover

IMPORT_HELP = """\
FILE holds one JSON object per line (JSON Lines), '-' reads standard input:
  {"case_number": "26-0113", "reported_at": "2026-03-02T08:15:00-06:00",
   "occurred_from": "...", "occurred_to": "...", "location": "maple-hall",
   "offenses": [{"code": "burglary", "attempted": false, "bias": null, "nature": "..."}],
   "arrests": [{"person": "NAME", "violation": "drug", "action": "arrest"}],
   "unfounded": false, "disposition": "Closed"}
Bad lines are reported as 'line N: reason' and skipped; the good ones are stored. A case number
already stored is replaced (updated), never duplicated. Exit 1 if any line was rejected, 2 if the
file cannot be read."""


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers): still say something useful
        return "unknown-user"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "clery",
        help="Clery offense records: import from the records system, ASR statistics, rule traces",
        description="Offense records (case number, offenses, arrests) come from the records-management "
        "system; the Annual Security Report statistics are computed from them with the Hierarchy Rule "
        "and its exceptions, and every counted or not-counted decision can be explained.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    imp = actions.add_parser(
        "import",
        help="import records (JSON Lines); re-importing a case updates it",
        description=IMPORT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_options(imp)
    imp.add_argument("file", metavar="FILE", help="JSON Lines file, or - for standard input")
    imp.add_argument("--actor", default=None, help="who imports (audit log; default: the OS user)")
    imp.add_argument("--json", action="store_true", help="print {imported, updated, rejected: [...]}")
    imp.set_defaults(handler=import_file)

    asr = actions.add_parser(
        "asr",
        help="Annual Security Report statistics for a year and the two before it",
        description="Counts by section (criminal_offenses, vawa_offenses, hate_crimes, arrests, "
        "disciplinary_referrals), category, calendar year reported and Clery geography (on_campus, "
        "on_campus_housing, noncampus, public_property), plus unfounded reports per year.",
    )
    add_common_options(asr)
    asr.add_argument("--year", type=int, required=True, metavar="Y", help="the report's last calendar year")
    shape = asr.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="same as --format json")
    shape.add_argument(
        "--format",
        choices=["text", "json", "csv", "html"],
        default=None,
        help="text (default), json, csv, or html (a standalone page)",
    )
    asr.add_argument("--output", type=Path, default=None, metavar="FILE", help="write here, not stdout")
    asr.set_defaults(handler=asr_report)

    exp = actions.add_parser("explain", help="why each offense and arrest of a case counts or not")
    add_common_options(exp)
    exp.add_argument("case_number", metavar="CASE_NUMBER")
    exp.add_argument("--json", action="store_true", help="print the decisions as a JSON list")
    exp.set_defaults(handler=explain_case)


def _read_lines(name: str) -> list[bytes]:
    try:
        data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as exc:
        raise ConfigError(name, [ConfigProblem("", f"cannot read: {exc.strerror or exc}")]) from None
    return data.splitlines()


def import_file(args: argparse.Namespace) -> int:
    from vmsbridge.clery.records import import_records

    lines = _read_lines(args.file)
    source = "<stdin>" if args.file == "-" else Path(args.file).name
    actor = args.actor or _default_actor()
    report = with_stores(
        args, lambda stores, site: import_records(stores, site, lines, source=source, actor=actor)
    )
    if args.json:
        print_json(
            {
                "imported": len(report.imported),
                "updated": len(report.updated),
                "rejected": [{"line": r.line, "reason": r.reason} for r in report.rejected],
                "imported_cases": list(report.imported),
                "updated_cases": list(report.updated),
            }
        )
    else:
        print(
            f"{source}: imported {len(report.imported)}, updated {len(report.updated)}, "
            f"rejected {len(report.rejected)}"
        )
        for rejection in report.rejected:
            print(rejection)
    return EXIT_REJECTED_LINES if report.rejected else 0


async def _statistics(stores: Stores, site: SiteConfig, year: int) -> AsrStatistics:
    from vmsbridge.clery.asr import compute_asr, report_years

    zone = ZoneInfo(site.site.timezone)
    first, *_, last = report_years(year)
    records = await stores.clery_records.records(
        reported_from=datetime(first, 1, 1, tzinfo=zone),
        reported_before=datetime(last + 1, 1, 1, tzinfo=zone),
    )
    stats, _ = compute_asr(records, site.locations, site.site.timezone, year)
    return stats


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        write_atomically(output, text)  # a reader never sees half a report
    except OSError as exc:
        raise ConfigError("--output", [ConfigProblem("--output", f"cannot write {output}: {exc}")]) from None
    print(f"wrote {output}", file=sys.stderr)


def asr_report(args: argparse.Namespace) -> int:
    import json

    from vmsbridge.clery.asr_report import render_csv, render_html, render_text

    if not FIRST_ASR_YEAR <= args.year <= 9999:
        raise ConfigError(
            "--year", [ConfigProblem("--year", f"{args.year} is not between {FIRST_ASR_YEAR} and 9999")]
        )
    shape = "json" if args.json else (args.format or "text")
    institution = ""

    async def work(stores: Stores, site: SiteConfig) -> AsrStatistics:
        nonlocal institution
        institution = site.site.name
        return await _statistics(stores, site, args.year)

    stats = with_stores(args, work)
    if shape == "json":
        text = json.dumps(stats.as_json(), indent=2) + "\n"
    elif shape == "csv":
        text = render_csv(stats)
    elif shape == "html":
        text = render_html(stats, institution)
    else:
        text = render_text(stats, institution)
    _write(text, args.output)
    return 0


async def _explain(stores: Stores, site: SiteConfig, case_number: str) -> tuple[CleryRecord, list[Decision]]:
    from vmsbridge.clery.asr import decide

    record = await stores.clery_records.get(case_number)
    return record, decide(record, {loc.id: loc for loc in site.locations}, site.site.timezone)


def explain_case(args: argparse.Namespace) -> int:
    from vmsbridge.clery.asr import counting_year
    from vmsbridge.cli.common import load_site

    record, decisions = with_stores(args, lambda stores, site: _explain(stores, site, args.case_number))
    if args.json:
        print_json([d.as_json() for d in decisions])
        return 0
    site = load_site(args)
    year = counting_year(record, site.site.timezone)
    print(
        f"case {record.case_number} at {record.location}, reported {local_time(record.reported_at, site)}: "
        f"counted in {year} (the calendar year reported, in {site.site.timezone})"
    )
    for d in decisions:
        what = "/".join(part for part in (d.section, d.category) if part)
        if d.counted:
            where = f" at {', '.join(d.geographies)}" if d.geographies else ""
            verdict = f"COUNTED in {what}{where}"
        else:
            verdict = "not counted" + (f" in {what}" if what else "")
        print(f"  {d.item}: {verdict}\n      rule: {d.rule}")
    return 0
