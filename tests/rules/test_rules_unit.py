"""Rules without devices: the window conditions, camera choice, validation and reloading."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.rules.conftest import SITE
from vmsbridge.config import SiteConfig, SiteDirectory, parse_site_config
from vmsbridge.config.rules import TEMPLATE_NAMES, Rule, RulesConfig
from vmsbridge.errors import ConfigError
from vmsbridge.model import EventKind, StoredEvent
from vmsbridge.rules.cameras import phone_aim, related_cameras
from vmsbridge.rules.matching import Matcher
from vmsbridge.rules.templates import active_rules, template_rule
from vmsbridge.runtime import BridgeOptions, build_bridge, load_rules, reload_from

T0 = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
NOTIFY = [{"type": "notify_operator"}]


def event(n: int, kind: EventKind, device: str, seconds: float, location: str = "lot-b") -> StoredEvent:
    at = T0 + timedelta(seconds=seconds)
    return StoredEvent(n, "test", f"n{n}", kind, device, location, at, at)


def fires(matcher: Matcher, rule: Rule, events: list[StoredEvent], now: datetime | None = None) -> list[int]:
    """Feed events in arrival order; the ids of those that fire ``rule``."""
    fired = []
    for e in events:
        matcher.observe(e)
        if matcher.decide(rule, e, now=now or e.occurred_at + timedelta(seconds=1)).fires:
            fired.append(e.id)
    return fired


def test_door_forced_unless_access_granted_at_that_door_just_before() -> None:
    [rule] = active_rules(rules_site_config('templates = ["door_forced"]').rules, raises_alarms=False)
    matcher = Matcher([rule])
    events = [
        event(1, EventKind.ACCESS_GRANTED, "door-a", 0),
        event(2, EventKind.DOOR_FORCED, "door-a", 5),  # 5 s after a valid badge: the door sensor
        event(3, EventKind.ACCESS_GRANTED, "door-b", 100),
        event(4, EventKind.DOOR_FORCED, "door-a", 105),  # the badge was at another door
        event(5, EventKind.ACCESS_GRANTED, "door-a", 200),
        event(6, EventKind.DOOR_FORCED, "door-a", 211),  # 11 s later: outside the 10 s window
    ]
    assert fires(matcher, rule, events) == [4, 6]


def test_burst_needs_three_denials_at_one_door_within_a_minute_in_any_arrival_order() -> None:
    rule = Rule.model_validate(
        {
            "name": "burst",
            "on": ["access.denied"],
            "count": {"at_least": 3, "within_seconds": 60},
            "actions": NOTIFY,
        }
    )
    spread = [event(n, EventKind.ACCESS_DENIED, "door-a", s) for n, s in ((1, 0), (2, 40), (3, 70))]
    assert fires(Matcher([rule]), rule, spread) == []  # never 3 within 60 s
    other_door = [
        event(1, EventKind.ACCESS_DENIED, "door-a", 0),
        event(2, EventKind.ACCESS_DENIED, "door-b", 10),
        event(3, EventKind.ACCESS_DENIED, "door-a", 20),
    ]
    assert fires(Matcher([rule]), rule, other_door) == []
    # The third denial arrives before the second (a slow controller): still a burst of three.
    late = [
        event(1, EventKind.ACCESS_DENIED, "door-a", 0),
        event(3, EventKind.ACCESS_DENIED, "door-a", 30),
        event(2, EventKind.ACCESS_DENIED, "door-a", 20),
    ]
    assert fires(Matcher([rule]), rule, late) == [2]


def test_cooldown_and_stale_events() -> None:
    rule = Rule.model_validate({"name": "phone", "on": ["phone.offhook"], "actions": NOTIFY})
    pickups = [event(n, EventKind.PHONE_OFFHOOK, "bl-7", s) for n, s in ((1, 0), (2, 10), (3, 59), (4, 61))]
    assert fires(Matcher([rule]), rule, pickups) == [1, 4]  # re-syncs inside 60 s are the same call
    other_phone = [event(1, EventKind.PHONE_OFFHOOK, "bl-7", 0), event(2, EventKind.PHONE_OFFHOOK, "bl-8", 1)]
    assert fires(Matcher([rule]), rule, other_phone) == [1, 2]
    old = event(1, EventKind.PHONE_OFFHOOK, "bl-7", 0)
    assert (
        fires(Matcher([rule]), rule, [old], now=T0 + timedelta(minutes=10)) == []
    )  # a replay after an outage


def test_a_replayed_older_event_does_not_fire_again_after_a_newer_firing() -> None:
    """Pickup A, then pickup B 90 s later, then A again (a device re-sync sending its old event):
    A's replay is 90 s from the latest firing, beyond the cooldown, but it is the same device
    event, and 0 s from A's own firing: it must not move the camera a third time."""
    rule = Rule.model_validate({"name": "phone", "on": ["phone.offhook"], "actions": NOTIFY})
    a, b = event(1, EventKind.PHONE_OFFHOOK, "bl-7", 0), event(2, EventKind.PHONE_OFFHOOK, "bl-7", 90)
    a_replayed = StoredEvent(
        3, a.source, a.native_id, a.kind, a.device_id, a.location_id, a.occurred_at, b.received_at
    )
    now = T0 + timedelta(seconds=95)
    assert fires(Matcher([rule]), rule, [a, b, a_replayed], now=now) == [1, 2]
    # An older event of its own (another native id) within the cooldown of the first firing.
    late = event(4, EventKind.PHONE_OFFHOOK, "bl-7", 20)
    assert fires(Matcher([rule]), rule, [a, b, late], now=now) == [1, 2]


