"""The health report as one self-contained HTML page: an inline SVG timeline and tables."""

from __future__ import annotations

__all__ = ["CAUSE_COLOURS", "render_html"]

from collections.abc import Iterable
from datetime import datetime, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from vmsbridge.health.intervals import State, StateSpan
from vmsbridge.health.render.common import LOCATION_STATE_NAMES, minutes, natural_key
from vmsbridge.health.report import CameraReport, HealthReport

# Colour per cause family; the legend shows the ones present. Red shades: no picture; amber and
# violet: a picture that is not evidence-grade; greys: nobody was looking.
CAUSE_COLOURS: dict[str, str] = {
    "comm_lost": "#d62728",
    "signal_loss": "#8c1c13",
    "stream_lost": "#e377c2",
    "recording_stopped": "#f0a202",
    "tamper": "#9467bd",
    "vms_gap": "#7f98b3",
    "bridge_down": "#9e9e9e",
}
OTHER_COLOUR = "#444444"
UP_COLOUR = "#eaf6ea"
CAUSE_LABELS = {
    "comm_lost": "not responding (comm lost)",
    "signal_loss": "video signal lost",
    "stream_lost": "live stream lost (RTSP; the recorder has no video)",
    "recording_stopped": "VMS not recording",
    "tamper": "tampered view (covered, defocused, moved, frozen)",
    "vms_gap": "connector could not see the VMS (unknown)",
    "bridge_down": "bridge not running (unknown)",
}
LOCATION_ROW_COLOUR = "#d9ecd9"
# Above this many cameras the chart shows the location rows and only the cameras that had
# problems (it says so); a row per camera of a 5,000-camera site is 80,000 pixels tall.
MAX_CHART_CAMERAS = 300
MAX_HTML_ROWS = 2_000  # longer lists belong in the CSV/JSON export; the chart still shows everything
MAX_TOOLTIPS = 20_000  # per-bar hover text, only while the page stays small


def _family(cause: str) -> str:
    """``camera: tamper:covered`` -> ``tamper``."""
    name = cause.rsplit(": ", 1)[-1]
    return name.split(":", 1)[0]


def _lead_cause(span: StateSpan, states: dict[str, State]) -> str:
    """The family that gives the span its state (the most severe; ties by name)."""
    families = sorted({_family(c) for c in span.causes})
    return max(families, key=lambda f: states.get(f, State.DEGRADED).severity)


_FAMILY_STATE = {
    "comm_lost": State.DOWN,
    "signal_loss": State.DOWN,
    "stream_lost": State.DOWN,
    "recording_stopped": State.DEGRADED,
    "tamper": State.DEGRADED,
    "vms_gap": State.UNKNOWN,
    "bridge_down": State.UNKNOWN,
}


def _tick_step(seconds: float) -> timedelta:
    for step in (
        timedelta(minutes=15),
        timedelta(hours=1),
        timedelta(hours=3),
        timedelta(hours=6),
        timedelta(hours=12),
        timedelta(days=1),
        timedelta(days=2),
        timedelta(days=7),
    ):
        if seconds / step.total_seconds() <= 12:
            return step
    return timedelta(days=30)


