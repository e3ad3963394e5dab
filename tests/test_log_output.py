"""Log lines: a device string cannot forge a log line or reach the terminal as an escape sequence."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from vmsbridge.log_output import CONTINUATION, FORMAT, SafeFormatter, escape_controls

FORGERY = "cam-7\n2026-01-01 CRITICAL forged: all cameras disabled\x1b[2J\x00"


def record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("connectors.onvif", logging.WARNING, __file__, 1, message, args, exc_info)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\nb", "a\\nb"),
        ("a\r\nb", "a\\r\\nb"),
        ("\x1b[2J", "\\x1b[2J"),
        ("nul\x00", "nul\\x00"),
        ("tab\there", "tab\\there"),
        ("\x9b31m", "\\x9b31m"),  # the one-byte C1 form of ESC [
        ("\x7f", "\\x7f"),
        ("line\u2028sep", "line\\u2028sep"),
        ("\u202egnp.exe", "\\u202egnp.exe"),  # right-to-left override
        ("lone \udfff", "lone \\udfff"),  # a UTF-8 stream could not even write it
        ("Zoë Li, café, 東京", "Zoë Li, café, 東京"),  # text is text
    ],
)
def test_control_characters_are_shown_as_escapes(raw: str, shown: str) -> None:
    assert escape_controls(raw) == shown


def test_a_device_string_stays_on_its_own_line() -> None:
    text = SafeFormatter(FORMAT).format(record("unknown topic %s from %s", "tns1:X", FORGERY))
    assert "\n" not in text
    assert "\x1b" not in text
    assert "\x00" not in text
    assert text.endswith("cam-7\\n2026-01-01 CRITICAL forged: all cameras disabled\\x1b[2J\\x00")


def test_a_traceback_keeps_its_lines_but_none_starts_at_the_margin() -> None:
    try:
        raise ValueError(f"bad source {FORGERY}")
    except ValueError as exc:
        text = SafeFormatter(FORMAT).format(record("parsing failed for %s", FORGERY, exc=exc))
    first, *rest = text.split("\n")
    assert first.endswith(
        "parsing failed for cam-7\\n2026-01-01 CRITICAL forged: all cameras disabled\\x1b[2J\\x00"
    )
    assert rest[0] == CONTINUATION + "Traceback (most recent call last):"
    assert rest[-2] == CONTINUATION + "ValueError: bad source cam-7"
    assert rest[-1] == CONTINUATION + "2026-01-01 CRITICAL forged: all cameras disabled\\x1b[2J\\x00"
    assert all(line.startswith(CONTINUATION) for line in rest)
    assert "\x1b" not in text
    assert "\x00" not in text


def test_the_command_line_writes_a_rejected_device_string_escaped(tmp_path: Path) -> None:
    """A rejected event is logged with its source and the reason (which repeats the device id)."""
    payload = {
        "source": f"onvif:{FORGERY}",
        "native_id": "1",
        "kind": "motion.start",
        "device_id": FORGERY,
        "occurred_at": "2026-11-20T22:00:00+00:00",
    }
    stream = tmp_path / "events.jsonl"
    stream.write_text(json.dumps(payload) + "\n")
    db = f"sqlite:///{tmp_path / 'log.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "vmsbridge", "events", "import", str(stream), "--db", db],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr  # the line was rejected
    logged = [line for line in done.stderr.splitlines() if " WARNING " in line]
    assert logged, done.stderr  # the rejection was logged
    assert "CRITICAL forged" in logged[0]  # on the rejection's own line
    assert not any(line.startswith("2026-01-01") for line in done.stderr.splitlines())
    assert "\x1b" not in done.stderr
    assert "\x00" not in done.stderr
