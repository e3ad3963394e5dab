"""How the bridge writes its log: device text cannot forge lines, and libraries cannot leak data.

Devices choose much of what gets logged (ONVIF topics, source names, XProtect fields, device ids,
rejection reasons that repeat raw input). :class:`SafeFormatter` escapes control characters in
each record's line, so a newline in a device string cannot start a forged log line and an escape
sequence cannot reach the terminal; a traceback keeps its own lines, each indented, so only a
record's first line starts at the margin.

Some libraries log data at DEBUG: zeep whole SOAP envelopes (digests, nonces, the personal data
in events), aiosqlite every database call with its parameters (names of people, on SQLite).
:data:`LIBRARY_FLOORS` keeps them above that whatever level is configured. (SQLAlchemy keeps its own
loggers at WARNING unless told otherwise, and its engines hide parameters, see
:mod:`vmsbridge.store.db_errors`.)
"""

from __future__ import annotations

__all__ = ["FORMAT", "LIBRARY_FLOORS", "SafeFormatter", "configure", "escape_controls", "quiet_libraries"]

import logging
import re
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONTINUATION = "    "  # every line of a record after its first (tracebacks)

LIBRARY_FLOORS: dict[str, int] = {
    "zeep": logging.INFO,
    "onvif": logging.INFO,
    "httpx": logging.INFO,
    "aiosqlite": logging.INFO,  # every call with its parameters at DEBUG
}

# C0 and C1 controls and DEL (newline, carriage return, ESC, NUL ...), the Unicode line and
# paragraph separators, the bidirectional overrides and isolates (which reorder what a reader
# sees), and lone surrogates (which a UTF-8 stream cannot write).
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(match.group(0))
    if named:
        return named
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control character written as a visible escape (``\\n``, ``\\x1b``...)."""
    return _CONTROLS.sub(_escaped, text)


class SafeFormatter(logging.Formatter):
    """One line per record, control characters escaped; tracebacks follow, indented."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        lines = [escape_controls(self.formatMessage(record))]
        trace = record.exc_text or (self.formatException(record.exc_info) if record.exc_info else "")
        for block in (trace, self.formatStack(record.stack_info) if record.stack_info else ""):
            if block:
                lines += (CONTINUATION + escape_controls(line) for line in block.rstrip("\n").split("\n"))
        return "\n".join(lines)


def quiet_libraries(root_level: int) -> dict[str, int]:
    """Raise the chatty libraries' loggers to their floors; returns their previous levels."""
    previous = {}
    for name, floor in LIBRARY_FLOORS.items():
        logger = logging.getLogger(name)
        previous[name] = logger.level
        logger.setLevel(max(root_level, floor))
    return previous


def configure(level: str, stream: TextIO) -> None:
    """The command line's logging: records at ``level`` and above to ``stream``, one line each."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SafeFormatter(FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
    quiet_libraries(logging.getLogger().level)
