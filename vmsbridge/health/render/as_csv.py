"""The health report as one CSV table."""

from __future__ import annotations

__all__ = ["CSV_COLUMNS", "render_csv"]

import csv
import io
from datetime import datetime
from typing import Any

from vmsbridge.health.intervals import StateSpan
from vmsbridge.health.render.common import iso, span_dict
from vmsbridge.health.report import HealthReport

CSV_COLUMNS = [
    "section",
    "camera",
    "location",
    "incident",
    "state",
    "start",
    "end",
    "open",
    "counted_until",
    "minutes",
    "uptime_pct",
    "up_minutes",
    "down_minutes",
    "degraded_minutes",
    "unknown_minutes",
    "causes",
    "gap_minutes",
]


def render_csv(report: HealthReport) -> str:
    """One table: a ``camera`` summary row per camera and a ``location`` one per location (its total
    gap, degraded and unknown minutes over the window), then ``interval``, ``location_gap`` and
    ``incident`` rows (times ISO 8601 UTC; causes joined with ``; ``). An interval not ended by the
    window's end has an empty ``end`` and ``open`` = ``true``; ``counted_until`` is what its
    ``minutes`` count to."""
    until = report.window_end
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    window = {"start": iso(report.window.start), "end": iso(report.window.end)}

    def row(**values: Any) -> None:
        writer.writerow({k: ("" if v is None else v) for k, v in values.items()})

    for cam in report.cameras:
        row(
            section="camera",
            camera=cam.camera_id,
            location=cam.location_id,
            uptime_pct=cam.uptime_pct,
            up_minutes=round(cam.up_seconds / 60.0, 3),
            down_minutes=round(cam.down_seconds / 60.0, 3),
            degraded_minutes=round(cam.degraded_seconds / 60.0, 3),
            unknown_minutes=round(cam.unknown_seconds / 60.0, 3),
            **window,
        )
    for loc in report.locations:
        row(
            section="location",
            location=loc.location_id,
            gap_minutes=loc.gap_minutes,
            degraded_minutes=loc.degraded_minutes,
            unknown_minutes=loc.unknown_minutes,
            **window,
        )
    for cam in report.cameras:
        for span in cam.spans:
            row(section="interval", camera=cam.camera_id, location=cam.location_id, **_csv_span(span, until))
    for loc in report.locations:
        for span in sorted([*loc.gaps, *loc.degraded, *loc.unknown], key=lambda s: s.start):
            row(section="location_gap", location=loc.location_id, **_csv_span(span, until, location=True))
    for inc in report.incidents:
        for span in inc.overlaps:
            row(
                section="incident",
                location=inc.location_id,
                incident=inc.incident_id,
                **_csv_span(span, until, location=True),
            )
    return out.getvalue()


def _csv_span(span: StateSpan, until: datetime, *, location: bool = False) -> dict[str, Any]:
    data = span_dict(span, until, location=location)
    data["causes"] = "; ".join(data["causes"])
    data["open"] = "true" if data["open"] else "false"
    return data
