"""The gateway's identity provider: issuing and checking bearer tokens, the token endpoint, the
well-known and OpenID discovery documents, and the 401 answers.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
import time
from typing import Any, Final

from aiohttp import web

from connectors.xprotect.emulator.rest import _RestError
from connectors.xprotect.emulator.state import GatewayState

__all__ = ["TOKEN_EXPIRED_TEXT", "TOKEN_INVALID_TEXT", "IdentityProvider"]

log = logging.getLogger(__name__)

TOKEN_EXPIRED_TEXT: Final = "Token validation failed: the token is expired."
TOKEN_INVALID_TEXT: Final = "Token validation failed: the token is invalid."
_GRANT_CLIENTS: Final = frozenset({"GrantValidatorClient", "VmsClient"})
_IDP_TOKEN_RE: Final = re.compile(r"^/(?:api/)?idp/connect/token/?$", re.IGNORECASE)


class IdentityProvider(GatewayState):
    """Bearer tokens: issued by the IDP endpoint, checked by REST and WebSocket."""

    def expire_tokens(self) -> None:
        """Every access token issued so far is expired; open sockets stay open (they were
        checked when they connected)."""
        for token in self._tokens:
            self._tokens[token] = -math.inf

    def _error_response(self, exc: _RestError) -> web.Response:
        if exc.status == 401:
            self.counters["401"] += 1
        log.debug("XProtect emulator: %s -> %s %s", exc.status, exc.text, exc.prop or "")
        return web.json_response(exc.body(), status=exc.status)

    def _token_problem(self, header: str | None) -> str | None:
        """None if ``header`` carries a valid bearer token, else the errorText to answer."""
        if header is None:
            return TOKEN_INVALID_TEXT
        scheme, _, token = header.strip().partition(" ")
        expiry = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if expiry is None:
            return TOKEN_INVALID_TEXT
        if time.monotonic() >= expiry:
            return TOKEN_EXPIRED_TEXT
        return None

    def _issue_token(self, client_id: str) -> dict[str, Any]:
        token = secrets.token_urlsafe(32)
        lifetime = self.token_lifetime_seconds
        self._tokens[token] = time.monotonic() + lifetime
        self.counters["token"] += 1
        body: dict[str, Any] = {
            "access_token": token,
            "expires_in": max(0, math.ceil(lifetime)),
            "token_type": "Bearer",
            "scope": "managementserver",
        }
        if client_id == "VmsClient":
            refresh = secrets.token_urlsafe(32)
            self._refresh_tokens[refresh] = self.username
            body["refresh_token"] = refresh
        return body

    def _idp_error(self, error: str, **extra: str) -> web.Response:
        self.counters["token_rejected"] += 1
        return web.json_response({"error": error, **extra}, status=400)

    async def _idp_token(self, request: web.Request) -> web.Response:
        if request.content_type != "application/x-www-form-urlencoded":
            return self._idp_error("invalid_request", error_description="form-encoded body expected")
        form = await request.post()
        client_id = str(form.get("client_id", ""))
        grant_type = str(form.get("grant_type", ""))
        if client_id not in _GRANT_CLIENTS:
            return self._idp_error("invalid_client")
        if grant_type == "password":
            username, password = str(form.get("username", "")), str(form.get("password", ""))
            if username != self.username or not secrets.compare_digest(password, self.password):
                return self._idp_error(
                    "invalid_grant",
                    error_description="invalid_username_or_password",
                    error_code="InvalidCredentials",
                )
            return web.json_response(self._issue_token(client_id))
        if grant_type == "refresh_token" and client_id == "VmsClient":
            if self._refresh_tokens.pop(str(form.get("refresh_token", "")), None) is None:
                return self._idp_error("invalid_grant", error_description="invalid_refresh_token")
            return web.json_response(self._issue_token(client_id))
        return self._idp_error("unsupported_grant_type")

    def _base_url(self, request: web.Request) -> str:
        return f"{request.scheme}://{request.host}"

    async def _well_known_uris(self, request: web.Request) -> web.Response:
        base = self._base_url(request)
        return web.json_response(
            {
                "ProductVersion": self.spec.version,
                "UnsecureManagementServer": f"{base}/",
                "ApiGateways": [f"{base}/api/"],
                "IdentityProvider": f"{base}/IDP",
            }
        )

    async def _openid_configuration(self, request: web.Request) -> web.Response:
        base = self._base_url(request)
        return web.json_response(
            {
                "issuer": f"{base}/IDP",
                "token_endpoint": f"{base}/IDP/connect/token",
                "authorization_endpoint": f"{base}/IDP/connect/authorize",
                "grant_types_supported": ["password", "refresh_token"],
                "server_version": self.spec.version,
            }
        )
