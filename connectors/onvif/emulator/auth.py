"""WS-Security for the emulated devices: which operations need no token, and the UsernameToken
digest check against the device clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Final

from connectors.onvif.emulator.soap import _child, _parse_datetime, _text

__all__ = ["PRE_AUTH_OPERATIONS", "username_token_valid"]

# Answered without a UsernameToken (ONVIF Core access class PRE_AUTH); a token that is present
# anyway is ignored, because clients with a skewed clock must still be able to read the time.
PRE_AUTH_OPERATIONS: Final = frozenset(
    {
        "GetSystemDateAndTime",
        "GetServices",
        "GetCapabilities",
        "GetServiceCapabilities",
        "GetWsdlUrl",
        "GetHostname",
    }
)


def username_token_valid(
    envelope: ET.Element, *, username: str, password: str, now: datetime, window_seconds: float
) -> bool:
    """Whether ``envelope`` carries a WS-Security UsernameToken digest for ``username`` and
    ``password`` created within ``window_seconds`` of ``now`` (the device clock)."""
    token = _child(envelope, "Header", "Security", "UsernameToken")
    sent_user = _text(token, "Username")
    digest = _text(token, "Password")
    nonce = _text(token, "Nonce")
    created = _text(token, "Created")
    if not (sent_user and digest and nonce and created) or sent_user != username:
        return False
    try:
        nonce_raw = base64.b64decode(nonce, validate=True)
        created_at = _parse_datetime(created)
    except ValueError:
        return False
    skew = abs((created_at - now).total_seconds())
    if skew > window_seconds:
        return False
    expected = base64.b64encode(
        hashlib.sha1(nonce_raw + created.encode() + password.encode()).digest()
    ).decode()
    return hmac.compare_digest(expected, digest)
