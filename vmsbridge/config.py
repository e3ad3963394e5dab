"""Site configuration: a TOML file read into strict pydantic models, checked as a whole.

Every problem in a file is reported at once, each addressed by its key path
(``locations[3].clery_geography``), so an operator fixes a file in one pass. Secrets are never
in the file: connector sections name an environment variable (``password_env``) or a file
(``password_file``) and :func:`resolve_secret` reads it when the connector starts.
"""

from __future__ import annotations

__all__ = [
    "Camera",
    "CameraSource",
    "CorrelationConfig",
    "Door",
    "EmergencyPhone",
    "HealthConfig",
    "IoInput",
    "IoModule",
    "Location",
    "OnvifSource",
    "SiteConfig",
    "SiteDirectory",
    "StorageConfig",
    "XProtectSource",
    "default_config_path",
    "load_site_config",
    "parse_site_config",
    "read_secret_file",
    "resolve_secret",
]

import os
import tomllib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vmsbridge.errors import ConfigError, ConfigProblem
from vmsbridge.model import CleryGeography, EventKind
from vmsbridge.rules.spec import CaptureClip, PtzGoto, RulesConfig, XProtectAlarm, XProtectUserEvent

Identifier = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9._-]*$",
        description="lower-case letters, digits, '.', '_' or '-'",
    ),
]

_SECRET_WORDS = ("password", "secret", "token_value", "api_key", "apikey")


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class SiteInfo(ConfigModel):
    name: str = Field(min_length=1, description="institution or campus name")
    timezone: str = Field(description="IANA zone of the institution, e.g. 'America/Chicago'")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone name such as 'America/New_York'") from None
        return value


class StorageConfig(ConfigModel):
    db_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite in data_dir")
    data_dir: Path | None = Field(None, description="where the SQLite database and evidence live")


class RetentionConfig(ConfigModel):
    """How long evidence of closed incidents (not on legal hold) is kept before it may be disposed of."""

    original_days: int = Field(1095, ge=1, le=36_500)
    derived_days: int = Field(365, ge=1, le=36_500)


class EvidenceConfig(ConfigModel):
    store_dir: Path | None = Field(
        None, description="content-addressed evidence store (default: <data dir>/evidence)"
    )
    signing_key: Path | None = Field(
        None, description="Ed25519 private key (PEM) that signs exported packets"
    )
    originals_for: list[str] = Field(
        default_factory=list, description="actors whose role allows originals of victim-sensitive incidents"
    )
    retention: RetentionConfig = RetentionConfig()
    audit_every: str = Field(
        "24h",
        description="how often a running bridge re-hashes the whole evidence store ('24h', '90m', "
        "'7d'; at least 10m), counted from the last audit; 'off' turns it off",
    )

    @field_validator("audit_every")
    @classmethod
    def _audit_every(cls, value: str) -> str:
        from vmsbridge.evidence_audit import parse_every

        parse_every(value)  # ValueError says what is expected
        return value


class CleryConfig(ConfigModel):
    closures: list[str] = Field(
        default_factory=list,
        description="days the institution is closed besides weekends and US federal holidays: "
        "'YYYY-MM-DD' or 'YYYY-MM-DD..YYYY-MM-DD'",
    )

    @field_validator("closures")
    @classmethod
    def _closures_parse(cls, value: list[str]) -> list[str]:
        from vmsbridge.clery.calendar import parse_closures

        parse_closures(value)  # ValueError names the entry
        return value


class CorrelationConfig(ConfigModel):
    window_seconds: int = Field(
        600, ge=1, le=86_400, description="largest gap between events that still joins one incident"
    )
    quiet_close_seconds: int = Field(
        1_800, ge=60, le=7 * 86_400, description="an incident with no new event for this long closes"
    )


class HealthConfig(ConfigModel):
    """Camera-health alerts and the bridge's own heartbeat (see vmsbridge.health)."""

    offline_after_seconds: int = Field(
        300, ge=10, le=7 * 86_400, description="a camera down this long raises camera.offline"
    )
    recover_after_seconds: int = Field(
        60, ge=1, le=86_400, description="a camera must be up this long before camera.online (hysteresis)"
    )
    heartbeat_seconds: int = Field(
        30, ge=1, le=3_600, description="how often a running bridge records that it is alive"
    )
    digest_at: str = Field(
        "07:00",
        description="site-local time (HH:MM) at which a running bridge writes the daily digest; "
        "'' or 'off' turns it off",
    )
    digest_dir: Path | None = Field(
        None, description="where the daily digest files go (default: <data dir>/health-digests)"
    )

    @field_validator("digest_at")
    @classmethod
    def _digest_time(cls, value: str) -> str:
        from vmsbridge.health.schedule import parse_digest_time

        parse_digest_time(value)  # ValueError says what is expected
        return value


