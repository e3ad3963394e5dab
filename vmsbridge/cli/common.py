"""Options every command shares and the small helpers that turn them into services."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from vmsbridge.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable, Callable, Sequence

    from vmsbridge.bus import EventPayload
    from vmsbridge.config import SiteConfig
    from vmsbridge.model import IngestOutcome
    from vmsbridge.store.stores import Stores

T = TypeVar("T")


class _Connector(Protocol):
    @property
    def id(self) -> str: ...


C = TypeVar("C", bound=_Connector)


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="site configuration (TOML); default: the example campus shipped with vmsbridge",
    )
    parser.add_argument(
        "--db",
        default=None,
        metavar="URL",
        help="database URL, e.g. postgresql://user@host/vmsbridge or sqlite:///path.db; "
        "default: $VMSBRIDGE_DB, then [storage].db_url, then SQLite in $VMSBRIDGE_DATA "
        "(~/.local/share/vmsbridge)",
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="how much to log on standard error (default: %(default)s)",
    )


def load_site(args: argparse.Namespace) -> SiteConfig:
    from vmsbridge.config import default_config_path, load_site_config

    return load_site_config(args.config or default_config_path())


def pick_connector(found: Sequence[C], wanted: str) -> C:
    """The connector ``--connector`` names among ``found`` (a site's connectors of one kind)."""
    for connector in found:
        if connector.id == wanted:
            return connector
    known = sorted(c.id for c in found)
    raise ConfigError("--connector", [ConfigProblem("--connector", f"{wanted!r} is not one of {known}")])


def db_url_for(args: argparse.Namespace, site: SiteConfig) -> str:
    from vmsbridge.store.database import resolve_db_url

    return resolve_db_url(args.db, site.storage.db_url, site.storage.data_dir)


def with_stores(args: argparse.Namespace, work: Callable[[Stores, SiteConfig], Awaitable[T]]) -> T:
    """Run ``work`` against the stores of ``--db``/``--config``: the one way a command reaches data."""
    import asyncio

    from vmsbridge.store.stores import open_store

    site = load_site(args)

    async def go() -> T:
        async with open_store(db_url_for(args, site)) as stores:
            return await work(stores, site)

    return asyncio.run(go())


def local_time(value: datetime, site: SiteConfig) -> str:
    return value.astimezone(ZoneInfo(site.site.timezone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def add_duration_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--for",
        dest="duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop by itself after this many seconds",
    )


def add_password_options(parser: argparse.ArgumentParser, default_env: str) -> None:
    """Passwords come from the environment or a file: a command line is visible to every user."""
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument(
        "--password-env",
        default=None,
        metavar="VAR",
        help=f"environment variable holding the password (default: {default_env})",
    )
    secret.add_argument(
        "--password-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="file whose first line is the password",
    )
    parser.set_defaults(default_password_env=default_env)


def password_from(args: argparse.Namespace) -> str:
    from vmsbridge.config import read_secret_file

    if args.password_file is not None:
        try:
            return read_secret_file(args.password_file)
        except ValueError as exc:
            raise ConfigError("--password-file", [ConfigProblem("--password-file", str(exc))]) from None
    variable = args.password_env or args.default_password_env
    value = os.environ.get(variable)
    if not value:
        raise ConfigError(
            "--password-env", [ConfigProblem("--password-env", f"environment variable {variable} is not set")]
        )
    return str(value)


async def until_stopped(duration: float | None, stop: asyncio.Event | None = None) -> None:
    """Return on SIGINT/SIGTERM, when ``stop`` is set, or after ``duration`` seconds if given.

    A signal does not set ``stop``: callers read ``stop`` afterwards to tell a failure (a stage
    died) from an ordinary shutdown.
    """
    import asyncio

    signalled = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, signalled.set)
    waits = [asyncio.ensure_future(signalled.wait())]
    if stop is not None:
        waits.append(asyncio.ensure_future(stop.wait()))
    try:
        await asyncio.wait(waits, timeout=duration, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


class PrintingSink:
    """An event sink that prints instead of storing: ``watch`` shows, it does not record."""

    def __init__(self, as_json: bool) -> None:
        self._json = as_json

    async def submit(self, payload: EventPayload) -> asyncio.Future[IngestOutcome]:
        import asyncio

        from vmsbridge.model import Event, IngestOutcome

        if isinstance(payload, Event):
            if self._json:
                print(payload.model_dump_json(exclude={"raw"}), flush=True)
            else:
                details = " ".join(f"{k}={v}" for k, v in payload.attributes.items() if k != "topic")
                when = payload.occurred_at.strftime("%H:%M:%S.%f")[:-3] + "Z"
                print(f"{when}  {payload.kind.value:<24} {payload.device_id:<20} {details}", flush=True)
        done: asyncio.Future[IngestOutcome] = asyncio.get_running_loop().create_future()
        done.set_result(IngestOutcome("stored"))
        return done


async def watch_source(run: Any, duration: float | None, as_json: bool) -> None:
    """Run a source's ``run(sink)`` against a printing sink until stopped."""
    import asyncio

    task = asyncio.create_task(run(PrintingSink(as_json)))
    try:
        await until_stopped(duration)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Progress:
    """A one-line progress bar on a terminal's standard error; silent when not a terminal."""

    def __init__(self, label: str, *, stream: Any = None) -> None:
        self._label = label
        self._stream = stream or sys.stderr
        self._enabled = bool(getattr(self._stream, "isatty", lambda: False)())
        self._started = time.monotonic()
        self._last = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.2 and (total is None or done < total):
            return
        self._last = now
        rate = done / max(now - self._started, 1e-6)
        if total:
            share = min(done / total, 1.0)
            bar = "#" * int(share * 30)
            text = f"{self._label} [{bar:<30}] {share:4.0%} {done}/{total} frames {rate:6.0f} fps"
        else:
            text = f"{self._label} {done} frames {rate:6.0f} fps"
        self._stream.write("\r" + text)
        self._stream.flush()

    def finish(self) -> None:
        if self._enabled:
            self._stream.write("\n")
            self._stream.flush()
