"""Site files with a plug-in's connector kind, read in-process with the plug-in handed in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import pytest
from pydantic import Field

from vmsbridge.capabilities import ALARMS
from vmsbridge.config import SiteConfig, parse_site_config
from vmsbridge.config.connectors import ConnectorConfig
from vmsbridge.config.load import ConnectorKind, installed_kinds
from vmsbridge.errors import ConfigError, ConfigProblem
from vmsbridge.plugins import ConnectorPlugin
from vmsbridge.runtime import load_rules

BASE = """
[site]
name = "Kinds College"
timezone = "America/Chicago"

[[locations]]
id = "annex"
name = "Annex"
clery_geography = "on_campus"
public_label = "Annex"

[[connectors.onvif]]
id = "shared-id"
host = "10.0.0.1"
username = "x"
password_env = "UNUSED"
"""


class IntercomConfig(ConnectorConfig):
    extension: int = Field(ge=100, le=999)


class Intercom:
    kind = "intercom"
    capabilities = frozenset({"events"})

    def config_model(self) -> type[ConnectorConfig]:
        return IntercomConfig

    def check(self, site: SiteConfig) -> Iterator[ConfigProblem]:
        for i, found in enumerate(site.connectors.configured().get(self.kind, ())):
            assert isinstance(found, IntercomConfig)
            if found.extension == 666:
                yield ConfigProblem(f"connectors.intercom[{i}].extension", "reserved")


KINDS: dict[str, ConnectorKind] = {**installed_kinds(), "intercom": Intercom()}


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as error:
        parse_site_config(BASE + text, kinds=KINDS)
    return [str(p) for p in error.value.problems]


def test_a_plugin_kind_is_read_with_its_model_and_kept_by_kind() -> None:
    site = parse_site_config(
        BASE + '[[connectors.intercom]]\nid = "gate"\nextension = 204\npassword_file = "/run/x"\n'
        'location = "annex"\n',
        kinds=KINDS,
    )
    (gate,) = site.connectors.of_kind("intercom", IntercomConfig)
    assert isinstance(gate, IntercomConfig)
    assert gate.extension == 204
    assert list(site.connectors.configured()) == ["onvif", "intercom"]


def test_its_problems_are_named_by_key_path_with_the_rest_of_the_file() -> None:
    assert problems(
        '[[connectors.intercom]]\nid = "gate"\nextension = 5\ncolor = "red"\npassword_env = "X"\n'
        '[[doors]]\nid = "d"\nname = "D"\nlocation = "annex"\nconnector = "gate"\n'
    ) == [
        "doors[0].token: required key is missing",
        "connectors.intercom[0].extension: 5: Input should be greater than or equal to 100",
        "connectors.intercom[0].color: unknown key (check the spelling against examples/campus.toml)",
    ]


def test_ids_passwords_and_locations_are_checked_across_every_kind_then_the_plugins_check() -> None:
    assert problems('[[connectors.intercom]]\nid = "shared-id"\nextension = 666\nlocation = "nowhere"\n') == [
        "connectors: id 'shared-id' is used more than once",
        "connectors.intercom[0]: set exactly one of 'password_env' or 'password_file'",
        "connectors.intercom[0].location: 'nowhere' is not a location id",
        "connectors.intercom[0].extension: reserved",
    ]


def test_an_unknown_kind_names_the_installed_ones() -> None:
    assert problems('[[connectors.panel]]\nid = "p"\n') == [
        "connectors.panel: unknown connector kind (installed: intercom, onvif, xprotect)"
    ]
    assert problems('[connectors.intercom]\nid = "p"\n') == [
        "connectors.intercom: expected [[connectors.intercom]] tables"
    ]


class SirenConfig(ConnectorConfig):
    pass


class Siren:
    """A kind whose connectors raise alarms: nothing in vmsbridge names it."""

    kind = "siren"
    capabilities = frozenset({ALARMS})

    def config_model(self) -> type[ConnectorConfig]:
        return SirenConfig

    def check(self, site: SiteConfig) -> Iterator[ConfigProblem]:
        return iter(())


WITH_SIREN: dict[str, ConnectorKind] = {**KINDS, "siren": Siren()}
SIREN = '[[connectors.siren]]\nid = "horn"\npassword_env = "X"\n'
ALARM_RULE = (
    '[rules]\ntemplates = ["door_forced"]\n'
    '[[rules.custom]]\nname = "raise"\non = ["phone.offhook"]\n'
    'actions = [{{ type = "xprotect_alarm"{where} }}]\n'
)


def test_alarm_actions_go_to_any_kind_whose_plugin_offers_alarms() -> None:
    site = parse_site_config(BASE + SIREN + ALARM_RULE.format(where=""), kinds=WITH_SIREN)
    rules = load_rules(site, cast("dict[str, ConnectorPlugin]", WITH_SIREN))
    door_forced = next(r for r in rules if r.name == "door_forced")
    assert "xprotect_alarm" in [a.type for a in door_forced.actions]
    named = parse_site_config(
        BASE + SIREN + ALARM_RULE.format(where=', connector = "horn"'), kinds=WITH_SIREN
    )
    assert named.rules.custom[0].actions[0].connector == "horn"  # type: ignore[union-attr]


def test_without_a_kind_that_offers_alarms_templates_skip_them_and_rules_naming_one_are_refused() -> None:
    site = parse_site_config(BASE + '[rules]\ntemplates = ["door_forced"]\n', kinds=WITH_SIREN)
    (door_forced,) = load_rules(site, cast("dict[str, ConnectorPlugin]", WITH_SIREN))
    assert "xprotect_alarm" not in [a.type for a in door_forced.actions]
    assert problems(ALARM_RULE.format(where=', connector = "shared-id"')) == [
        "rules.custom[0].actions[0].connector: 'shared-id' is not a connector that raises alarms (none)"
    ]
    assert problems(ALARM_RULE.format(where="")) == [
        "rules.custom[0].actions[0].connector: name the connector to raise it in (0 raise alarms here)"
    ]
