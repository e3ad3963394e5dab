"""Opening a live RTSP stream with PyAV's FFmpeg demuxer, and what can go wrong doing so.

Interleaved over the RTSP TCP connection (``rtsp_transport=tcp``): no UDP ports to open in firewalls, and
no packet loss on busy networks. Basic and Digest credentials come in the URL (``rtsp://user:pass@host/``);
FFmpeg answers whichever challenge the server sends. Every call here blocks: callers run it in a thread.
"""

from __future__ import annotations

__all__ = [
    "AuthRefused",
    "LiveStream",
    "RecordingError",
    "StreamNotFound",
    "StreamStopped",
    "StreamUnreachable",
    "open_live",
    "redact_url",
]

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import av
import av.error

#: Codecs kept as received; anything else is refused rather than silently transcoded.
SUPPORTED_CODECS = frozenset({"h264", "hevc"})


class RecordingError(Exception):
    """A live stream could not be opened or read; the message is fit for an operator (no secrets)."""


class StreamUnreachable(RecordingError, ConnectionError):
    """Nothing answers at the address, or the connection timed out."""


class AuthRefused(RecordingError, PermissionError):
    """The server refused the credentials (or none were given and it wants some)."""


class StreamNotFound(RecordingError, LookupError):
    """The server answers but has no such stream, or the stream carries no video we keep."""


class StreamStopped(RecordingError):
    """The stream ended or went silent longer than the read timeout."""


def redact_url(url: str) -> str:
    """The URL with its password replaced, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("rtsp", "rtsps") or not parts.hostname:
        raise StreamNotFound(
            f"{redact_url(url)}: not an RTSP URL (expected rtsp://[user:pass@]host[:port]/path)"
        )


@dataclass
class LiveStream:
    """An open live stream: the container and its one video stream. Close it when done."""

    url: str
    container: Any
    video: Any

    @property
    def codec(self) -> str:
        return str(self.video.codec_context.name)

    def packets(self) -> Iterator[Any]:
        """The video packets as received; raises :class:`StreamStopped` when the stream ends or stalls."""
        try:
            for packet in self.container.demux(self.video):
                if packet.size == 0:  # the demuxer's end-of-stream marker
                    break
                yield packet
        except (av.error.ExitError, av.error.EOFError, OSError) as exc:
            raise StreamStopped(f"{redact_url(self.url)}: stream stopped ({_reason(exc)})") from None
        raise StreamStopped(f"{redact_url(self.url)}: stream ended")

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> LiveStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or type(exc).__name__


def open_live(url: str, *, open_timeout: float = 10.0, read_timeout: float = 10.0) -> LiveStream:
    """Connect, authenticate and find the video stream; raise a :class:`RecordingError` saying why not.

    ``read_timeout`` bounds every later read too: a stream silent that long counts as stopped.
    """
    _check_url(url)
    shown = redact_url(url)
    options = {
        "rtsp_transport": "tcp",
        # FFmpeg's socket I/O timeout, in microseconds: a server that accepts and then says nothing.
        "timeout": str(int(read_timeout * 1_000_000)),
    }
    try:
        container = av.open(url, options=options, timeout=(open_timeout, read_timeout))
    except (av.error.HTTPUnauthorizedError, av.error.HTTPForbiddenError) as exc:
        raise AuthRefused(f"{shown}: the server refused the credentials ({_reason(exc)})") from None
    except (av.error.HTTPNotFoundError, av.error.HTTPClientError) as exc:
        raise StreamNotFound(f"{shown}: no such stream ({_reason(exc)})") from None
    except av.error.InvalidDataError as exc:
        raise StreamNotFound(
            f"{shown}: the server's answer is not a stream we can read ({_reason(exc)})"
        ) from None
    except av.error.HTTPServerError as exc:  # the server is there but failing: worth trying again later
        raise StreamUnreachable(f"{shown}: the server failed ({_reason(exc)})") from None
    except (av.error.FFmpegError, OSError) as exc:  # refused, timed out, reset, unresolvable host
        raise StreamUnreachable(f"{shown}: cannot connect ({_reason(exc)})") from None
    videos = [s for s in container.streams if s.type == "video"]
    if not videos:
        container.close()
        raise StreamNotFound(f"{shown}: the stream carries no video")
    video = videos[0]
    if video.codec_context.name not in SUPPORTED_CODECS:
        container.close()
        raise StreamNotFound(
            f"{shown}: video codec {video.codec_context.name!r} is not kept (expected H.264 or H.265)"
        )
    return LiveStream(url=url, container=container, video=video)
