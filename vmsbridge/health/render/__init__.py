"""The health report as JSON (a plain dict), CSV, or one self-contained HTML page.

An interval that had not ended by the window's end is *open*: JSON ``"end": null`` and
``"open": true``, CSV ``open`` = ``true`` and an empty ``end``, HTML "ongoing" (the window ends now)
or "open at window end" (a past window), and a ▸ at the end of its bar. ``counted_until`` (JSON and
CSV) is the time its ``minutes`` are counted to: its end, or the window's end while open.

The HTML page needs nothing else: an inline SVG timeline (one row per camera, trouble coloured by
cause, a legend, axis labels in the site's time zone) and tables; no script, no external asset.
Every text that comes from configuration or events is escaped.
"""

from __future__ import annotations

__all__ = [
    "CAUSE_COLOURS",
    "CSV_COLUMNS",
    "LOCATION_STATE_NAMES",
    "natural_key",
    "render_csv",
    "render_html",
    "report_dict",
    "write_json",
]

from vmsbridge.health.render.as_csv import CSV_COLUMNS, render_csv
from vmsbridge.health.render.as_html import CAUSE_COLOURS, render_html
from vmsbridge.health.render.as_json import report_dict, write_json
from vmsbridge.health.render.common import LOCATION_STATE_NAMES, natural_key
