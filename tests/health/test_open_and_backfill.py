"""An interval still going on at the window's end is shown open in every format, and
down evidence recorded while the bridge was not running counts as down (uptime, gaps, incidents)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

from vmsbridge.config import SiteConfig
from vmsbridge.health.intervals import Interval
from vmsbridge.health.render import render_csv, render_html, report_dict, write_json
from vmsbridge.health.report import HealthReport, build_report
from vmsbridge.health.timeline import Topology, build_timelines, camera_timeline
from vmsbridge.model import EventKind, Incident, IncidentStatus, Priority, StoredEvent

K = EventKind
T0 = datetime(2026, 11, 20, tzinfo=UTC)


def m(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


SITE = SiteConfig.model_validate(
    {
        "site": {"name": "Open U", "timezone": "UTC"},
        "locations": [
            {"id": "gate", "name": "Gate", "clery_geography": "on_campus", "public_label": "G"},
            {"id": "yard", "name": "Yard", "clery_geography": "on_campus", "public_label": "Y"},
        ],
        "cameras": [
            {
                "id": "cam-gate",
                "name": "Gate",
                "location": "gate",
                "source": {"connector": "enc", "profile": "P1"},
            },
            {
                "id": "cam-yard",
                "name": "Yard",
                "location": "yard",
                "source": {"connector": "enc", "profile": "P2"},
            },
        ],
    }
)
_ids = iter(range(1, 1_000_000))


def ev(kind: EventKind, at: float, camera: str, *, received: float | None = None) -> StoredEvent:
    n = next(_ids)
    occurred, got = m(at), m(at if received is None else received)
    return StoredEvent(n, "onvif:enc", f"n{n}", kind, camera, "", occurred, got)


def open_outage_report(generated: float) -> HealthReport:
    """cam-gate down 10..20 (closed) and again from 30, never restored; window [0, 60)."""
    window = Interval(m(0), m(60))
    events = [
        ev(K.CAMERA_COMM_LOST, 10, "cam-gate"),
        ev(K.CAMERA_COMM_RESTORED, 20, "cam-gate"),
        ev(K.CAMERA_COMM_LOST, 30, "cam-gate"),
    ]
    timelines = {
        c.id: camera_timeline(c.id, [e for e in events if e.device_id == c.id], window) for c in SITE.cameras
    }
    return build_report(SITE, timelines, [], window, m(generated))


def test_an_outage_still_going_on_is_open_in_json() -> None:
    report = open_outage_report(60)
    doc = report_dict(report)
    [gate] = [c for c in doc["cameras"] if c["id"] == "cam-gate"]
    closed, still = gate["intervals"]
    assert (closed["end"], closed["open"], closed["counted_until"]) == (
        m(20).isoformat(),
        False,
        m(20).isoformat(),
    )
    assert (still["start"], still["end"], still["open"]) == (m(30).isoformat(), None, True)
    assert (still["counted_until"], still["minutes"]) == (m(60).isoformat(), 30.0)
    assert gate["down_minutes"] == 40.0
    assert [(e["end"], e["open"], e["closed_by_event"]) for e in gate["evidence"]][-1] == (None, True, None)
    [place] = [loc for loc in doc["locations"] if loc["id"] == "gate"]
    assert [(g["end"], g["open"]) for g in place["gaps"]] == [(m(20).isoformat(), False), (None, True)]
    assert place["gap_minutes"] == 40.0
    # The streamed document says the same.
    out = io.StringIO()
    write_json(report, out)
    assert json.loads(out.getvalue()) == json.loads(json.dumps(doc))


def test_an_outage_still_going_on_is_open_in_csv() -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(open_outage_report(60)))))
    intervals = [r for r in rows if r["section"] == "interval"]
    assert [(r["end"], r["open"], r["counted_until"], r["minutes"]) for r in intervals] == [
        (m(20).isoformat(), "false", m(20).isoformat(), "10.0"),
        ("", "true", m(60).isoformat(), "30.0"),
    ]
    gaps = [r for r in rows if r["section"] == "location_gap"]
    assert [(r["location"], r["state"], r["end"], r["open"]) for r in gaps] == [
        ("gate", "gap", m(20).isoformat(), "false"),
        ("gate", "gap", "", "true"),
    ]


def test_an_outage_still_going_on_is_marked_in_html() -> None:
    page = render_html(open_outage_report(60))
    assert page.count('class="open"') == 2  # the camera's bar and its location's gap
    assert "00:30 - ongoing" in page  # the bar's tooltip
    assert "<td>ongoing</td>" in page  # the interval and gap tables
    assert "<td>open</td>" not in page
    # A past window (the report is made later): open at the window's end, not "ongoing".
    later = render_html(open_outage_report(90))
    assert "<td>open at window end</td>" in later
    assert "ongoing" not in later


def test_down_evidence_during_a_bridge_outage_counts_as_down_and_as_a_gap() -> None:
    # The bridge ran 0..60 and runs again from 120. A loss and its restore at 70..80 were
    # imported at 100 (`events import`), while it was not running.
    sessions = [Interval(m(0), m(60)), Interval(m(120), None)]
    events = [
        ev(K.CAMERA_COMM_LOST, 70, "cam-gate", received=100),
        ev(K.CAMERA_COMM_RESTORED, 80, "cam-gate", received=100),
    ]
    window = Interval(m(0), m(180))
    timelines = build_timelines(events, Topology.from_site(SITE), window, sessions=sessions)
    incident = Incident(
        7, "gate", IncidentStatus.OPEN, Priority.MEDIUM, "Camera not responding", m(70), m(80), "rule:x"
    )
    doc = report_dict(build_report(SITE, timelines, [incident], window, m(180)))
    [gate] = [c for c in doc["cameras"] if c["id"] == "cam-gate"]
    assert [(i["state"], i["causes"]) for i in gate["intervals"]] == [
        ("unknown", ["bridge_down"]),
        ("down", ["bridge_down", "comm_lost"]),
        ("unknown", ["bridge_down"]),
    ]
    # Uptime = up / known time, known = window - unknown: 120 min up, 10 down, 50 unknown.
    assert (gate["up_minutes"], gate["down_minutes"], gate["unknown_minutes"]) == (120.0, 10.0, 50.0)
    assert gate["uptime_pct"] == round(100 * 120 / 130, 3)
    [place] = [loc for loc in doc["locations"] if loc["id"] == "gate"]
    assert (place["gap_minutes"], place["unknown_minutes"]) == (10.0, 50.0)
    [flagged] = doc["incidents_in_gaps"]
    assert flagged["in_gap"] is True
    # Only the gap: not the zero-length meeting with the unknown time that begins at its last event.
    assert [(o["state"], o["start"], o["end"]) for o in flagged["overlaps"]] == [
        ("gap", m(70).isoformat(), m(80).isoformat())
    ]
    # The yard camera has no evidence: the outage is unknown for it, never up and never a gap.
    [yard] = [c for c in doc["cameras"] if c["id"] == "cam-yard"]
    assert (yard["up_minutes"], yard["unknown_minutes"], yard["uptime_pct"]) == (120.0, 60.0, 100.0)
