"""XProtect connector errors; each names the gateway it concerns."""

from __future__ import annotations

__all__ = ["ApiError", "AuthenticationFailed", "GatewayUnreachable", "ProtocolError", "XProtectError"]

from vmsbridge.errors import ConnectorError


class XProtectError(ConnectorError):
    def __init__(self, gateway: str, message: str) -> None:
        self.gateway = gateway
        super().__init__(f"XProtect {gateway}: {message}")


class GatewayUnreachable(XProtectError, ConnectionError):
    """No answer, a dropped connection, or a timeout."""


class AuthenticationFailed(XProtectError):
    """The IDP refused the credentials, or a fresh token was refused too."""


class ApiError(XProtectError):
    """The gateway answered with an error status; ``error_text`` is the server's own words."""

    def __init__(self, gateway: str, status: int, error_text: str, what: str) -> None:
        self.status = status
        self.error_text = error_text
        super().__init__(gateway, f"{what}: HTTP {status}: {error_text}")


class ProtocolError(XProtectError, ValueError):
    """A reply or frame that is not the JSON the API documents."""
