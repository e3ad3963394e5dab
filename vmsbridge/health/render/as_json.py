"""The health report as JSON: a plain dict, or written one camera at a time."""

from __future__ import annotations

__all__ = ["report_dict", "write_json"]

import json
from datetime import datetime
from typing import Any, TextIO

from vmsbridge.health.render.common import iso, span_dict
from vmsbridge.health.report import CameraReport, HealthReport


def report_dict(report: HealthReport) -> dict[str, Any]:
    return {
        **_head(report),
        "cameras": [_camera_dict(c, report.window_end) for c in report.cameras],
        **_tail(report),
    }


def write_json(report: HealthReport, out: TextIO) -> None:
    """The same document as ``json.dumps(report_dict(report))``, one camera at a time: a month of a
    large campus is hundreds of megabytes, and only one camera's part is ever in memory."""
    until = report.window_end
    head = json.dumps(_head(report))
    out.write(head[:-1] + ', "cameras": [')
    for n, camera in enumerate(report.cameras):
        out.write((", " if n else "") + json.dumps(_camera_dict(camera, until)))
    out.write("], " + json.dumps(_tail(report))[1:] + "\n")


def _head(report: HealthReport) -> dict[str, Any]:
    return {
        "site": report.site_name,
        "timezone": report.timezone,
        "from": iso(report.window.start),
        "to": iso(report.window.end),
        "generated_at": iso(report.generated_at),
    }


def _camera_dict(c: CameraReport, until: datetime) -> dict[str, Any]:
    return {
        "id": c.camera_id,
        "name": c.name,
        "location": c.location_id,
        "uptime_pct": c.uptime_pct,
        "up_minutes": round(c.up_seconds / 60.0, 3),
        "down_minutes": round(c.down_seconds / 60.0, 3),
        "degraded_minutes": round(c.degraded_seconds / 60.0, 3),
        "unknown_minutes": round(c.unknown_seconds / 60.0, 3),
        "intervals": [span_dict(s, until) for s in c.spans],
        "evidence": [
            {
                "cause": e.cause,
                "state": e.state.value,
                "start": iso(e.start),
                "end": iso(e.end),
                "open": e.end is None,
                "opened_by_event": e.opened_by,
                "closed_by_event": e.closed_by,
                "detail": e.detail,
            }
            for e in c.causes
        ],
    }


def _tail(report: HealthReport) -> dict[str, Any]:
    until = report.window_end
    return {
        "locations": [
            {
                "id": loc.location_id,
                "name": loc.name,
                "clery_geography": loc.clery_geography,
                "cameras": loc.camera_ids,
                "gap_minutes": loc.gap_minutes,
                "degraded_minutes": loc.degraded_minutes,
                "unknown_minutes": loc.unknown_minutes,
                "gaps": [span_dict(s, until, location=True) for s in loc.gaps],
                "degraded": [span_dict(s, until, location=True) for s in loc.degraded],
                "unknown": [span_dict(s, until, location=True) for s in loc.unknown],
            }
            for loc in report.locations
        ],
        "incidents_in_gaps": [
            {
                "incident": i.incident_id,
                "location": i.location_id,
                "started_at": iso(i.started_at),
                "last_event_at": iso(i.last_event_at),
                "priority": i.priority,
                "summary": i.summary,
                "in_gap": i.in_gap,
                "overlaps": [span_dict(s, until, location=True) for s in i.overlaps],
            }
            for i in report.incidents
        ],
        "locations_without_cameras": report.locations_without_cameras,
    }
