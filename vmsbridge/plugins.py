"""Connector plug-ins: the only core module that knows connectors exist.

A connector package (ONVIF, XProtect, or a third party's) is a distribution that declares an entry
point in the ``vmsbridge.connectors`` group, named after the ``[[connectors.<kind>]]`` tables it
runs, whose object satisfies :class:`ConnectorPlugin`. The core never imports a connector by name:
it finds them here, by entry point, and asks them for the model of their tables, the checks only
they know, event sources, controls, command-line subcommands and emulators. What a kind can do
(alarms, PTZ, clips, ...) it declares in ``capabilities``; rules look connectors up by capability
(:func:`connectors_offering`), never by kind. :class:`ConnectorPackage` is the base of plug-ins
laid out like ONVIF and XProtect, so each states only what differs.

This module loads only the standard library (and ``vmsbridge.errors``) at import time, and so do
the plug-in objects, so that building the command line stays fast.
"""

from __future__ import annotations

__all__ = [
    "GROUP",
    "ConnectorPackage",
    "ConnectorPlugin",
    "ConnectorSet",
    "EmulatedConnectors",
    "EmulatedSite",
    "build_connectors",
    "configured_connectors",
    "connectors_offering",
    "emulated_site",
    "load_plugins",
    "write_secret",
]

import argparse
import importlib
import os
import secrets
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from vmsbridge.capabilities import connectors_offering as _offering
from vmsbridge.entry_points import CONNECTORS, load_group
from vmsbridge.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from vmsbridge.config import SiteConfig, SiteDirectory
    from vmsbridge.config.connectors import ConnectorConfig
    from vmsbridge.controls import Controls
    from vmsbridge.sources import EventSource

GROUP = CONNECTORS
LAB_USER = "vmsbridge-lab"  # the user every emulator accepts; its password is made per run

SubParsers = argparse._SubParsersAction  # argparse has no public name for it


@dataclass
class ConnectorSet:
    """What one connector kind (or all of them together) contributes to a running bridge."""

    sources: list[EventSource]
    controls: Controls  # PTZ, alarms and clips by connector id, and what to close on the way out


@dataclass(frozen=True)
class EmulatedConnectors:
    """One plug-in's emulators, started, and its site connectors pointed at them."""

    connectors: Sequence[ConnectorConfig]  # the site's [[connectors.<kind>]] entries, repointed
    emulator: Any  # the plug-in's own handle: device-level access for the demo, tests and bench
    devices: Mapping[str, Any] = field(default_factory=dict)  # connector id -> the emulated device


class ConnectorPlugin(Protocol):
    """A connector kind, as an entry point in the ``vmsbridge.connectors`` group provides it.

    Only ``kind``, ``summary`` and ``capabilities`` are read without calling; every method imports
    what it needs when called, so loading a plug-in costs nothing.
    """

    kind: str  # the key in [[connectors.<kind>]] and the entry point's name
    summary: str  # one line for listings
    capabilities: frozenset[str]  # a subset of vmsbridge.capabilities.CAPABILITIES

    def config_model(self) -> type[ConnectorConfig]:
        """The model of one ``[[connectors.<kind>]]`` table (imported when called)."""
        ...

    def check(self, site: SiteConfig) -> Iterable[ConfigProblem]:
        """Problems only this kind knows about, once the whole site file has been read."""
        ...

    def build(self, site: SiteConfig, directory: SiteDirectory, work_dir: Path) -> ConnectorSet:
        """Sources and controls for every connector of this kind the site configures."""
        ...

    def add_cli(self, sub: SubParsers[argparse.ArgumentParser]) -> None:
        """Register this kind's ``vmsbridge <kind> ...`` subcommands (argparse only; handlers lazy)."""
        ...

    def add_emulate_cli(self, kinds: SubParsers[argparse.ArgumentParser]) -> None:
        """Register ``vmsbridge emulate <kind>``, or nothing if this kind has no emulator."""
        ...

    def emulate(
        self, site: SiteConfig, clip: Path | None, secret_file: Path, user: str
    ) -> AbstractAsyncContextManager[EmulatedConnectors] | None:
        """Emulators for the site's connectors of this kind, accepting ``user`` and the password in
        ``secret_file``; None when this kind cannot be emulated."""
        ...


def load_plugins() -> dict[str, ConnectorPlugin]:
    """Every installed connector plug-in by kind, sorted; a clash or a broken one is a ConfigError
    naming the distribution that ships it."""
    return cast("dict[str, ConnectorPlugin]", load_group(GROUP))


def configured_connectors(site: SiteConfig) -> dict[str, tuple[ConnectorConfig, ...]]:
    """The site's non-empty ``[[connectors.<kind>]]`` lists, by kind."""
    return site.connectors.configured()


def connectors_offering(
    site: SiteConfig, capability: str, plugins: Mapping[str, ConnectorPlugin] | None = None
) -> list[str]:
    """Ids of the site's connectors whose plug-in declares ``capability`` (one of
    ``vmsbridge.capabilities``), from the installed plug-ins (or ``plugins``)."""
    return _offering(capability, configured_connectors(site), load_plugins() if plugins is None else plugins)