class Location(ConfigModel):
    id: Identifier
    name: str = Field(min_length=1)
    clery_geography: CleryGeography
    student_housing: bool = False
    public_label: str = Field(min_length=1, description="general location text safe for the public log")
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    adjacent: list[Identifier] = Field(
        default_factory=list, description="locations next to this one: their events may join its incidents"
    )


class SecretSource(ConfigModel):
    password_env: str | None = Field(None, description="environment variable holding the password")
    password_file: Path | None = Field(None, description="file holding the password (first line)")


class OnvifSource(SecretSource):
    id: Identifier
    host: str = Field(min_length=1)
    port: int = Field(80, ge=1, le=65_535)
    username: str = Field(min_length=1)
    location: Identifier | None = Field(
        None, description="where the device is installed; its own events (unknown topics) are filed there"
    )
    subscription_seconds: int = Field(600, ge=10, le=86_400, description="PullPoint lifetime asked for")
    pull_timeout_seconds: int = Field(20, ge=1, le=300, description="PullMessages long-poll Timeout")
    message_limit: int = Field(100, ge=1, le=1_000, description="PullMessages MessageLimit")
    health_interval_seconds: float = Field(30, ge=0.05, le=3_600, description="seconds between health probes")


class XProtectSource(SecretSource):
    id: Identifier
    url: str = Field(pattern=r"^https?://", description="API Gateway base URL")
    username: str = Field(min_length=1)
    ca_file: Path | None = Field(None, description="CA bundle for the gateway's TLS certificate")
    insecure_skip_verify: bool = Field(False, description="labs only: do not verify TLS")
    location: Identifier | None = Field(
        None, description="where the VMS's own events (user-defined, gaps) are filed"
    )
    alarm_poll_seconds: float = Field(
        10, ge=0.05, le=3_600, description="how often to look for new VMS alarms"
    )
    ptz_task: str | None = Field(
        None, description="REST task id for go-to-preset (default: discovered with ?tasks)"
    )
    export_folder: Path | None = Field(None, description="drop folder where XProtect video exports land")
    export_wait_seconds: float = Field(
        120, ge=0, le=3_600, description="how long to wait for an export to appear"
    )


class ConnectorsConfig(ConfigModel):
    onvif: list[OnvifSource] = []
    xprotect: list[XProtectSource] = []


class CameraSource(ConfigModel):
    connector: Identifier = Field(description="id of an [[connectors.onvif]] or [[connectors.xprotect]]")
    profile: str | None = Field(None, description="ONVIF media profile token")
    camera_id: str | None = Field(None, description="XProtect camera id (GUID)")


class CameraMask(ConfigModel):
    """A privacy mask: ``permanent`` is always applied; ``liftable`` unless a lift is in force."""

    label: str = Field(min_length=1, description="name a lift refers to, e.g. 'dorm-windows'")
    kind: Literal["permanent", "liftable"]
    polygon: str = Field(description='"x1,y1 x2,y2 x3,y3 ..." in pixels of the camera\'s frame')

    @field_validator("polygon")
    @classmethod
    def _parses(cls, value: str) -> str:
        from analytics.geometry import parse_polygon

        parse_polygon(value)  # ValueError names what is wrong
        return value


class Camera(ConfigModel):
    id: Identifier
    name: str = Field(min_length=1)
    location: Identifier
    source: CameraSource
    ptz: bool = False
    presets: dict[str, str] = Field(default_factory=dict, description="preset name -> device preset token")
    masks: list[CameraMask] = Field(default_factory=list, description="privacy masks applied to its footage")
    vms_camera_id: str | None = Field(
        None,
        description="its XProtect camera id when the VMS also records a camera the bridge controls directly",
    )


class EmergencyPhone(ConfigModel):
    id: Identifier
    name: str = Field(min_length=1)
    location: Identifier
    camera: Identifier | None = Field(None, description="PTZ camera that covers this phone")
    preset: str | None = Field(None, description="that camera's preset name aimed at the phone")


