"""The public export of a Clery log (crime log, fire log): the window of days and the renderers.

The law keeps the most recent 60 days open to inspection and older entries available on request
(clery.md §1.5). A window is a range of institution-local dates, both ends included; an entry is
in it when its date reported, in institution time, falls in the range.
"""

from __future__ import annotations

__all__ = [
    "FORMATS",
    "PUBLIC_WINDOW_DAYS",
    "ExportWindow",
    "PublicLog",
    "occurred_text",
    "render",
    "when_text",
    "window_ending",
    "window_for_request",
]

import csv
import html
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from vmsbridge.errors import ValidationFailed, ValidationProblem

PUBLIC_WINDOW_DAYS = 60
FORMATS = ("csv", "html", "json")


@dataclass(frozen=True)
class ExportWindow:
    first_day: date
    last_day: date
    kind: str  # "last_60_days" | "request"

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) as aware times: local midnight of the first day to local midnight after the last.

        Midnight is taken in the zone, so a window crossing a DST change is 23 or 25 hours longer
        or shorter than whole days of 24 hours, as the calendar on the wall says.
        """
        start = datetime.combine(self.first_day, time(0), tzinfo=zone)
        end = datetime.combine(self.last_day + timedelta(days=1), time(0), tzinfo=zone)
        return start, end

    def describe(self) -> str:
        what = "last 60 days" if self.kind == "last_60_days" else "records request"
        return f"reported {self.first_day.isoformat()} to {self.last_day.isoformat()} ({what})"


def window_ending(as_of: date) -> ExportWindow:
    """The 60 days ending on ``as_of``, both included: as_of - 59 days .. as_of."""
    return ExportWindow(as_of - timedelta(days=PUBLIC_WINDOW_DAYS - 1), as_of, "last_60_days")


def window_for_request(first: date, last: date) -> ExportWindow:
    if last < first:
        raise ValidationFailed(
            [ValidationProblem("last", f"{last} is before first {first}", related=("first",))]
        )
    return ExportWindow(first, last, "request")


@dataclass(frozen=True)
class PublicLog:
    """A log ready to render: what it is, its window, its columns (key, heading) and rows."""

    title: str
    institution: str
    window: ExportWindow
    generated_at: datetime
    columns: Sequence[tuple[str, str]]
    rows: Sequence[dict[str, str]]


def _csv(log: PublicLog) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180 line ends
    writer.writerow([heading for _, heading in log.columns])
    for row in log.rows:
        writer.writerow([row.get(key, "") for key, _ in log.columns])
    return out.getvalue()


def _json(log: PublicLog) -> str:
    document = {
        "title": log.title,
        "institution": log.institution,
        "window": {
            "first_day": log.window.first_day.isoformat(),
            "last_day": log.window.last_day.isoformat(),
            "kind": log.window.kind,
        },
        "generated_at": log.generated_at.isoformat(),
        "entries": [{key: row.get(key, "") for key, _ in log.columns} for row in log.rows],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _html(log: PublicLog) -> str:
    e = html.escape
    head = "".join(f'<th scope="col">{e(heading)}</th>' for _, heading in log.columns)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{e(row.get(key, ''))}</td>" for key, _ in log.columns) + "</tr>"
        for row in log.rows
    )
    if not log.rows:
        body = f'<tr><td colspan="{len(log.columns)}">No entries in this period.</td></tr>'
    title = f"{log.title}, {log.institution}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border: 1px solid #bbb; padding: 0.35rem 0.5rem; text-align: left; vertical-align: top; }}
th {{ background: #eee; }}
tr:nth-child(even) td {{ background: #f8f8f8; }}
</style>
</head>
<body>
<h1>{e(title)}</h1>
<p>Entries {e(log.window.describe())}; generated {e(log.generated_at.strftime("%Y-%m-%d %H:%M %Z"))}.</p>
<table>
<thead><tr>{head}</tr></thead>
<tbody>
{body}
</tbody>
</table>
</body>
</html>
"""


def render(log: PublicLog, fmt: str) -> str:
    if fmt == "csv":
        return _csv(log)
    if fmt == "json":
        return _json(log)
    if fmt == "html":
        return _html(log)
    raise ValidationFailed([ValidationProblem("fmt", f"{fmt!r} is not one of {', '.join(FORMATS)}")])


def when_text(value: datetime | str | None, zone: ZoneInfo) -> str:
    """A time as the public reads it (institution time, to the minute); text (e.g. Withheld) as is."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def occurred_text(start: datetime | str | None, end: datetime | str | None, zone: ZoneInfo) -> str:
    """One time, or a range "A to B"; "Unknown" when neither end is known."""
    first, last = when_text(start, zone), when_text(end, zone)
    if first and last and first != last:
        return f"{first} to {last}"
    return first or last or "Unknown"
