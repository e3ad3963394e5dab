"""Site configuration: a TOML file read into strict pydantic models, checked as a whole.

Every problem in a file is reported at once, each addressed by its key path
(``locations[3].clery_geography``), so an operator fixes a file in one pass. Secrets are never
in the file: connector sections name an environment variable (``password_env``) or a file
(``password_file``) and :func:`resolve_secret` reads it when the connector starts.

One module per section (``site``, ``devices``, ``connectors``, ``notifications``, ``clery``,
``health``, ``evidence``, ``rules``), each with the parsers its values need, so reading a site
file needs no service; ``load`` reads and cross-checks a file, ``directory`` derives lookups from
it. Everything is re-exported here: ``from vmsbridge.config import SiteConfig``. The model of each
``[[connectors.<kind>]]`` is not here: the plug-in of that kind brings it (``connectors.*.config``).
"""

from __future__ import annotations

__all__ = [
    "TEMPLATE_NAMES",
    "Action",
    "Camera",
    "CameraMask",
    "CameraSource",
    "CaptureClip",
    "CleryConfig",
    "ConfigModel",
    "ConnectorConfig",
    "ConnectorsConfig",
    "CorrelationConfig",
    "CountCondition",
    "DeviceEntry",
    "Door",
    "DraftNotification",
    "EmergencyPhone",
    "EvidenceConfig",
    "HealthConfig",
    "Identifier",
    "IoInput",
    "IoModule",
    "Location",
    "NotificationSinksConfig",
    "NotificationsConfig",
    "NotifyOperator",
    "OpenIncident",
    "PtzGoto",
    "RetentionConfig",
    "Rule",
    "RulesConfig",
    "SecretSource",
    "SiteConfig",
    "SiteDirectory",
    "SiteInfo",
    "SmtpSinkConfig",
    "StorageConfig",
    "TemplateOptions",
    "UnlessCondition",
    "WebhookSinkConfig",
    "XProtectAlarm",
    "XProtectUserEvent",
    "default_config_path",
    "format_path",
    "load_site_config",
    "parse_site_config",
    "read_secret_file",
    "resolve_secret",
]

from vmsbridge.config.base import (
    ConfigModel,
    Identifier,
    SecretSource,
    format_path,
    read_secret_file,
    resolve_secret,
)
from vmsbridge.config.clery import CleryConfig
from vmsbridge.config.connectors import ConnectorConfig, ConnectorsConfig
from vmsbridge.config.devices import (
    Camera,
    CameraMask,
    CameraSource,
    Door,
    EmergencyPhone,
    IoInput,
    IoModule,
    Location,
)
from vmsbridge.config.directory import DeviceEntry, SiteDirectory
from vmsbridge.config.evidence import EvidenceConfig, RetentionConfig
from vmsbridge.config.health import HealthConfig
from vmsbridge.config.load import default_config_path, load_site_config, parse_site_config
from vmsbridge.config.notifications import (
    NotificationsConfig,
    NotificationSinksConfig,
    SmtpSinkConfig,
    WebhookSinkConfig,
)
from vmsbridge.config.rules import (
    TEMPLATE_NAMES,
    Action,
    CaptureClip,
    CountCondition,
    DraftNotification,
    NotifyOperator,
    OpenIncident,
    PtzGoto,
    Rule,
    RulesConfig,
    TemplateOptions,
    UnlessCondition,
    XProtectAlarm,
    XProtectUserEvent,
)
from vmsbridge.config.site import CorrelationConfig, SiteConfig, SiteInfo, StorageConfig
