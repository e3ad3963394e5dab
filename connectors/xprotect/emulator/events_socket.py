"""The Events and State WebSocket (``/api/ws/events/v1``): authentication, sessions that resume
and replay, subscriptions with filters, ``getState``, and pushing events to sockets.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Final

from aiohttp import WSMsgType, web

from connectors.xprotect.emulator.idp import TOKEN_INVALID_TEXT, IdentityProvider
from connectors.xprotect.emulator.rest import _RestError
from connectors.xprotect.emulator.sessions import _Filter, _Session, _Socket

__all__ = ["CLOSE_MALFORMED", "CLOSE_UNAUTHORIZED", "EventsSocket"]

log = logging.getLogger(__name__)

CLOSE_MALFORMED: Final = 1007
CLOSE_UNAUTHORIZED: Final = 1008
_REPLAY_CHUNK: Final = 100


class EventsSocket(IdentityProvider):
    """WebSocket endpoint, commands and sessions, and the socket test hooks."""

    @property
    def open_sockets(self) -> int:
        """WebSockets currently connected."""
        return len(self._sockets)

    @property
    def sessions(self) -> int:
        """Sessions attached to a socket or still resumable."""
        self._purge_sessions()
        return len(self._sessions)

    async def drop_sockets(self) -> None:
        """Close every WebSocket abruptly (TCP abort, no close frame); sessions stay resumable."""
        sockets = list(self._sockets)
        for sock in sockets:
            self._detach(sock)
            sock.closing = True
            if sock.transport is not None:
                sock.transport.abort()
        await self._wait_closed(sockets)

    def expire_sessions(self) -> None:
        """Forget every session: a later resume gets a new one (201). A socket still open keeps
        receiving what its forgotten session subscribed to, but cannot be resumed after a drop."""
        self._sessions.clear()

    async def send_malformed(self) -> None:
        """Push one frame that is not JSON and one whose ``events`` is not a list to every socket,
        and return once they are written."""
        for sock in self._sockets:
            sock.send('{"events": [{"id": ')
            sock.send(json.dumps({"events": "not-a-list"}))
        await self._flush(list(self._sockets))

    def _push(self, sock: _Socket, events: list[dict[str, Any]]) -> None:
        frame = json.dumps({"events": events})
        if self.quirks.malformed_json:
            frame = frame[: len(frame) // 2]
        sock.send(frame)

    def _purge_sessions(self) -> None:
        now = time.monotonic()
        for session_id, session in list(self._sessions.items()):
            gone = session.disconnected_at
            if session.socket is None and gone is not None and now - gone >= self.resume_window_seconds:
                del self._sessions[session_id]

    def _detach(self, sock: _Socket) -> None:
        session, sock.session = sock.session, None
        if session is not None:
            session.socket = None
            session.disconnected_at = time.monotonic()

    async def _flush(self, sockets: Iterable[_Socket]) -> None:
        joins = [sock.outbox.join() for sock in sockets if not sock.closing]
        if not joins:
            return
        try:
            await asyncio.wait_for(asyncio.gather(*joins), self.flush_timeout)
        except TimeoutError:
            log.warning("XProtect emulator: frames not written within %.1f s", self.flush_timeout)

    async def _wait_closed(self, sockets: list[_Socket]) -> None:
        if not sockets:
            return
        try:
            await asyncio.wait_for(asyncio.gather(*(s.done.wait() for s in sockets)), self.flush_timeout)
        except TimeoutError:
            log.warning("XProtect emulator: sockets not closed within %.1f s", self.flush_timeout)

    @functools.cached_property
    def _commands(self) -> dict[str, Callable[[_Socket, Any, dict[str, Any]], None]]:
        """The commands a socket may send once authenticated, by name."""
        return {
            "startSession": self._cmd_start_session,
            "addSubscription": self._cmd_add_subscription,
            "removeSubscription": self._cmd_remove_subscription,
            "getState": self._cmd_get_state,
        }

    async def _ws_endpoint(self, request: web.Request) -> web.StreamResponse:
        header = request.headers.get("Authorization")
        if header is not None:
            problem = self._token_problem(header)
            if problem is not None:
                return self._error_response(_RestError(401, problem))
        ws = web.WebSocketResponse(timeout=self.flush_timeout)
        await ws.prepare(request)
        self.counters["ws_connect"] += 1
        sock = _Socket(ws=ws, transport=request.transport, authenticated=header is not None)
        self._sockets.append(sock)
        writer = asyncio.create_task(self._write_loop(sock))
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    close = self._on_command(sock, msg.data)
                elif msg.type is WSMsgType.BINARY:
                    close = (CLOSE_MALFORMED, "binary frames are not commands")
                else:  # ERROR: the connection broke
                    break
                if close is not None:
                    await self._flush([sock])
                    sock.closing = True
                    await ws.close(code=close[0], message=close[1].encode())
                    break
        finally:
            self._detach(sock)
            sock.closing = True
            self._sockets.remove(sock)
            writer.cancel()
            await asyncio.wait([writer])
            sock.done.set()
        return ws

    async def _write_loop(self, sock: _Socket) -> None:
        while True:
            frame = await sock.outbox.get()
            try:
                if not sock.closing:
                    await sock.ws.send_str(frame)
            except ConnectionError as exc:  # the peer went away; the reader loop ends the socket
                log.debug("XProtect emulator: push failed: %s", exc)
                sock.closing = True
            finally:
                sock.outbox.task_done()

    def _reply(self, sock: _Socket, command_id: Any, status: int, **fields: Any) -> None:
        sock.send(json.dumps({"commandId": command_id, "status": status, **fields}))

    def _reply_error(self, sock: _Socket, command_id: Any, status: int, text: str) -> None:
        self._reply(sock, command_id, status, error={"errorText": text})

    def _on_command(self, sock: _Socket, raw: str) -> tuple[int, str] | None:
        """Handle one command; returns (close code, reason) when the socket must close."""
        try:
            msg = json.loads(raw)
        except ValueError:
            return CLOSE_MALFORMED, "command is not valid JSON"
        if not isinstance(msg, dict) or not isinstance(msg.get("command"), str):
            return CLOSE_MALFORMED, "command must be a JSON object with a 'command' string"
        name, command_id = msg["command"], msg.get("commandId")
        if name == "authenticate":
            self.counters["authenticate"] += 1
            return self._cmd_authenticate(sock, command_id, msg)
        if not sock.authenticated:
            self.counters["401"] += 1
            self._reply_error(
                sock,
                command_id,
                401,
                "Not authenticated: send 'authenticate' first or an Authorization header",
            )
            return CLOSE_UNAUTHORIZED, "not authenticated"
        handler = self._commands.get(name)
        if handler is None:
            self._reply_error(
                sock, command_id, 400, f"Unknown command {name!r}; known: {sorted(self._commands)}"
            )
            return None
        self.counters[name] += 1
        handler(sock, command_id, msg)
        return None

    def _cmd_authenticate(
        self, sock: _Socket, command_id: Any, msg: dict[str, Any]
    ) -> tuple[int, str] | None:
        token = msg.get("token")
        if not isinstance(token, str) or not token.strip():
            problem: str | None = TOKEN_INVALID_TEXT
        else:
            token = token.strip()
            header = token if token.lower().startswith("bearer ") else f"Bearer {token}"
            problem = self._token_problem(header)
        if problem is not None:
            self.counters["401"] += 1
            self._reply_error(sock, command_id, 401, problem)
            return None if sock.authenticated else (CLOSE_UNAUTHORIZED, "authentication failed")
        sock.authenticated = True
        self._reply(sock, command_id, 200)
        return None

    def _cmd_start_session(self, sock: _Socket, command_id: Any, msg: dict[str, Any]) -> None:
        session_id, event_id = msg.get("sessionId") or "", msg.get("eventId") or ""
        if not isinstance(session_id, str) or not isinstance(event_id, str):
            self._reply_error(sock, command_id, 400, "sessionId and eventId must be strings")
            return
        self._purge_sessions()
        self._detach(sock)
        old = self._sessions.get(session_id) if session_id else None
        if old is not None and old.socket is None:
            old.socket, old.disconnected_at, sock.session = sock, None, old
            self._reply(sock, command_id, 200, sessionId=old.id)
            self._replay(sock, old, event_id)
            return
        session = _Session(id=str(uuid.uuid4()), buffer=deque(maxlen=self.resume_buffer_size))
        session.socket, sock.session = sock, session
        self._sessions[session.id] = session
        self._reply(sock, command_id, 201, sessionId=session.id)

    def _replay(self, sock: _Socket, session: _Session, event_id: str) -> None:
        buffered = list(session.buffer)
        if event_id:
            index = next((i for i, f in enumerate(buffered) if f.event["id"] == event_id), None)
            if index is not None:
                buffered = buffered[index + 1 :]
        missed = [f.event for f in buffered if session.matches(f.event)]
        for start in range(0, len(missed), _REPLAY_CHUNK):
            self._push(sock, missed[start : start + _REPLAY_CHUNK])

    def _cmd_add_subscription(self, sock: _Socket, command_id: Any, msg: dict[str, Any]) -> None:
        session = sock.session
        if session is None:
            self._reply_error(sock, command_id, 400, "No session: send startSession first")
            return
        raw = msg.get("filters")
        if not isinstance(raw, list) or not raw:
            self._reply_error(sock, command_id, 400, "filters must be a non-empty list")
            return
        try:
            filters = tuple(_Filter.parse(f) for f in raw)
        except ValueError as exc:
            self._reply_error(sock, command_id, 400, f"Invalid filter: {exc}")
            return
        subscription_id = str(uuid.uuid4())
        session.subscriptions[subscription_id] = filters
        self._reply(sock, command_id, 200, subscriptionId=subscription_id)

    def _cmd_remove_subscription(self, sock: _Socket, command_id: Any, msg: dict[str, Any]) -> None:
        session = sock.session
        if session is None:
            self._reply_error(sock, command_id, 400, "No session: send startSession first")
            return
        subscription_id = msg.get("subscriptionId")
        if not isinstance(subscription_id, str) or subscription_id not in session.subscriptions:
            self._reply_error(sock, command_id, 404, f"Subscription not found: {subscription_id!r}")
            return
        del session.subscriptions[subscription_id]
        self._reply(sock, command_id, 200)

    def _cmd_get_state(self, sock: _Socket, command_id: Any, msg: dict[str, Any]) -> None:
        session = sock.session
        if session is None:
            self._reply_error(sock, command_id, 400, "No session: send startSession first")
            return
        current = sorted(self._states.values(), key=lambda f: f.seq)
        self._reply(sock, command_id, 200, states=[f.event for f in current if session.matches(f.event)])