def _ticks(start: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
    """Round local times (midnights, whole hours) spread over the window, at most about a dozen."""
    step = _tick_step((end - start).total_seconds())
    local = start.astimezone(zone)
    if step >= timedelta(days=1):
        first = local.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        first = local.replace(minute=0, second=0, microsecond=0)
    out: list[datetime] = []
    at = first
    while at < end.astimezone(zone):
        if at >= local:
            out.append(at)
        # Step in local wall time, so midnight stays midnight across a DST change.
        at = (at.replace(tzinfo=None) + step).replace(tzinfo=zone)
    return out


def _had_problems(camera: CameraReport) -> bool:
    """Down or degraded at some time (unknown alone is the bridge's or a connector's trouble)."""
    return any(span.state in (State.DOWN, State.DEGRADED) for span in camera.spans)


def _chart_rows(report: HealthReport) -> tuple[list[tuple[str, bool, list[StateSpan]]], int]:
    """(label, is a location row, spans) in chart order: each location's row (its uncovered time),
    then its cameras, both in natural order. Above ``MAX_CHART_CAMERAS`` cameras only those that
    had problems are drawn; returns the rows and how many cameras were left out."""
    by_location: dict[str, list[CameraReport]] = {}
    for camera in report.cameras:
        by_location.setdefault(camera.location_id, []).append(camera)
    large = len(report.cameras) > MAX_CHART_CAMERAS
    rows: list[tuple[str, bool, list[StateSpan]]] = []
    left_out = 0

    def add_cameras(cameras: list[CameraReport]) -> None:
        nonlocal left_out
        for camera in sorted(cameras, key=lambda c: natural_key(c.camera_id)):
            if large and not _had_problems(camera):
                left_out += 1
            else:
                rows.append((f"  {camera.camera_id}", False, camera.spans))

    for loc in sorted(report.locations, key=lambda loc: natural_key(loc.location_id)):
        spans = sorted([*loc.gaps, *loc.degraded, *loc.unknown], key=lambda s: s.start)
        rows.append((loc.location_id, True, spans))
        add_cameras(by_location.pop(loc.location_id, []))
    for location_id in sorted(by_location, key=natural_key):  # cameras of no reported location
        add_cameras(by_location[location_id])
    return rows, left_out


def _svg(report: HealthReport, zone: ZoneInfo) -> tuple[str, list[str], int]:
    start, end = report.window.start, report.window_end
    total = max((end - start).total_seconds(), 1.0)
    label_w, plot_w, row_h, top = 230, 960, 16, 28
    rows, left_out = _chart_rows(report)
    height = top + row_h * len(rows) + 8
    scale = plot_w / total
    tooltips = sum(len(spans) for _, _, spans in rows) <= MAX_TOOLTIPS
    still = _open_word(report)
    used: set[str] = set()
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + plot_w + 10}" height="{height}" '
        f'role="img" aria-label="camera health timeline" font-family="sans-serif" font-size="11">'
    ]
    for tick in _ticks(start, end, zone):
        x = label_w + (tick - start).total_seconds() * scale
        text = tick.strftime("%m-%d") if tick.hour == 0 and tick.minute == 0 else tick.strftime("%m-%d %H:%M")
        parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 8}" stroke="#ddd"/>')
        parts.append(f'<text x="{x:.1f}" y="{top - 8}" text-anchor="middle">{escape(text)}</text>')
    for row, (label, is_location, spans) in enumerate(rows):
        y = top + row * row_h
        # A location row has a darker band and a bold label; green-ish background: up / covered.
        fill = LOCATION_ROW_COLOUR if is_location else ("#f4fbf4" if row % 2 else UP_COLOUR)
        weight = ' font-weight="bold"' if is_location else ""
        parts.append(f'<rect x="{label_w}" y="{y}" width="{plot_w}" height="{row_h - 2}" fill="{fill}"/>')
        parts.append(
            f'<text x="{label_w - 6}" y="{y + row_h - 5}" text-anchor="end"{weight} xml:space="preserve">'
            f"{escape(label)}</text>"
        )
        bars: list[list[Any]] = []  # [x0, x1, family, title, state, open]
        for span in spans:
            family = _lead_cause(span, _FAMILY_STATE)
            used.add(family)
            x0 = (span.start - start).total_seconds() * scale
            x1 = max(((span.end or end) - start).total_seconds() * scale, x0 + 1.0)  # visible at any zoom
            title = ""
            if tooltips:
                shown_end = still if span.end is None else f"{span.end.astimezone(zone):%m-%d %H:%M}"
                shown = LOCATION_STATE_NAMES[span.state] if is_location else span.state.value
                title = (
                    f"{shown}: {', '.join(sorted(span.causes))} "
                    f"{span.start.astimezone(zone):%m-%d %H:%M} - {shown_end}"
                )
            # Neighbours closer than a pixel with the same colour are one bar to the eye anyway.
            if bars and bars[-1][2] == family and x0 - bars[-1][1] < 1.0 and not tooltips:
                bars[-1][1] = max(bars[-1][1], x1)
                bars[-1][5] = bars[-1][5] or span.end is None
            else:
                bars.append([x0, x1, family, title, span.state, span.end is None])
        for x0, x1, family, title, state, is_open in bars:
            colour = CAUSE_COLOURS.get(family, OTHER_COLOUR)
            # Location rows: degraded coverage drawn as a thinner bar, so a real gap stands out.
            h, dy = (row_h - 2, 0)
            if is_location and state is State.DEGRADED:
                h, dy = (row_h - 2) // 2, (row_h - 2) // 4
            rect = (
                f'<rect x="{label_w + x0:.1f}" y="{y + dy}" width="{x1 - x0:.1f}" height="{h}" '
                f'fill="{colour}"'
            )
            parts.append(f"{rect}><title>{escape(title)}</title></rect>" if title else f"{rect}/>")
            if is_open:  # not ended by the window's end: an arrow head past the bar's end
                tip = label_w + x1
                parts.append(
                    f'<polygon class="open" points="{tip:.1f},{y} {tip + 6:.1f},{y + (row_h - 2) / 2:.1f} '
                    f'{tip:.1f},{y + row_h - 2}" fill="#222"><title>{escape(still)}</title></polygon>'
                )
    parts.append("</svg>")
    return "".join(parts), sorted(used), left_out


def _local(value: datetime | None, zone: ZoneInfo, still: str = "open") -> str:
    return still if value is None else value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def _open_word(report: HealthReport) -> str:
    """How an interval not ended by the window's end reads: the window ends now, or in the past."""
    return "ongoing" if report.window_end >= report.generated_at else "open at window end"


