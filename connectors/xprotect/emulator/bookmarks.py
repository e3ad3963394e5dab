"""Bookmarks on the emulated gateway: ``POST /bookmarks`` and reading one back."""

from __future__ import annotations

import copy
import uuid

from aiohttp import web

from connectors.xprotect.emulator.rest import _iso, _parse_time, _ref, _rest_json, _RestError, _split_source
from connectors.xprotect.emulator.state import GatewayState

__all__ = ["Bookmarks"]


class Bookmarks(GatewayState):
    """The bookmarks REST endpoints."""

    async def _bookmarks_post(self, request: web.Request) -> web.Response:
        if "task" in request.query:
            raise _RestError(400, f"Bookmark task {request.query['task']!r} is not emulated", prop="task")
        body = await _rest_json(request)
        header, description = body.get("header"), body.get("description", "")
        if not isinstance(header, str) or not header:
            raise _RestError(400, "header must be a non-empty string", prop="header")
        if not isinstance(description, str):
            raise _RestError(400, "description must be a string", prop="description")
        begin = _parse_time(body.get("timeBegin"), "timeBegin")
        end = _parse_time(body.get("timeEnd"), "timeEnd")
        if end < begin:
            raise _RestError(400, "timeEnd must not be before timeBegin", prop="timeEnd")
        triggered = (
            begin
            if body.get("timeTriggered") is None
            else _parse_time(body["timeTriggered"], "timeTriggered")
        )
        device = body.get("devicePath")
        if not isinstance(device, dict) or device.get("type") != "cameras":
            raise _RestError(
                400, "devicePath must be {'type': 'cameras', 'id': <camera id>}", prop="devicePath"
            )
        kind, camera = _split_source(self._source_path(device, "devicePath"))
        reference = body.get("reference", f"no.{len(self.bookmarks) + 1}")
        if not isinstance(reference, str):
            raise _RestError(400, "reference must be a string", prop="reference")
        bookmark_id = str(uuid.uuid4())
        bookmark = {
            "id": bookmark_id,
            "header": header,
            "description": description,
            "timeBegin": _iso(begin),
            "timeEnd": _iso(end),
            "timeTriggered": _iso(triggered),
            "reference": reference,
            "user": self.username,
            "devicePath": _ref(kind, camera),
            "deviceName": self._config["cameras"][camera]["name"],
            "relations": {"self": _ref("bookmarks", bookmark_id), "parent": _ref(kind, camera)},
        }
        self.bookmarks.append(bookmark)
        return web.json_response({"data": copy.deepcopy(bookmark)}, status=201)

    async def _bookmarks_get(self, request: web.Request) -> web.Response:
        bookmark_id = request.match_info["bookmark_id"]
        for bookmark in self.bookmarks:
            if bookmark["id"] == bookmark_id:
                return web.json_response({"data": copy.deepcopy(bookmark)})
        raise _RestError(404, f"Bookmark not found. bookmarks/{bookmark_id}")
