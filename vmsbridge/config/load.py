"""Reading a site file: TOML into the models, then the checks that need the whole file.

Every problem in a file is reported at once, each addressed by its key path
(``locations[3].clery_geography``), so an operator fixes a file in one pass.
"""

from __future__ import annotations

__all__ = ["ConnectorKind", "default_config_path", "installed_kinds", "load_site_config", "parse_site_config"]

import tomllib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, cast

from pydantic import ValidationError

from vmsbridge.capabilities import ALARMS, connectors_offering
from vmsbridge.config.base import format_path
from vmsbridge.config.connectors import ConnectorConfig, ConnectorsConfig
from vmsbridge.config.rules import CaptureClip, PtzGoto, XProtectAlarm, XProtectUserEvent
from vmsbridge.config.site import SiteConfig
from vmsbridge.errors import ConfigError, ConfigProblem
from vmsbridge.model import CleryGeography

_SECRET_WORDS = ("password", "secret", "token_value", "api_key", "apikey")


class ConnectorKind(Protocol):
    """What reading a site file needs of a connector plug-in (``vmsbridge.plugins.ConnectorPlugin``)."""

    kind: str
    capabilities: frozenset[str]  # what its connectors can do (``vmsbridge.capabilities``)

    def config_model(self) -> type[ConnectorConfig]:
        """The model of one ``[[connectors.<kind>]]`` table."""
        ...

    def check(self, site: SiteConfig) -> Iterable[ConfigProblem]:
        """Problems only this kind knows about, once every section has been read."""
        ...


def default_config_path() -> Path:
    """The example campus shipped inside the package (also at ``examples/campus.toml``)."""
    return Path(str(resources.files("vmsbridge").joinpath("data/campus.toml")))


