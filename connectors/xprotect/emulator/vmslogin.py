"""The management server's SOAP ``Login`` (ServerCommandServiceOAuth): a bearer token in, a VMS token out.

Recording servers do not take the IDP's bearer token; a client exchanges it here for the VMS token
that the ImageServer protocol's ``connect`` carries (Milestone's ``OauthLoginFlow`` sample: "use the
vms_token for communication to Event Server and Recording Server").
"""

from __future__ import annotations

import math
import secrets
import time
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from functools import cached_property
from typing import Final

from aiohttp import web

from connectors.xprotect.emulator.idp import IdentityProvider

__all__ = ["LOGIN_PATH_RE", "SERVER_COMMAND_NS", "ServerCommandLogin"]

SERVER_COMMAND_NS: Final = "http://videoos.net/2/XProtectCSServerCommand"
SOAP_NS: Final = "http://schemas.xmlsoap.org/soap/envelope/"
LOGIN_PATH_RE: Final = r"/{soap_path:(?i:managementserver/servercommandserviceoauth\.svc)}"
_MAX_BODY: Final = 64 * 1024


class ServerCommandLogin(IdentityProvider):
    """VMS tokens: issued by SOAP ``Login`` for a valid bearer token, checked by the recording server."""

    #: Lifetime of a VMS token (``TimeToLive``), in seconds.
    vms_token_lifetime_seconds: float = 3600.0

    @cached_property
    def _vms_tokens(self) -> dict[str, float]:
        """VMS token -> time.monotonic() expiry."""
        return {}

    def vms_token_problem(self, token: str) -> str | None:
        """None if ``token`` is a VMS token this gateway issued and it has not expired, else why not."""
        expiry = self._vms_tokens.get(token)
        if expiry is None:
            return "the connection token is not valid"
        if time.monotonic() >= expiry:
            return "the connection token has expired"
        return None

    def expire_vms_tokens(self) -> None:
        for token in self._vms_tokens:
            self._vms_tokens[token] = -math.inf

    async def _soap_login(self, request: web.Request) -> web.Response:
        if self._token_problem(request.headers.get("Authorization")) is not None:
            return web.Response(status=401, text="Unauthorized", headers={"WWW-Authenticate": "Bearer"})
        body = await request.content.read(_MAX_BODY + 1)
        try:
            envelope = ET.fromstring(body) if len(body) <= _MAX_BODY else None
        except ET.ParseError:
            envelope = None
        login = None if envelope is None else envelope.find(f"{{{SOAP_NS}}}Body/{{{SERVER_COMMAND_NS}}}Login")
        if login is None:
            return _fault("the request is not a SOAP Login envelope")
        token = f"TOKEN#{uuid.uuid4()}#emulated-management//ServerConnector#{secrets.token_hex(4)}"
        self._vms_tokens[token] = time.monotonic() + self.vms_token_lifetime_seconds
        envelope_out = ET.Element(f"{{{SOAP_NS}}}Envelope")
        result = ET.SubElement(
            ET.SubElement(
                ET.SubElement(envelope_out, f"{{{SOAP_NS}}}Body"), f"{{{SERVER_COMMAND_NS}}}LoginResponse"
            ),
            f"{{{SERVER_COMMAND_NS}}}LoginResult",
        )
        ET.SubElement(result, f"{{{SERVER_COMMAND_NS}}}RegistrationTime").text = datetime.now(UTC).isoformat()
        ttl = ET.SubElement(result, f"{{{SERVER_COMMAND_NS}}}TimeToLive")
        micros = max(0, round(self.vms_token_lifetime_seconds * 1_000_000))
        ET.SubElement(ttl, f"{{{SERVER_COMMAND_NS}}}MicroSeconds").text = str(micros)
        ET.SubElement(result, f"{{{SERVER_COMMAND_NS}}}TimeToLiveLimited").text = "false"
        ET.SubElement(result, f"{{{SERVER_COMMAND_NS}}}Token").text = token
        return web.Response(
            body=ET.tostring(envelope_out, encoding="utf-8"), content_type="text/xml", charset="utf-8"
        )


def _fault(text: str) -> web.Response:
    envelope = ET.Element(f"{{{SOAP_NS}}}Envelope")
    fault = ET.SubElement(ET.SubElement(envelope, f"{{{SOAP_NS}}}Body"), f"{{{SOAP_NS}}}Fault")
    ET.SubElement(fault, "faultcode").text = "s:Client"
    ET.SubElement(fault, "faultstring").text = text
    return web.Response(status=500, body=ET.tostring(envelope, encoding="utf-8"), content_type="text/xml")