def test_selectors() -> None:
    rule = Rule.model_validate(
        {
            "name": "lot",
            "on": ["motion.start"],
            "locations": ["lot-b"],
            "devices": ["cam-a"],
            "actions": NOTIFY,
        }
    )
    cases = [
        event(1, EventKind.MOTION_START, "cam-a", 0),
        event(2, EventKind.MOTION_START, "cam-b", 100),
        event(3, EventKind.MOTION_START, "cam-a", 200, location="library"),
        event(4, EventKind.MOTION_STOP, "cam-a", 300),
    ]
    assert fires(Matcher([rule]), rule, cases) == [1]


def test_reload_keeps_what_the_window_saw() -> None:
    rule = Rule.model_validate(
        {
            "name": "burst",
            "on": ["access.denied"],
            "count": {"at_least": 2, "within_seconds": 60},
            "actions": NOTIFY,
        }
    )
    old = Matcher([rule])
    fires(old, rule, [event(1, EventKind.ACCESS_DENIED, "door-a", 0)])
    new = Matcher([rule])
    new.adopt_memory(old)
    assert fires(new, rule, [event(2, EventKind.ACCESS_DENIED, "door-a", 10)]) == [2]


# -- camera choice ---------------------------------------------------------------------------------

TWO_PTZ = (
    SITE.replace('camera = "cam-lotb-ptz"\npreset = "bl-7"\n', "")
    + """
[[locations]]
id = "far"
name = "Far field"
clery_geography = "on_campus"
public_label = "Far field"
lat = 41.95
lon = -87.70

[[cameras]]
id = "cam-far-ptz"
name = "Far PTZ"
location = "far"
source = { connector = "onvif-ptz", profile = "Profile_2" }
ptz = true
presets = { "bl-7" = "9" }

[[cameras]]
id = "cam-library-ptz"
name = "Library PTZ"
location = "library"
source = { connector = "onvif-ptz", profile = "Profile_3" }
ptz = true
presets = { "lot-b" = "4" }
"""
)


def test_phone_camera_from_config_else_nearest_ptz_with_a_preset_for_it() -> None:
    configured = SiteDirectory(parse_site_config(SITE))
    aim = phone_aim(configured, "bl-7")
    assert aim is not None
    assert (aim.camera.id, aim.preset, aim.why) == ("cam-lotb-ptz", "bl-7", "configured for the phone")

    unconfigured = SiteDirectory(parse_site_config(TWO_PTZ))
    aim = phone_aim(unconfigured, "bl-7")
    assert aim is not None
    # Both cam-lotb-ptz (same location) and cam-far-ptz (8 km away) have a preset named bl-7.
    assert (aim.camera.id, aim.preset) == ("cam-lotb-ptz", "bl-7")
    assert aim.why == "nearest PTZ camera with a preset named after the phone (0 m away)"

    without_lotb = TWO_PTZ.replace(
        'presets = { "bl-7" = "3", "overview" = "1" }', 'presets = { "overview" = "1" }'
    )
    aim = phone_aim(SiteDirectory(parse_site_config(without_lotb)), "bl-7")
    assert aim is not None
    assert (aim.camera.id, aim.preset) == ("cam-far-ptz", "bl-7")  # named after the phone beats the location


def test_without_any_ptz_the_phone_falls_back_to_the_fixed_cameras() -> None:
    text = SITE.replace('camera = "cam-lotb-ptz"\npreset = "bl-7"\n', "").replace(
        'presets = { "bl-7" = "3", "overview" = "1" }', 'presets = { "overview" = "1" }'
    )
    directory = SiteDirectory(parse_site_config(text))
    assert phone_aim(directory, "bl-7") is None
    assert [c.id for c in related_cameras(directory, "bl-7")] == ["cam-lotb-fixed", "cam-lotb-ptz"]
    assert [c.id for c in related_cameras(directory, "door-library-staff")] == ["cam-library-lobby"]


