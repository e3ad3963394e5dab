"""Config REST on the emulated gateway: collections, items and children with field filters, and
the asynchronous tasks (PTZ presets, outputs) polled under ``/tasks``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final

from aiohttp import web

from connectors.xprotect.emulator.events import EventFiring
from connectors.xprotect.emulator.rest import _field_filter, _not_found, _ref, _rest_json, _RestError
from connectors.xprotect.emulator.state import _Task

__all__ = ["PTZ_GOTO_TASK", "ConfigRest"]

PTZ_GOTO_TASK: Final = "GoToPtzPreset"

_CHILD_KINDS: Final = MappingProxyType(
    {
        "sites": frozenset({"recordingServers"}),
        "recordingServers": frozenset({"hardware"}),
        "hardware": frozenset({"cameras", "inputEvents", "outputs"}),
        "cameras": frozenset({"ptzPresets"}),
    }
)
# Query parameters with a meaning of their own; any other parameter filters on an item field.
_RESERVED_QUERY: Final = frozenset(
    {"disabled", "tasks", "noData", "resources", "definitions", "include", "page", "size", "task", "sort"}
)


class ConfigRest(EventFiring):
    """The configuration and task endpoints."""

    def _collection(self, kind: str) -> dict[str, dict[str, Any]]:
        items = self._config.get(kind)
        if items is None:
            raise _RestError(404, f"Resource not found. {kind}")
        return items

    def _item(self, kind: str, item_id: str) -> dict[str, Any]:
        item = self._collection(kind).get(item_id)
        if item is None:
            raise _not_found(kind, item_id)
        return item

    def _children(self, kind: str, item_id: str, child: str) -> dict[str, dict[str, Any]]:
        self._item(kind, item_id)
        if child not in _CHILD_KINDS.get(kind, ()):
            raise _RestError(404, f"Resource not found. {kind}/{item_id}/{child}")
        if child == "ptzPresets":
            return self._presets.get(item_id, {})
        parent = _ref(kind, item_id)
        return {
            i: item for i, item in self._config[child].items() if item["relations"].get("parent") == parent
        }

    @staticmethod
    def _select(items: Iterable[dict[str, Any]], query: Mapping[str, str]) -> list[dict[str, Any]]:
        checks = [_field_filter(k, v) for k, v in query.items() if k not in _RESERVED_QUERY]
        include_disabled = "disabled" in query
        return [
            copy.deepcopy(item)
            for item in items
            if (include_disabled or item.get("enabled", True)) and all(check(item) for check in checks)
        ]

    def _task_catalog(
        self, kind: str, item_id: str, child: str | None, child_id: str | None
    ) -> dict[str, str]:
        """Task id -> display name offered at a path."""
        if kind == "cameras" and child == "ptzPresets":
            if child_id is None:
                return {"DefaultPtzPreset": "Set default preset", "GetDevicePresets": "Get device presets"}
            # The task id is not documented publicly; a client must find it with ?tasks.
            return {} if self.quirks.no_ptz_preset_task else {PTZ_GOTO_TASK: "Go to preset"}
        if kind == "outputs" and child is None:
            return {
                "Activate": "Activate output",
                "Deactivate": "Deactivate output",
                "Trigger": "Trigger output",
            }
        return {}

    @staticmethod
    def _tasks_body(catalog: Mapping[str, str]) -> dict[str, Any]:
        return {"tasks": [{"id": task_id, "displayName": name} for task_id, name in catalog.items()]}

    @staticmethod
    def _path_parts(request: web.Request) -> tuple[str, str | None, str | None, str | None]:
        """(kind, item id, child kind, child id) of a config path; absent parts are None."""
        info = request.match_info
        return info["kind"], info.get("item_id"), info.get("child"), info.get("child_id")

    async def _config_get(self, request: web.Request) -> web.Response:
        kind, item_id, child, child_id = self._path_parts(request)
        query = request.query
        if item_id is None:
            items = self._collection(kind)
            if "tasks" in query:
                return web.json_response({"tasks": []})
            return web.json_response({"array": self._select(items.values(), query)})
        if child is None:
            item = self._item(kind, item_id)
            if "tasks" in query:
                return web.json_response(self._tasks_body(self._task_catalog(kind, item_id, None, None)))
            return web.json_response({"data": copy.deepcopy(item)})
        children = self._children(kind, item_id, child)
        if child_id is None:
            if "tasks" in query:
                return web.json_response(self._tasks_body(self._task_catalog(kind, item_id, child, None)))
            return web.json_response({"array": self._select(children.values(), query)})
        child_item = children.get(child_id)
        if child_item is None:
            raise _not_found(child, child_id)
        if "tasks" in query:
            return web.json_response(self._tasks_body(self._task_catalog(kind, item_id, child, child_id)))
        return web.json_response({"data": copy.deepcopy(child_item)})

    async def _config_post(self, request: web.Request) -> web.Response:
        kind, item_id, child, child_id = self._path_parts(request)
        assert item_id is not None  # the POST routes all name an item
        if child is None:
            self._item(kind, item_id)
        else:
            children = self._children(kind, item_id, child)
            if child_id is not None and child_id not in children:
                raise _not_found(child, child_id)
        task_name = request.query.get("task")
        if not task_name:
            raise _RestError(400, "Creating or changing configuration is not emulated; use ?task=<id>")
        catalog = self._task_catalog(kind, item_id, child, child_id)
        if task_name not in catalog:
            raise _RestError(400, f"Unknown task {task_name!r}; tasks here: {sorted(catalog)}", prop="task")
        body = await _rest_json(request, required=False)
        session_data_id = body.get("sessionDataId", 0)
        target, action = self._task_action(kind, item_id, child_id, task_name)
        task = _Task(id=self._next_task, name=catalog[task_name], target=target, action=action)
        self._next_task += 1
        self._tasks[task.id] = task
        self.counters["tasks"] += 1
        result = {"sessionDataId": session_data_id, "state": task.state, "path": _ref("tasks", str(task.id))}
        return web.json_response({"result": result})

    def _task_action(
        self, kind: str, item_id: str, child_id: str | None, task_name: str
    ) -> tuple[dict[str, str], Callable[[], None] | None]:
        if kind == "cameras" and child_id is not None:
            preset_id = child_id

            def goto() -> None:
                self.ptz_gotos.append((item_id, preset_id))

            return _ref("ptzPresets", preset_id), goto
        if kind == "outputs":
            steps = {"Activate": (True,), "Deactivate": (False,), "Trigger": (True, False)}[task_name]

            def switch() -> None:
                for active in steps:
                    self.output(item_id, active)

            return _ref("outputs", item_id), switch
        return _ref(kind, item_id), None

    def _task(self, request: web.Request) -> _Task:
        raw = request.match_info["task_id"]
        task = self._tasks.get(int(raw)) if raw.isdigit() else None
        if task is None:
            raise _RestError(404, f"Task not found. tasks/{raw}")
        return task

    def _advance(self, task: _Task) -> None:
        if task.state not in ("Idle", "InProgress"):
            return
        task.polls += 1
        if task.polls < self.task_polls_to_complete:
            task.state = "InProgress"
            return
        if self.quirks.fail_tasks:
            task.state = "Error"
            task.error = f"{task.name} failed (emulated fail_tasks quirk)"
            return
        if task.action is not None:
            task.action()
        task.state = "Success"

    async def _tasks_list(self, request: web.Request) -> web.Response:
        return web.json_response({"array": [task.data() for task in self._tasks.values()]})

    async def _tasks_get(self, request: web.Request) -> web.Response:
        task = self._task(request)
        self._advance(task)
        return web.json_response({"data": task.data()})

    async def _tasks_post(self, request: web.Request) -> web.Response:
        task = self._task(request)
        name = request.query.get("task")
        if name != "TaskCleanup":
            raise _RestError(400, f"Unknown task {name!r}; tasks here: ['TaskCleanup']", prop="task")
        del self._tasks[task.id]
        return web.json_response({"result": {"state": "Success", "path": _ref("tasks", str(task.id))}})
