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

from vmsbridge.config.base import format_path
from vmsbridge.config.connectors import BUILT_IN_KINDS, ConnectorConfig
from vmsbridge.config.rules import CaptureClip, PtzGoto, XProtectAlarm, XProtectUserEvent
from vmsbridge.config.site import SiteConfig
from vmsbridge.errors import ConfigError, ConfigProblem
from vmsbridge.model import CleryGeography

_SECRET_WORDS = ("password", "secret", "token_value", "api_key", "apikey")


class ConnectorKind(Protocol):
    """What reading a site file needs of a connector plug-in (``vmsbridge.plugins.ConnectorPlugin``)."""

    kind: str

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
    """A checked site; ``[[connectors.<kind>]]`` of a kind not built in is read by the installed
    plug-in of that kind (or the one in ``kinds``)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [ConfigProblem("", f"not valid TOML: {exc}")]) from None
    except RecursionError:  # tomllib reads nested arrays and inline tables recursively
        raise ConfigError(
            source, [ConfigProblem("", "arrays or inline tables nested too deeply to read")]
        ) from None
    tables = _plugin_tables(data)
    if tables and kinds is None:
        kinds = installed_kinds()
    problems: list[ConfigProblem] = []
    by_kind: dict[str, tuple[ConnectorConfig, ...]] = {}
    try:
        site = SiteConfig.model_validate(data)
    except ValidationError as exc:
        problems += [_problem_from_pydantic(err) for err in exc.errors()]
    for kind, found in tables.items():
        by_kind[kind] = _parse_kind(kind, found, kinds or {}, problems)
    if problems:
        raise ConfigError(source, problems)
    if by_kind:
        site = site.model_copy(update={"connectors": site.connectors.replacing(dict(by_kind))})
    problems = [*_cross_check(site), *_check_rules(site)]
    for kind in site.connectors.by_kind:
        problems += (kinds or {})[kind].check(site)
    if problems:
        raise ConfigError(source, problems)
    return site


def installed_kinds() -> dict[str, ConnectorKind]:
    """The installed connector plug-ins, as reading a site file needs them."""
    from vmsbridge.entry_points import CONNECTORS, load_group

    return cast("dict[str, ConnectorKind]", load_group(CONNECTORS))


def _plugin_tables(data: dict[str, Any]) -> dict[str, Any]:
    """Take the ``[[connectors.<kind>]]`` of kinds that are not built in out of ``data``."""
    connectors = data.get("connectors")
    if not isinstance(connectors, dict):
        return {}  # absent, or not a table: the built-in model says what is wrong
    return {kind: connectors.pop(kind) for kind in list(connectors) if kind not in BUILT_IN_KINDS}


def _parse_kind(
    kind: str, found: Any, kinds: Mapping[str, ConnectorKind], problems: list[ConfigProblem]
) -> tuple[ConnectorConfig, ...]:
    plugin = kinds.get(kind)
    if plugin is None:
        known = ", ".join(sorted({*BUILT_IN_KINDS, *kinds}))
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


def _check_rules(site: SiteConfig) -> Iterator[ConfigProblem]:
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
    xprotect_ids = {x.id for x in site.connectors.xprotect}
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
                if action.connector is not None and action.connector not in xprotect_ids:
                    yield ConfigProblem(
                        f"{at}.connector", f"{action.connector!r} is not an XProtect connector id"
                    )
                elif action.connector is None and len(xprotect_ids) != 1:
                    yield ConfigProblem(
                        f"{at}.connector", f"name the XProtect connector (the site has {len(xprotect_ids)})"
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

    onvif_ids = {s.id for s in site.connectors.onvif}
    xprotect_ids = {s.id for s in site.connectors.xprotect}
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
    profiles = [(c.source.connector, c.source.profile) for c in site.cameras if c.source.profile]
    for dup in sorted(_duplicates(f"{c} {p}" for c, p in profiles)):
        connector, profile = dup.split(" ", 1)
        yield ConfigProblem("cameras", f"media profile {profile!r} is used by two cameras on {connector!r}")
    for connector_id in sorted(onvif_ids):
        tokens = [i.token for m in site.io_modules if m.connector == connector_id for i in m.inputs]
        for dup in sorted(_duplicates(tokens)):
            yield ConfigProblem("io_modules", f"input {dup!r} of connector {connector_id!r} is mapped twice")

    cameras = {c.id: c for c in site.cameras}
    for i, cam in enumerate(site.cameras):
        path = f"cameras[{i}]"
        if cam.source.connector not in connector_ids:
            yield ConfigProblem(f"{path}.source.connector", f"{cam.source.connector!r} is not a connector id")
        elif cam.source.connector in xprotect_ids and not cam.source.camera_id:
            yield ConfigProblem(f"{path}.source.camera_id", "required for a camera on an XProtect connector")
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