class Door(ConfigModel):
    id: Identifier
    name: str = Field(min_length=1)
    location: Identifier
    connector: Identifier = Field(description="access-control source reporting this door")
    token: str = Field(min_length=1, description="door token on the access controller / VMS")
    access_point: str | None = Field(None, description="token of its reader's access point (default: token)")
    camera: Identifier | None = None

    @property
    def access_point_token(self) -> str:
        return self.access_point or self.token


class IoInput(ConfigModel):
    token: str = Field(min_length=1, description="input token on the I/O module, e.g. 'DI1'")
    device: Identifier = Field(description="the site device this input belongs to")
    active: EventKind = Field(description="what the input going active means, e.g. 'phone.offhook'")
    inactive: EventKind | None = Field(None, description="what it going inactive means")


class IoModule(ConfigModel):
    id: Identifier
    name: str = Field(min_length=1)
    location: Identifier
    connector: Identifier
    inputs: list[IoInput] = []


class WebhookSinkConfig(ConfigModel):
    url: str = Field(pattern=r"^https?://", description="where each CAP message is POSTed")
    secret_env: str | None = Field(
        None, description="environment variable with a shared secret: the body is signed (HMAC-SHA256)"
    )
    max_attempts: int = Field(8, ge=1, le=100, description="after this many failures a delivery is 'failed'")
    timeout_seconds: float = Field(10, gt=0, le=300)


class SmtpSinkConfig(ConfigModel):
    host: str = Field(min_length=1)
    port: int = Field(25, ge=1, le=65_535)
    from_address: str = Field(alias="from", pattern=r"^[^@\s]+@[^@\s]+$", description="envelope sender")
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(min_length=1)
    username: str | None = Field(None, description="log in as this user (password from password_env)")
    password_env: str | None = Field(None, description="environment variable holding the SMTP password")
    starttls: bool = False
    max_attempts: int = Field(8, ge=1, le=100)
    timeout_seconds: float = Field(30, gt=0, le=300)


class NotificationSinksConfig(ConfigModel):
    directory: Path | None = Field(
        None, description="every CAP message is written here as <identifier>.xml (default: <data dir>/cap)"
    )
    webhook: WebhookSinkConfig | None = None
    smtp: SmtpSinkConfig | None = None


class NotificationsConfig(ConfigModel):
    """Timely warnings and emergency notifications, issued as CAP 1.2 messages."""

    sender: str = Field(
        "vmsbridge@localhost",
        pattern=r"^[^\s,<&]+$",
        description="CAP sender id, e.g. 'police@campus.example.edu' (no spaces, commas, '<' or '&')",
    )
    sender_name: str | None = Field(None, description="the issuing office's name (default: [site] name)")
    how_to_report: str = Field("Report information to Campus Police; in an emergency call 911.", min_length=1)
    safety_tips: list[str] = Field(
        default_factory=lambda: [
            "Be aware of your surroundings and walk with others at night.",
            "Lock doors and windows and do not prop open secured doors.",
        ]
    )
    circle_radius_km: float = Field(0.2, gt=0, le=100, description="alert circle around a location's lat/lon")
    areas: dict[str, str] = Field(
        default_factory=dict,
        description="location id -> CAP polygon 'lat,lon lat,lon ...' (closed, 4+ points), used "
        "instead of the circle",
    )
    sinks: NotificationSinksConfig = NotificationSinksConfig()

    @field_validator("areas")
    @classmethod
    def _polygons_parse(cls, value: dict[str, str]) -> dict[str, str]:
        from vmsbridge.clery.cap import parse_polygon

        for location_id, polygon in value.items():
            try:
                parse_polygon(polygon)
            except ValueError as exc:
                raise ValueError(f"{location_id}: {exc}") from None
        return value


class SiteConfig(ConfigModel):
    site: SiteInfo
    storage: StorageConfig = StorageConfig()
    correlation: CorrelationConfig = CorrelationConfig()
    health: HealthConfig = HealthConfig()
    evidence: EvidenceConfig = EvidenceConfig()
    clery: CleryConfig = CleryConfig()
    notifications: NotificationsConfig = NotificationsConfig()
    locations: list[Location] = Field(min_length=1)
    cameras: list[Camera] = []
    phones: list[EmergencyPhone] = []
    doors: list[Door] = []
    io_modules: list[IoModule] = []
    connectors: ConnectorsConfig = ConnectorsConfig()
    rules: RulesConfig = RulesConfig()


@dataclass(frozen=True)
class DeviceEntry:
    id: str
    kind: Literal["camera", "phone", "door", "io_module", "connector"]
    location_id: str


