"""Answers to an RTSP server's ``WWW-Authenticate`` challenge: Digest (RFC 2617, MD5, qop=auth) or Basic.

Cameras ask for Digest almost always, Basic sometimes; Basic is only sent when the server offers nothing
else.
"""

from __future__ import annotations

__all__ = ["Authenticator", "parse_challenges"]

import base64
import hashlib
import os
import re
from dataclasses import dataclass, field

from recording.rtsp.errors import RtspProtocolError

# scheme followed by comma-separated auth-params; a header may carry several challenges.
_TOKEN68 = re.compile(r"\s*([A-Za-z0-9._~+/-]+=*)\s*(?:,|$)")
_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?')


def parse_challenges(values: list[str]) -> dict[str, dict[str, str]]:
    """``{"digest": {"realm": ..., "nonce": ...}, "basic": {...}}`` from WWW-Authenticate values."""
    challenges: dict[str, dict[str, str]] = {}
    for value in values:
        rest = value.strip()
        while rest:
            scheme, _, rest = rest.partition(" ")
            params: dict[str, str] = {}
            token68 = _TOKEN68.match(rest)
            if token68 is not None:  # e.g. "Negotiate abc=": one opaque token, no parameters
                rest = rest[token68.end() :]
            position = 0
            while position < len(rest):
                match = _PARAM.match(rest, position)
                if match is None:
                    break
                name, raw = match.group(1).lower(), match.group(2)
                params[name] = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw
                position = match.end()
            rest = rest[position:].strip()
            if scheme.strip(","):
                challenges[scheme.strip(",").lower()] = params
    return challenges


@dataclass
class Authenticator:
    """Credentials and the server's last challenge; makes the ``Authorization`` header of each request."""

    username: str
    password: str
    _scheme: str | None = None
    _params: dict[str, str] = field(default_factory=dict)
    _count: int = 0

    def challenge(self, values: list[str]) -> None:
        challenges = parse_challenges(values)
        if "digest" in challenges:
            params = challenges["digest"]
            algorithm = params.get("algorithm", "MD5").upper()
            if algorithm != "MD5":
                raise RtspProtocolError(f"RTSP Digest algorithm {algorithm!r} is not supported (MD5 is)")
            if "nonce" not in params or "realm" not in params:
                raise RtspProtocolError("RTSP Digest challenge lacks realm or nonce")
            self._scheme, self._params, self._count = "digest", params, 0
        elif "basic" in challenges:
            self._scheme, self._params = "basic", challenges["basic"]
        else:
            offered = ", ".join(sorted(challenges)) or "nothing"
            raise RtspProtocolError(
                f"RTSP server offers {offered} for authentication; Digest or Basic needed"
            )

    @property
    def ready(self) -> bool:
        return self._scheme is not None

    def header(self, method: str, uri: str) -> str | None:
        if self._scheme == "basic":
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            return f"Basic {token}"
        if self._scheme != "digest":
            return None
        realm, nonce = self._params["realm"], self._params["nonce"]
        ha1 = _md5(f"{self.username}:{realm}:{self.password}")
        ha2 = _md5(f"{method}:{uri}")
        qops = [q.strip() for q in self._params.get("qop", "").split(",") if q.strip()]
        fields = [
            f'username="{self.username}"',
            f'realm="{realm}"',
            f'nonce="{nonce}"',
            f'uri="{uri}"',
        ]
        if "auth" in qops:
            self._count += 1
            nc = f"{self._count:08x}"
            cnonce = os.urandom(8).hex()
            response = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
            fields += [f'response="{response}"', "qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
        else:
            fields.append(f'response="{_md5(f"{ha1}:{nonce}:{ha2}")}"')
        if "opaque" in self._params:
            fields.append(f'opaque="{self._params["opaque"]}"')
        fields.append("algorithm=MD5")
        return "Digest " + ", ".join(fields)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()
