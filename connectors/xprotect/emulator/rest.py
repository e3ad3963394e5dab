"""REST plumbing shared by the gateway's endpoints: ISO times, item references, the error shape,
field filters, paging and JSON bodies.

Names with a leading underscore are shared by the emulator's modules only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

__all__ = []

_FILTER_RE: Final = re.compile(r"^(?P<op>lt|gt|equals|notEquals|startsWith|contains):(?P<value>.*)$")


def _iso(when: datetime) -> str:
    when = when.astimezone(UTC)
    spec = "milliseconds" if when.microsecond else "seconds"
    return when.isoformat(timespec=spec).replace("+00:00", "Z")


def _parse_time(value: Any, what: str) -> datetime:
    if not isinstance(value, str):
        raise _RestError(400, f"{what} must be an ISO-8601 string", prop=what)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _RestError(400, f"{what} is not an ISO-8601 time: {value!r}", prop=what) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _ref(kind: str, item_id: str) -> dict[str, str]:
    return {"type": kind, "id": item_id}


def _split_source(source: str) -> tuple[str, str]:
    """(resource type, id) of a source path such as ``cameras/<id>``."""
    kind, _, rest = source.partition("/")
    return kind, rest.rsplit("/", 1)[-1]


class _RestError(Exception):
    """Raised by a REST handler; rendered in the gateway's error shape."""

    def __init__(
        self, status: int, text: str, *, text_id: str | None = None, prop: str | None = None
    ) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.text_id = text_id
        self.prop = prop

    def body(self) -> dict[str, Any]:
        detail: dict[str, Any] = {"errorText": self.text}
        if self.text_id is not None:
            detail["errorTextId"] = self.text_id
        if self.prop is not None:
            detail["property"] = self.prop
        return {"error": {"httpCode": self.status, "details": [detail]}}


def _not_found(kind: str, item_id: str) -> _RestError:
    return _RestError(404, f"Device not found. {kind}/{item_id}", text_id="VMO61008")


def _compare(op: str, actual: Any, wanted: str) -> bool:
    if isinstance(actual, bool):
        text = "true" if actual else "false"
    elif actual is None:
        text = ""
    else:
        text = str(actual)
    if op in ("lt", "gt"):
        try:
            left, right = float(text), float(wanted)
        except ValueError:
            return text < wanted if op == "lt" else text > wanted
        return left < right if op == "lt" else left > right
    folded, target = text.casefold(), wanted.casefold()
    if op == "contains":
        return target in folded
    if op == "startsWith":
        return folded.startswith(target)
    if op == "notEquals":
        return folded != target
    return folded == target


def _field_filter(name: str, raw: str) -> Callable[[Mapping[str, Any]], bool]:
    match = _FILTER_RE.match(raw)
    op, value = (match["op"], match["value"]) if match else ("equals", raw)
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]

    def check(item: Mapping[str, Any]) -> bool:
        return name in item and _compare(op, item[name], value)

    return check


def _paging(query: Mapping[str, str]) -> tuple[int, int]:
    try:
        page = int(query.get("page", "0"))
        size = int(query.get("size", "100"))
    except ValueError:
        raise _RestError(400, "page and size must be integers") from None
    if page < 0 or not 1 <= size <= 1000:
        raise _RestError(400, "page must be >= 0 and size from 1 to 1000")
    return page, size


async def _rest_json(request: web.Request, *, required: bool = True) -> dict[str, Any]:
    if not request.can_read_body:
        if required:
            raise _RestError(400, "The request needs a JSON body")
        return {}
    try:
        payload = await request.json()
    except ValueError:
        raise _RestError(400, "The request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise _RestError(400, "The request body must be a JSON object")
    return payload