class SiteDirectory:
    """Lookups derived once from a checked :class:`SiteConfig`."""

    def __init__(self, site: SiteConfig) -> None:
        self.site = site
        self.locations = {loc.id: loc for loc in site.locations}
        # Adjacency goes both ways: a location lists its neighbours, and is theirs.
        neighbours: dict[str, set[str]] = {loc.id: set() for loc in site.locations}
        for loc in site.locations:
            for other in loc.adjacent:
                if other in neighbours and other != loc.id:
                    neighbours[loc.id].add(other)
                    neighbours[other].add(loc.id)
        self.adjacent = {loc_id: frozenset(ids) for loc_id, ids in neighbours.items()}
        entries: list[DeviceEntry] = [DeviceEntry(c.id, "camera", c.location) for c in site.cameras]
        entries += [DeviceEntry(p.id, "phone", p.location) for p in site.phones]
        entries += [DeviceEntry(d.id, "door", d.location) for d in site.doors]
        entries += [DeviceEntry(m.id, "io_module", m.location) for m in site.io_modules]
        # An ONVIF device reports things about itself too (unknown topics); with a location it can.
        entries += [DeviceEntry(o.id, "connector", o.location) for o in site.connectors.onvif if o.location]
        entries += [
            DeviceEntry(x.id, "connector", x.location) for x in site.connectors.xprotect if x.location
        ]
        self.devices = {e.id: e for e in entries}
        self.device_names: dict[str, str] = {c.id: c.name for c in site.cameras}
        self.device_names |= {p.id: p.name for p in site.phones}
        self.device_names |= {d.id: d.name for d in site.doors}
        self.device_names |= {m.id: m.name for m in site.io_modules}

    def location_of(self, device_id: str) -> str | None:
        entry = self.devices.get(device_id)
        return entry.location_id if entry else None


# ---------------------------------------------------------------------------------------------
# loading and checking


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


def parse_site_config(text: str, source: str = "<config>") -> SiteConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [ConfigProblem("", f"not valid TOML: {exc}")]) from None
    except RecursionError:  # tomllib reads nested arrays and inline tables recursively
        raise ConfigError(
            source, [ConfigProblem("", "arrays or inline tables nested too deeply to read")]
        ) from None
    try:
        site = SiteConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, [_problem_from_pydantic(err) for err in exc.errors()]) from None
    problems = [*_cross_check(site), *_check_rules(site)]
    if problems:
        raise ConfigError(source, problems)
    return site


def resolve_secret(owner_path: str, holder: SecretSource, env: dict[str, str] | None = None) -> str:
    """Read a connector's password from the environment or a file; never from the config itself."""
    environ = os.environ if env is None else env
    if holder.password_env is not None:
        value = environ.get(holder.password_env)
        if not value:
            raise ConfigError(
                owner_path,
                [
                    ConfigProblem(
                        f"{owner_path}.password_env", f"environment variable {holder.password_env} is not set"
                    )
                ],
            )
        return value
    if holder.password_file is not None:
        try:
            return read_secret_file(holder.password_file)
        except ValueError as exc:
            raise ConfigError(owner_path, [ConfigProblem(f"{owner_path}.password_file", str(exc))]) from None
    raise ConfigError(owner_path, [ConfigProblem(owner_path, "no password_env or password_file")])


def read_secret_file(path: Path) -> str:
    """The first line of a file holding a secret; ValueError naming the file (never the secret)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ValueError(f"{path} has no secret on its first line")
    return lines[0].strip()


def format_path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


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
    connector_ids = onvif_ids | xprotect_ids
    for dup in sorted(
        _duplicates([s.id for s in site.connectors.onvif] + [s.id for s in site.connectors.xprotect])
    ):
        yield ConfigProblem("connectors", f"id {dup!r} is used more than once")
    for section, sources in (
        ("connectors.onvif", site.connectors.onvif),
        ("connectors.xprotect", site.connectors.xprotect),
    ):
        for i, src in enumerate(sources):
            if (src.password_env is None) == (src.password_file is None):
                yield ConfigProblem(f"{section}[{i}]", "set exactly one of 'password_env' or 'password_file'")

    placed = [("connectors.onvif", i, o.location) for i, o in enumerate(site.connectors.onvif)]
    placed += [("connectors.xprotect", i, x.location) for i, x in enumerate(site.connectors.xprotect)]
    for section, i, where in placed:
        if where is not None and where not in location_ids:
            yield ConfigProblem(f"{section}[{i}].location", f"{where!r} is not a location id")
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
