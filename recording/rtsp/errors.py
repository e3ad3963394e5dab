"""What can go wrong talking RTSP, as exceptions that also speak builtin (a timeout is a TimeoutError)."""

from __future__ import annotations

__all__ = [
    "RtspAuthError",
    "RtspConnectError",
    "RtspError",
    "RtspNotFound",
    "RtspOptionNotSupported",
    "RtspProtocolError",
    "RtspStatusError",
    "RtspStreamEnded",
    "RtspTimeout",
    "RtspUrlError",
]


class RtspError(Exception):
    """Any failure of an RTSP session; the message names the URL (never its password)."""


class RtspConnectError(RtspError, ConnectionError):
    """The server could not be reached (refused, unknown host, reset before an answer)."""


class RtspTimeout(RtspError, TimeoutError):
    """The server did not answer or stopped sending within the time limit."""


class RtspProtocolError(RtspError, ValueError):
    """The server sent something that is not RTSP/RTP as specified (malformed, oversized, unsupported)."""


class RtspStatusError(RtspError):
    """The server answered a request with a status other than 2xx."""

    def __init__(self, message: str, *, method: str, status: int, reason: str) -> None:
        super().__init__(message)
        self.method = method
        self.status = status
        self.reason = reason


class RtspAuthError(RtspStatusError, PermissionError):
    """The server refused the credentials (or demanded some and none were given)."""


class RtspNotFound(RtspStatusError, FileNotFoundError):
    """The server has no such stream (404)."""


class RtspOptionNotSupported(RtspStatusError):
    """The server does not support a ``Require:`` option (551), e.g. ``onvif-replay``."""


class RtspStreamEnded(RtspError):
    """The server closed the connection or sent nothing usable before the wanted media arrived."""


class RtspUrlError(RtspError, ValueError):
    """The URL is not ``rtsp://[user[:password]@]host[:port]/path``."""
