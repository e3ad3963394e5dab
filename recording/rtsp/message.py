"""RTSP/1.0 requests and responses on the wire (RFC 2326 section 6-7), with size limits on everything read.

RTSP looks like HTTP/1.1 but is not HTTP (its own version token, interleaved ``$`` frames on the same
connection), so it is parsed here rather than with an HTTP library.
"""

from __future__ import annotations

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_HEADER_BYTES",
    "Headers",
    "RtspResponse",
    "format_request",
    "parse_response_head",
]

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from recording.rtsp.errors import RtspProtocolError

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 256 * 1024


class Headers(Mapping[str, str]):
    """Header fields, looked up case-insensitively; a repeated field keeps every value (joined by ``, ``)."""

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        self._fields: dict[str, tuple[str, str]] = {}
        self._all: dict[str, list[str]] = {}
        for name, value in fields:
            key = name.lower()
            self._all.setdefault(key, []).append(value)
            self._fields[key] = (name, ", ".join(self._all[key]))

    def __getitem__(self, name: str) -> str:
        return self._fields[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._fields.values())

    def __len__(self) -> int:
        return len(self._fields)

    def get_all(self, name: str) -> list[str]:
        return list(self._all.get(name.lower(), []))


@dataclass(frozen=True)
class RtspResponse:
    status: int
    reason: str
    headers: Headers
    body: bytes = b""

    @property
    def cseq(self) -> int | None:
        value = self.headers.get("CSeq")
        return int(value) if value is not None and value.strip().isdigit() else None


def format_request(method: str, url: str, headers: Mapping[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {url} RTSP/1.0"]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


def parse_response_head(head: bytes) -> tuple[int, str, Headers, int]:
    """Status, reason, headers and Content-Length of a response head (ending with an empty line)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise RtspProtocolError("RTSP response head is not UTF-8 text") from None
    lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
    status_line = lines[0]
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("RTSP/") or not parts[1].isdigit() or len(parts[1]) != 3:
        raise RtspProtocolError(
            f"RTSP status line must look like 'RTSP/1.0 200 OK', got {status_line[:80]!r}"
        )
    fields: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or name != name.strip():
            raise RtspProtocolError(f"RTSP header line must be 'Name: value', got {line[:80]!r}")
        fields.append((name, value.strip()))
    headers = Headers(fields)
    length_text = headers.get("Content-Length", "0").strip()
    if not length_text.isdigit():
        raise RtspProtocolError(f"RTSP Content-Length must be a number, got {length_text[:40]!r}")
    length = int(length_text)
    if length > MAX_BODY_BYTES:
        raise RtspProtocolError(
            f"RTSP response body of {length} bytes is over the limit of {MAX_BODY_BYTES} bytes"
        )
    return int(parts[1]), parts[2] if len(parts) > 2 else "", headers, length
