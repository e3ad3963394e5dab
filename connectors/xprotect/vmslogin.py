"""The VMS token a recording server wants: the gateway's bearer token exchanged by SOAP ``Login``.

Recording servers (ImageServer protocol, RecorderCommandService) take an XProtect token, not the
IDP's bearer token. Milestone's ``OauthLoginFlow`` sample posts a ``Login`` envelope to the
management server's ``ServerCommandServiceOAuth.svc`` with ``Authorization: bearer <token>`` and reads
``LoginResult/Token`` and ``LoginResult/TimeToLive/MicroSeconds``. The token is never logged.
"""

from __future__ import annotations

__all__ = ["LOGIN_PATH", "VmsToken", "vms_login"]

import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Final

import aiohttp

from connectors.xprotect.client import XProtectClient
from connectors.xprotect.errors import ApiError, AuthenticationFailed, GatewayUnreachable, ProtocolError

LOGIN_PATH: Final = "/ManagementServer/ServerCommandServiceOAuth.svc"
SERVER_COMMAND_NS: Final = "http://videoos.net/2/XProtectCSServerCommand"
SOAP_NS: Final = "http://schemas.xmlsoap.org/soap/envelope/"
LOGIN_ACTION: Final = f"{SERVER_COMMAND_NS}/IServerCommandService/Login"
MAX_REPLY_BYTES: Final = 256 * 1024
RENEW_SHARE: Final = 0.8


@dataclass(frozen=True)
class VmsToken:
    token: str = ""
    renew_at: float = 0.0  # time.monotonic()

    @property
    def fresh(self) -> bool:
        return bool(self.token) and time.monotonic() < self.renew_at


async def vms_login(client: XProtectClient, instance_id: uuid.UUID) -> VmsToken:
    """Log in on the management server with the client's bearer token; a refused token is renewed once."""
    for attempt in (1, 2):
        bearer = await client.token(force=attempt == 2)
        status, body = await _post_login(client, bearer, instance_id)
        if status == 401 and attempt == 1:
            continue
        if status == 401:
            raise AuthenticationFailed(
                client.gateway_id, "the management server refused the bearer token for Login"
            )
        return _parse_login(client.gateway_id, status, body)
    raise AssertionError("unreachable")


async def _post_login(client: XProtectClient, bearer: str, instance_id: uuid.UUID) -> tuple[int, bytes]:
    envelope = ET.Element(f"{{{SOAP_NS}}}Envelope")
    login = ET.SubElement(ET.SubElement(envelope, f"{{{SOAP_NS}}}Body"), f"{{{SERVER_COMMAND_NS}}}Login")
    ET.SubElement(login, f"{{{SERVER_COMMAND_NS}}}instanceId").text = str(instance_id)
    ET.SubElement(login, f"{{{SERVER_COMMAND_NS}}}currentToken")
    headers = {
        "Authorization": f"bearer {bearer}",
        "SOAPAction": LOGIN_ACTION,
        "Content-Type": "text/xml; charset=utf-8",
    }
    try:
        async with client.session.post(
            client.base_url + LOGIN_PATH, data=ET.tostring(envelope, encoding="utf-8"), headers=headers
        ) as response:
            body = await response.content.read(MAX_REPLY_BYTES + 1)
            status = response.status
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise GatewayUnreachable(client.gateway_id, f"SOAP Login: {type(exc).__name__}: {exc}") from exc
    if len(body) > MAX_REPLY_BYTES:
        raise ProtocolError(client.gateway_id, f"SOAP Login: reply larger than {MAX_REPLY_BYTES} bytes")
    return status, body


def _parse_login(gateway: str, status: int, body: bytes) -> VmsToken:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        if status != 200:
            raise ApiError(gateway, status, body[:200].decode("utf-8", "replace"), "SOAP Login") from None
        raise ProtocolError(gateway, f"SOAP Login: reply is not XML ({exc})") from None
    if status != 200:
        fault = root.findtext(f".//{{{SOAP_NS}}}Fault/faultstring") or root.findtext(".//faultstring") or ""
        raise ApiError(gateway, status, fault.strip() or "SOAP fault", "SOAP Login")
    result = root.find(
        f"{{{SOAP_NS}}}Body/{{{SERVER_COMMAND_NS}}}LoginResponse/{{{SERVER_COMMAND_NS}}}LoginResult"
    )
    token = (result.findtext(f"{{{SERVER_COMMAND_NS}}}Token") if result is not None else None) or ""
    micros = (
        result.findtext(f"{{{SERVER_COMMAND_NS}}}TimeToLive/{{{SERVER_COMMAND_NS}}}MicroSeconds")
        if result is not None
        else None
    ) or ""
    if not token.strip() or not micros.strip().isdigit():
        raise ProtocolError(
            gateway, "SOAP Login: no LoginResult/Token and TimeToLive/MicroSeconds in the reply"
        )
    lifetime = int(micros) / 1_000_000
    return VmsToken(token.strip(), time.monotonic() + lifetime * RENEW_SHARE)