def _table(headers: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape('' if v is None else str(v))}</td>" for v in r) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: HealthReport) -> str:
    zone = ZoneInfo(report.timezone)
    until = report.window_end
    still = _open_word(report)
    chart, families, left_out = _svg(report, zone)
    chart_note = (
        "One bold row per location (its coverage: full-height bars are gaps, thin bars degraded "
        f"coverage), then its cameras. A black arrow head after a bar: {still} (not ended by the "
        "window's end)."
    )
    if left_out:
        chart_note += (
            f" {len(report.cameras)} cameras: only the {len(report.cameras) - left_out} that were down or "
            f"degraded at some time are drawn ({left_out} without trouble left out; every camera is in "
            "the tables below)."
        )
    legend = "".join(
        f'<span class="key"><span class="swatch" style="background:{CAUSE_COLOURS.get(f, OTHER_COLOUR)}">'
        f"</span>{escape(CAUSE_LABELS.get(f, f))}</span>"
        for f in families
    )
    legend = legend or "no trouble in this window"
    locations = _table(
        ["Location", "Clery geography", "Cameras", "Gap minutes", "Degraded minutes", "Unknown minutes"],
        (
            [
                f"{loc.name} ({loc.location_id})",
                loc.clery_geography,
                ", ".join(loc.camera_ids),
                loc.gap_minutes,
                loc.degraded_minutes,
                loc.unknown_minutes,
            ]
            for loc in report.locations
        ),
    )
    gap_rows = [
        [
            loc.location_id,
            LOCATION_STATE_NAMES[s.state],
            _local(s.start, zone),
            _local(s.end, zone, still),
            minutes(s, until),
            "; ".join(sorted(s.causes)),
        ]
        for loc in report.locations
        for s in sorted([*loc.gaps, *loc.degraded, *loc.unknown], key=lambda s: s.start)
    ]
    incidents = _table(
        ["Incident", "Location", "Started", "Last event", "Priority", "Summary", "Coverage", "Why"],
        (
            [
                i.incident_id,
                i.location_id,
                _local(i.started_at, zone),
                _local(i.last_event_at, zone),
                i.priority,
                i.summary or "(withheld: victim-sensitive)",
                ", ".join(sorted({LOCATION_STATE_NAMES[o.state] for o in i.overlaps})),
                "; ".join(sorted({c for o in i.overlaps for c in o.causes})),
            ]
            for i in report.incidents
        ),
    )
    cameras = _table(
        ["Camera", "Name", "Location", "Uptime % (of known time)", "Down min", "Degraded min", "Unknown min"],
        (
            [
                c.camera_id,
                c.name,
                c.location_id,
                "n/a" if c.uptime_pct is None else f"{c.uptime_pct:.2f}",
                round(c.down_seconds / 60, 1),
                round(c.degraded_seconds / 60, 1),
                round(c.unknown_seconds / 60, 1),
            ]
            for c in report.cameras
        ),
    )
    interval_rows = [
        [
            c.camera_id,
            s.state.value,
            _local(s.start, zone),
            _local(s.end, zone, still),
            minutes(s, until),
            "; ".join(sorted(s.causes)),
        ]
        for c in report.cameras
        for s in c.spans
    ]
    title = f"Camera health: {report.site_name}"
    window = f"{_local(report.window.start, zone)} to {_local(report.window.end, zone)} ({report.timezone})"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 7px; text-align: left; }}
th {{ background: #f0f0f0; }}
.key {{ margin-right: 1.2em; white-space: nowrap; }}
.swatch {{ display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: middle; }}
.note {{ color: #666; font-size: 13px; }}
</style></head><body>
<h1>{escape(title)}</h1>
<p>{escape(window)}; generated {escape(_local(report.generated_at, zone))}.
Uptime counts only known time; unknown time (bridge not running, connector gap) is shown separately.</p>
<h2>Timeline</h2>
<p class="legend"><span class="key"><span class="swatch" style="background:{UP_COLOUR}"></span>up</span>
{legend}</p>
<p class="note">{escape(chart_note)}</p>
{chart}
<h2>Coverage gaps by location</h2>
{locations}
{_capped(["Location", "Coverage", "From", "To", "Minutes", "Causes"], gap_rows)}
<h2>Incidents in uncovered time</h2>
{incidents if report.incidents else '<p class="note">none</p>'}
<h2>Cameras</h2>
{cameras}
<h2>Camera trouble intervals</h2>
{_capped(["Camera", "State", "From", "To", "Minutes", "Causes"], interval_rows)}
<p class="note">Locations without cameras: {escape(", ".join(report.locations_without_cameras) or "none")}</p>
</body></html>
"""


def _capped(headers: list[str], rows: list[list[Any]]) -> str:
    if not rows:
        return '<p class="note">none</p>'
    table = _table(headers, rows[:MAX_HTML_ROWS])
    if len(rows) > MAX_HTML_ROWS:
        more = len(rows) - MAX_HTML_ROWS
        table += f'<p class="note">{more} more rows: see the CSV or JSON export.</p>'
    return table