# -- validation --------------------------------------------------------------------------------------


def rules_site_config(rules: str) -> SiteConfig:
    return parse_site_config(SITE + "\n[rules]\n" + rules + "\n")


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (
            '[[rules.custom]]\nname = "x"\non = ["phone.offhook"]\ndevices = ["bl-99"]\nactions = '
            '[{ type = "notify_operator" }]',
            "rules.custom[0].devices[0]: 'bl-99' is not a device id",
        ),
        (
            '[[rules.custom]]\nname = "x"\non = ["phone.offhook"]\nactions = [{ type = "ptz_goto", camera = '
            '"cam-lotb-ptz", preset = "nowhere" }]',
            "rules.custom[0].actions[0].preset: 'nowhere' is not a preset of 'cam-lotb-ptz'",
        ),
        (
            '[[rules.custom]]\nname = "x"\non = ["phone.offhook"]\nactions = [{ type = "ptz_goto", camera = '
            '"cam-lotb-fixed", preset = "a" }]',
            "rules.custom[0].actions[0].camera: 'cam-lotb-fixed' is not a PTZ camera id",
        ),
        (
            '[[rules.custom]]\nname = "x"\non = ["phone.offhook"]\nactions = [{ type = "teleport" }]',
            "rules.custom[0].actions[0]",
        ),
        ('templates = ["blue_light"]', "rules.templates[0]: 'blue_light' is not one of"),
        (
            '[[rules.custom]]\nname = "x"\non = ["phone.pickup"]\nactions = [{ type = "notify_operator" }]',
            "rules.custom[0].on[0]: 'phone.pickup' is not one of",
        ),
        (
            '[[rules.custom]]\nname = "x"\non = ["phone.offhook"]\nactions = [{ type = "xprotect_alarm", '
            'connector = "vms-2" }]',
            "rules.custom[0].actions[0].connector: 'vms-2' is not a connector that raises alarms "
            "('xprotect-main')",
        ),
        (
            '[[rules.custom]]\nname = "x"\non = ["access.denied"]\n'
            "count = { at_least = 1, within_seconds = 5 }\n"
            'actions = [{ type = "notify_operator" }]',
            "rules.custom[0].count.at_least",
        ),
    ],
)
def test_bad_rules_are_refused_naming_the_key(rules: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        rules_site_config(rules)
    assert expected in str(info.value)


def test_the_example_campus_switches_on_every_template() -> None:
    from vmsbridge.config import default_config_path, load_site_config

    site = load_site_config(default_config_path())
    names = [r.name for r in load_rules(site)]
    assert names == ["blue_light_callup", "door_forced", "access_denied_burst", "camera_down_during_incident"]


async def test_reload_keeps_the_running_rules_when_the_new_file_is_bad(tmp_path: Path) -> None:
    campus = SITE.split("[[connectors.onvif]]")[0]  # no devices: this is about the rules
    storage = f"\n[storage]\ndata_dir = '{tmp_path / 'data'}'\n"
    site = parse_site_config(campus + storage + '\n[rules]\ntemplates = ["door_forced"]\n', "site")
    config = tmp_path / "site.toml"
    options = BridgeOptions(db_url=f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", work_dir=tmp_path / "work")
    async with build_bridge(site, options) as bridge:
        engine = bridge.engine
        assert [r.name for r in engine.rules] == ["door_forced"]
        config.write_text(campus + storage + '\n[rules]\ntemplates = ["blue_light"]\n', encoding="utf-8")
        assert reload_from(engine, config) is False
        assert [r.name for r in engine.rules] == ["door_forced"]
        # A reload applies [rules] only: a file that also changes the site (here, where data is
        # kept) is refused whole, since the new rules would run against the old cameras.
        config.write_text(campus + '\n[rules]\ntemplates = ["access_denied_burst"]\n', encoding="utf-8")
        assert reload_from(engine, config) is False
        assert [r.name for r in engine.rules] == ["door_forced"]
        config.write_text(
            campus + storage + '\n[rules]\ntemplates = ["access_denied_burst"]\n', encoding="utf-8"
        )
        assert reload_from(engine, config) is True
        assert [r.name for r in engine.rules] == ["access_denied_burst"]
        assert bridge.reload_rules(site) is True  # the site it started with: its rules come back
        assert [r.name for r in engine.rules] == ["door_forced"]


def test_every_template_name_has_a_valid_template() -> None:
    for name in TEMPLATE_NAMES:
        rule = template_rule(name, RulesConfig(), raises_alarms=True)
        assert rule.name == name
        assert rule.actions