class ConnectorPackage(ABC):
    """A plug-in whose parts live in one package, by name, imported when first asked for.

    A subclass states ``kind``, ``summary``, ``capabilities`` and ``package``, and writes ``build``
    (and ``emulate`` if it has emulators). The rest is found in the package:

    * ``<package>.config``: ``MODEL``, the model of one ``[[connectors.<kind>]]`` table, and
      ``check(site)``, the problems only this kind knows about;
    * ``<package>.cli``: ``add_parser(sub)`` for ``vmsbridge <kind> ...`` and, when the kind has an
      emulator, ``add_emulate_parser(kinds)`` for ``vmsbridge emulate <kind>``.

    Nothing is imported before a method is called, so loading the plug-in keeps the command line fast.
    """

    kind: str
    summary: str
    capabilities: frozenset[str]
    package: str  # e.g. "connectors.onvif"

    def _part(self, module: str, name: str) -> Any:
        return getattr(importlib.import_module(f"{self.package}.{module}"), name)

    def config_model(self) -> type[ConnectorConfig]:
        return cast("type[ConnectorConfig]", self._part("config", "MODEL"))

    def check(self, site: SiteConfig) -> Iterable[ConfigProblem]:
        return cast("Iterable[ConfigProblem]", self._part("config", "check")(site))

    @abstractmethod
    def build(self, site: SiteConfig, directory: SiteDirectory, work_dir: Path) -> ConnectorSet:
        """Sources and controls for every connector of this kind the site configures."""

    def add_cli(self, sub: SubParsers[argparse.ArgumentParser]) -> None:
        self._part("cli", "add_parser")(sub)

    def add_emulate_cli(self, kinds: SubParsers[argparse.ArgumentParser]) -> None:
        cli = importlib.import_module(f"{self.package}.cli")
        if hasattr(cli, "add_emulate_parser"):
            cli.add_emulate_parser(kinds)

    def emulate(
        self, site: SiteConfig, clip: Path | None, secret_file: Path, user: str
    ) -> AbstractAsyncContextManager[EmulatedConnectors] | None:
        return None


def _with_connectors(site: SiteConfig, by_kind: Mapping[str, Sequence[ConnectorConfig]]) -> SiteConfig:
    return site.model_copy(update={"connectors": site.connectors.replacing(dict(by_kind))})


def _runnable(site: SiteConfig, plugins: Mapping[str, ConnectorPlugin]) -> list[ConnectorPlugin]:
    configured = configured_connectors(site)
    missing = sorted(set(configured) - set(plugins))
    if missing:
        installed = ", ".join(plugins) or "none"
        raise ConfigError(
            "connectors",
            [
                ConfigProblem(
                    f"connectors.{kind}", f"no installed plug-in runs this kind (installed: {installed})"
                )
                for kind in missing
            ],
        )
    return [plugins[kind] for kind in sorted(configured)]


def build_connectors(
    site: SiteConfig,
    directory: SiteDirectory,
    work_dir: Path,
    plugins: Mapping[str, ConnectorPlugin] | None = None,
) -> ConnectorSet:
    """Sources and controls for every connector the site configures, from the installed plug-ins
    (or ``plugins``); a configured kind that no plug-in runs is a ConfigError."""
    from vmsbridge.controls import Controls

    chosen = _runnable(site, load_plugins() if plugins is None else plugins)
    built = ConnectorSet(sources=[], controls=Controls())
    for plugin in chosen:
        part = plugin.build(site, directory, work_dir)
        built.sources.extend(part.sources)
        built.controls.merge(part.controls)
    return built


@dataclass
class EmulatedSite:
    """A site whose connectors point at emulators on loopback, and those emulators."""

    site: SiteConfig  # the configuration pointed at the emulators
    emulators: dict[str, Any]  # by kind: each plug-in's handle
    devices: dict[str, Any]  # by connector id

    def device(self, connector_id: str) -> Any:
        try:
            return self.devices[connector_id]
        except KeyError:
            raise KeyError(f"no emulated device {connector_id!r}; devices: {sorted(self.devices)}") from None

    def __getattr__(self, kind: str) -> Any:
        # ``lab.onvif``, ``lab.xprotect``: the handle of the plug-in of that kind.
        if kind.startswith("_") or kind == "emulators":
            raise AttributeError(kind)
        try:
            return self.emulators[kind]
        except KeyError:
            raise AttributeError(
                f"no {kind!r} connectors are emulated; kinds: {sorted(self.emulators)}"
            ) from None


def write_secret(path: Path, secret: str) -> None:
    """``secret`` and a newline in ``path``, readable by its owner only from the start."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file already there keeps its mode otherwise
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secret + "\n")


@asynccontextmanager
async def emulated_site(
    site: SiteConfig,
    clip: Path | None,
    secrets_dir: Path,
    plugins: Mapping[str, ConnectorPlugin] | None = None,
) -> AsyncIterator[EmulatedSite]:
    """Every plug-in's emulators for ``site`` on loopback, and the site pointed at them.

    The bridge then runs its real clients over real traffic. The emulators accept ``LAB_USER`` and
    a one-time password kept in ``secrets_dir/lab-password`` (mode 0600).
    """
    import asyncio

    plugins = load_plugins() if plugins is None else plugins
    _runnable(site, plugins)
    password = secrets.token_urlsafe(18)
    secret_file = secrets_dir / "lab-password"
    await asyncio.to_thread(write_secret, secret_file, password)
    configured = configured_connectors(site)
    async with AsyncExitStack() as stack:
        emulators: dict[str, Any] = {}
        devices: dict[str, Any] = {}
        repointed: dict[str, Sequence[ConnectorConfig]] = {}
        for kind, plugin in plugins.items():
            emulating = plugin.emulate(site, clip, secret_file, LAB_USER)
            if emulating is None:
                if kind in configured:
                    raise ConfigError(
                        "connectors",
                        [ConfigProblem(f"connectors.{kind}", "its plug-in has no emulator for a lab run")],
                    )
                continue
            emulated = await stack.enter_async_context(emulating)
            emulators[kind] = emulated.emulator
            devices.update(emulated.devices)
            if kind in configured:
                repointed[kind] = emulated.connectors
        yield EmulatedSite(_with_connectors(site, repointed), emulators, devices)
