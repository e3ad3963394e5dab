"""Database errors without the data a statement carried: they are logged, and rows hold names.

Every engine vmsbridge creates passes ``hide_parameters=True``, so SQLAlchemy's error text (and
its statement logging) leaves bound values out. The driver's own text can still repeat them:
PostgreSQL's DETAIL line quotes the failing row ("Failing row contains (..., Sam Poe)", "Key
(name)=(Sam Poe) already exists"), and asyncpg names a value it could not encode. :func:`install`
removes both where the error is born, so no log line, traceback or printed message can carry them.
What remains names the error, its SQLSTATE class, the table, the constraint and the statement.
"""

from __future__ import annotations

__all__ = ["ENGINE_OPTIONS", "install"]

import re
from collections.abc import Iterator
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import Engine, ExceptionContext

# Keyword arguments for every create_engine / create_async_engine in vmsbridge.
ENGINE_OPTIONS: dict[str, Any] = {"hide_parameters": True}

# asyncpg, when it cannot encode a value: "invalid input for query argument $3: 'Sam Poe' (reason)"
# or "query argument $3: <the codec's message>"; only the argument's position is kept.
_ARGUMENT_ERROR = re.compile(
    r"(?:invalid input for )?query argument \$\d+(?: in element #\d+ of executemany\(\) sequence)?"
)


# PostgreSQL's data exceptions (SQLSTATE class 22) quote the input they could not take:
# 'invalid input syntax for type integer: "Sam Poe"', 'value "..." is out of range'.
_DATA_EXCEPTION = "22"
_QUOTED = re.compile(r'".*"', re.DOTALL)


def install(engine: Engine) -> None:
    """Scrub driver errors of ``engine`` (the ``sync_engine`` of an async one) before they are raised."""
    event.listen(engine, "handle_error", _scrub)


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _scrub_driver_error(error: BaseException) -> bool:
    """Drop the data from one asyncpg error in place; whether it was one."""
    if not isinstance(error, asyncpg.PostgresError | asyncpg.InterfaceError):
        return False
    text = str(error.args[0]) if error.args else ""
    if found := _ARGUMENT_ERROR.match(text):
        error.args = (f"{found.group(0)} ({type(error.__cause__ or error).__name__})",)
    elif isinstance(error, asyncpg.PostgresError) and str(error.sqlstate or "").startswith(_DATA_EXCEPTION):
        error.args = (_QUOTED.sub('"..."', text),)
    error.detail = None  # PostgreSQL's DETAIL: the failing row or key, verbatim
    return True


def _scrub(context: ExceptionContext) -> None:
    original = context.original_exception
    for driver_error in _chain(original):
        if _scrub_driver_error(driver_error):
            break
    else:
        return
    if original is not driver_error:
        # SQLAlchemy's asyncpg adapter copied the driver's text when it wrapped the error.
        original.args = (f"{type(driver_error)}: {driver_error}",)
    if context.sqlalchemy_exception is not None:
        kind = type(original)
        context.sqlalchemy_exception.args = (f"({kind.__module__}.{kind.__name__}) {original}",)