def load_site_config(path: Path) -> SiteConfig:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, [ConfigProblem("", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, [ConfigProblem("", f"cannot read: {exc}")]) from None
    return parse_site_config(text, source)


def parse_site_config(
    text: str, source: str = "<config>", kinds: Mapping[str, ConnectorKind] | None = None
) -> SiteConfig:
    """A checked site; each ``[[connectors.<kind>]]`` is read, then checked, by the installed
    plug-in of that kind (or the one in ``kinds``)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [ConfigProblem("", f"not valid TOML: {exc}")]) from None
    except RecursionError:  # tomllib reads nested arrays and inline tables recursively
        raise ConfigError(
            source, [ConfigProblem("", "arrays or inline tables nested too deeply to read")]
        ) from None
    problems: list[ConfigProblem] = []
    tables = _connector_tables(data, problems)
    if kinds is None:
        kinds = installed_kinds() if tables else {}
    try:
        site = SiteConfig.model_validate(data)
    except ValidationError as exc:
        problems += [_problem_from_pydantic(err) for err in exc.errors()]
    by_kind = {kind: _parse_kind(kind, found, kinds, problems) for kind, found in tables.items()}
    if problems:
        raise ConfigError(source, problems)
    site = site.model_copy(update={"connectors": ConnectorsConfig(by_kind)})
    problems = [*_cross_check(site), *_check_rules(site, kinds)]
    for kind in site.connectors.configured():
        problems += kinds[kind].check(site)
    if problems:
        raise ConfigError(source, problems)
    return site


def installed_kinds() -> dict[str, ConnectorKind]:
    """The installed connector plug-ins, as reading a site file needs them."""
    from vmsbridge.entry_points import CONNECTORS, load_group

    return cast("dict[str, ConnectorKind]", load_group(CONNECTORS))


def _connector_tables(data: dict[str, Any], problems: list[ConfigProblem]) -> dict[str, Any]:
    """Take ``[connectors]`` out of ``data``: its kinds are read by their plug-ins' models."""
    connectors = data.pop("connectors", {})
    if not isinstance(connectors, dict):
        problems.append(ConfigProblem("connectors", "expected [[connectors.<kind>]] tables"))
        return {}
    return connectors


def _parse_kind(
    kind: str, found: Any, kinds: Mapping[str, ConnectorKind], problems: list[ConfigProblem]
) -> tuple[ConnectorConfig, ...]:
    plugin = kinds.get(kind)
    if plugin is None:
        known = ", ".join(sorted(kinds)) or "none"
        problems.append(ConfigProblem(f"connectors.{kind}", f"unknown connector kind (installed: {known})"))
        return ()
    if not isinstance(found, list) or not all(isinstance(table, dict) for table in found):
        problems.append(ConfigProblem(f"connectors.{kind}", f"expected [[connectors.{kind}]] tables"))
        return ()
    model = plugin.config_model()
    parsed = []
    for i, table in enumerate(found):
        try:
            parsed.append(model.model_validate(table))
        except ValidationError as exc:
            problems += [
                _problem_from_pydantic({**err, "loc": ("connectors", kind, i, *err["loc"])})
                for err in exc.errors()
            ]
    return tuple(parsed)


def _problem_from_pydantic(err: Any) -> ConfigProblem:
    loc = tuple(err["loc"])
    path = format_path(loc)
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "missing":
        return ConfigProblem(path, "required key is missing")
    if kind == "extra_forbidden":
        key = str(loc[-1]).lower() if loc else ""
        if any(word in key for word in _SECRET_WORDS):
            return ConfigProblem(
                path,
                "secrets are never stored in the config file: name an environment variable with "
                "'password_env' or a file with 'password_file'",
            )
        return ConfigProblem(path, "unknown key (check the spelling against examples/campus.toml)")
    if kind in ("enum", "literal_error"):
        return ConfigProblem(path, f"{value!r} is not one of {ctx.get('expected', '')}")
    message = str(err["msg"])
    message = message.removeprefix("Value error, ")
    if isinstance(value, dict | list) or value is None:
        return ConfigProblem(path, message)
    return ConfigProblem(path, f"{value!r}: {message}")


def _duplicates(ids: Iterable[str]) -> set[str]:
    return {value for value, n in Counter(ids).items() if n > 1}


def _check_rules(site: SiteConfig, kinds: Mapping[str, ConnectorKind]) -> Iterator[ConfigProblem]:
    """Rules may only name things the site has; each problem carries the rule's key path."""
    location_ids = {loc.id for loc in site.locations}
    for i, loc in enumerate(site.locations):
        for j, other in enumerate(loc.adjacent):
            if other not in location_ids or other == loc.id:
                yield ConfigProblem(f"locations[{i}].adjacent[{j}]", f"{other!r} is not another location id")
    cameras = {c.id: c for c in site.cameras}
    devices = (
        set(cameras)
        | {p.id for p in site.phones}
        | {d.id for d in site.doors}
        | {m.id for m in site.io_modules}
    )
    alarm_ids = connectors_offering(ALARMS, site.connectors.configured(), kinds)
    for i, rule in enumerate(site.rules.custom):
        path = f"rules.custom[{i}]"
        for j, device in enumerate(rule.devices):
            if device not in devices:
                yield ConfigProblem(f"{path}.devices[{j}]", f"{device!r} is not a device id")
        for j, where in enumerate(rule.locations):
            if where not in location_ids:
                yield ConfigProblem(f"{path}.locations[{j}]", f"{where!r} is not a location id")
        for j, action in enumerate(rule.actions):
            at = f"{path}.actions[{j}]"
            if isinstance(action, PtzGoto) and action.camera != "phone":
                camera = cameras.get(action.camera)
                if camera is None or not camera.ptz:
                    yield ConfigProblem(f"{at}.camera", f"{action.camera!r} is not a PTZ camera id")
                elif action.preset not in camera.presets:
                    yield ConfigProblem(
                        f"{at}.preset", f"{action.preset!r} is not a preset of {action.camera!r}"
                    )
            if isinstance(action, CaptureClip) and isinstance(action.cameras, list):
                for k, cam in enumerate(action.cameras):
                    if cam not in cameras:
                        yield ConfigProblem(f"{at}.cameras[{k}]", f"{cam!r} is not a camera id")
            if isinstance(action, XProtectAlarm | XProtectUserEvent):
                if action.connector is not None and action.connector not in alarm_ids:
                    offering = ", ".join(repr(i) for i in alarm_ids) or "none"
                    yield ConfigProblem(
                        f"{at}.connector",
                        f"{action.connector!r} is not a connector that raises alarms ({offering})",
                    )
                elif action.connector is None and len(alarm_ids) != 1:
                    yield ConfigProblem(
                        f"{at}.connector",
                        f"name the connector to raise it in ({len(alarm_ids)} raise alarms here)",
                    )
    for dup in sorted(_duplicates([*site.rules.templates, *(r.name for r in site.rules.custom)])):
        yield ConfigProblem("rules", f"rule name {dup!r} is used more than once")


def _cross_check(site: SiteConfig) -> Iterator[ConfigProblem]:
    """Checks that need the whole file: references between sections, unique ids."""
    location_ids = {loc.id for loc in site.locations}
    for i, loc in enumerate(site.locations):
        if loc.student_housing and loc.clery_geography is not CleryGeography.ON_CAMPUS:
            yield ConfigProblem(
                f"locations[{i}].student_housing",
                f"true is only allowed for on_campus locations (this one is {loc.clery_geography.value})",
            )
    for dup in sorted(_duplicates(loc.id for loc in site.locations)):
        yield ConfigProblem("locations", f"id {dup!r} is used more than once")

    devices: list[tuple[str, str, str]] = []  # (section, id, location)
    devices += [("cameras", c.id, c.location) for c in site.cameras]
    devices += [("phones", p.id, p.location) for p in site.phones]
    devices += [("doors", d.id, d.location) for d in site.doors]
    devices += [("io_modules", m.id, m.location) for m in site.io_modules]
    for dup in sorted(_duplicates(d[1] for d in devices)):
        yield ConfigProblem("devices", f"id {dup!r} is used by more than one camera/phone/door/io_module")
    index: Counter[str] = Counter()
    for section, device_id, location in devices:
        i = index[section]
        index[section] += 1
        if location not in location_ids:
            yield ConfigProblem(
                f"{section}[{i}].location", f"{location!r} is not a location id (device {device_id})"
            )

    configured = site.connectors.configured()
    connector_ids = {c.id for found in configured.values() for c in found}
    for dup in sorted(_duplicates(c.id for found in configured.values() for c in found)):
        yield ConfigProblem("connectors", f"id {dup!r} is used more than once")
    for kind, found in configured.items():
        for i, src in enumerate(found):
            if (src.password_env is None) == (src.password_file is None):
                yield ConfigProblem(
                    f"connectors.{kind}[{i}]", "set exactly one of 'password_env' or 'password_file'"
                )
            if src.location is not None and src.location not in location_ids:
                yield ConfigProblem(
                    f"connectors.{kind}[{i}].location", f"{src.location!r} is not a location id"
                )

    cameras = {c.id: c for c in site.cameras}
    for i, cam in enumerate(site.cameras):
        path = f"cameras[{i}]"
        if cam.source.connector not in connector_ids:
            yield ConfigProblem(f"{path}.source.connector", f"{cam.source.connector!r} is not a connector id")
        if cam.presets and not cam.ptz:
            yield ConfigProblem(f"{path}.presets", "presets need 'ptz = true'")
        for dup in sorted(_duplicates(m.label for m in cam.masks)):
            yield ConfigProblem(f"{path}.masks", f"label {dup!r} is used by more than one mask")

    for i, phone in enumerate(site.phones):
        path = f"phones[{i}]"
        if phone.camera is None:
            if phone.preset is not None:
                yield ConfigProblem(f"{path}.preset", "a preset needs 'camera'")
            continue
        cam_or_none = cameras.get(phone.camera)
        if cam_or_none is None:
            yield ConfigProblem(f"{path}.camera", f"{phone.camera!r} is not a camera id")
        elif phone.preset is not None:
            if not cam_or_none.ptz:
                yield ConfigProblem(f"{path}.camera", f"{phone.camera!r} is not a PTZ camera")
            elif phone.preset not in cam_or_none.presets:
                known = ", ".join(repr(p) for p in cam_or_none.presets) or "none"
                yield ConfigProblem(
                    f"{path}.preset", f"{phone.preset!r} is not a preset of {phone.camera!r} ({known})"
                )

    device_ids = {d[1] for d in devices}
    for i, door in enumerate(site.doors):
        if door.connector not in connector_ids:
            yield ConfigProblem(f"doors[{i}].connector", f"{door.connector!r} is not a connector id")
        if door.camera is not None and door.camera not in cameras:
            yield ConfigProblem(f"doors[{i}].camera", f"{door.camera!r} is not a camera id")
    for i, module in enumerate(site.io_modules):
        if module.connector not in connector_ids:
            yield ConfigProblem(f"io_modules[{i}].connector", f"{module.connector!r} is not a connector id")
        for dup in sorted(_duplicates(inp.token for inp in module.inputs)):
            yield ConfigProblem(f"io_modules[{i}].inputs", f"token {dup!r} is mapped more than once")
        for j, inp in enumerate(module.inputs):
            if inp.device not in device_ids:
                yield ConfigProblem(
                    f"io_modules[{i}].inputs[{j}].device", f"{inp.device!r} is not a device id"
                )
