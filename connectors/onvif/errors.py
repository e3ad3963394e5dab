"""ONVIF connector errors. Each carries the device it concerns, so a log line names the camera."""

from __future__ import annotations

__all__ = [
    "DeviceUnreachable",
    "MalformedResponse",
    "NotAuthorized",
    "OnvifError",
    "OnvifFault",
    "SubscriptionGone",
]

from vmsbridge.errors import ConnectorError


class OnvifError(ConnectorError):
    def __init__(self, device: str, message: str) -> None:
        self.device = device
        super().__init__(f"ONVIF device {device}: {message}")


class DeviceUnreachable(OnvifError, ConnectionError):
    """No answer: refused, reset, timed out, or an HTTP error without a SOAP fault."""


class MalformedResponse(OnvifError, ValueError):
    """The device answered, but not with well-formed, safe, reasonably sized SOAP."""


class OnvifFault(OnvifError):
    """A SOAP fault from the device."""

    def __init__(self, device: str, code: str, subcode: str, reason: str) -> None:
        self.code = code
        self.subcode = subcode
        self.reason = reason
        detail = "/".join(part for part in (code, subcode) if part)
        super().__init__(device, f"fault {detail}: {reason}")


class NotAuthorized(OnvifFault):
    """Wrong user name or password, or a clock too far from the device's for WS-UsernameToken."""


class SubscriptionGone(OnvifFault):
    """The pull point no longer exists (expired, unsubscribed, or the device restarted)."""
