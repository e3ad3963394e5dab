from __future__ import annotations

import re
from pathlib import Path

import pytest

from connectors.onvif.config import OnvifSource, onvif_connectors
from connectors.xprotect.config import xprotect_connectors
from tests.conftest import ROOT
from vmsbridge.config import SiteConfig, SiteDirectory, load_site_config, parse_site_config, resolve_secret
from vmsbridge.errors import ConfigError
from vmsbridge.model import CleryGeography

EXAMPLE = (ROOT / "examples" / "campus.toml").read_text()


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_site_config(text, "bad.toml")
    return [str(p) for p in info.value.problems]


def test_example_campus_meets_the_brief(site: SiteConfig) -> None:
    assert {loc.clery_geography for loc in site.locations} == set(CleryGeography)
    assert len(site.locations) >= 8
    assert any(loc.student_housing for loc in site.locations)
    assert len(site.cameras) >= 6
    assert sum(1 for c in site.cameras if c.ptz and c.presets) >= 2
    assert len(site.phones) >= 3
    assert len(site.doors) >= 2
    assert len(xprotect_connectors(site)) == 1
    assert len(onvif_connectors(site)) == 2


def test_examples_file_is_the_packaged_default(site: SiteConfig) -> None:
    assert load_site_config(ROOT / "examples" / "campus.toml") == site


def test_directory_maps_devices_to_locations(site: SiteConfig) -> None:
    directory = SiteDirectory(site)
    assert directory.location_of("bl-lotb") == "lot-b"
    assert directory.location_of("door-maple-main") == "maple-hall"
    assert directory.location_of("no-such-device") is None


def test_bad_geography_names_path_value_and_choices() -> None:
    text = EXAMPLE.replace(
        'clery_geography = "on_campus"\nstudent_housing', 'clery_geography = "oncampus"\nstudent_housing'
    )
    [problem] = problems_of(text)
    assert problem.startswith("locations[2].clery_geography: 'oncampus' is not one of 'on_campus'")
    assert "'outside'" in problem


def test_every_problem_is_reported_not_only_the_first() -> None:
    text = EXAMPLE.replace('timezone = "America/Chicago"', 'timezone = "Mars/Olympus"')
    text = text.replace("port = 80\n", "port = 99999\n", 1)
    text = text.replace("lat = 41.8801", "lat = 123.0")
    problems = problems_of(text)
    paths = sorted(p.split(":")[0] for p in problems)
    assert paths == ["connectors.onvif[0].port", "locations[0].lat", "site.timezone"]
    assert any("99999" in p for p in problems)


def test_cross_references_are_checked_together() -> None:
    text = EXAMPLE.replace(
        'location = "lot-b"\nsource = { connector = "onvif-north"',
        'location = "lot-z"\nsource = { connector = "onvif-north"',
    )
    text = text.replace('preset = "bl-quad"', 'preset = "bl-nowhere"')
    text = text.replace('device = "bl-athletics"', 'device = "bl-ghost"')
    text = text.replace('clery_geography = "outside"', 'clery_geography = "outside"\nstudent_housing = true')
    problems = problems_of(text)
    assert "cameras[0].location: 'lot-z' is not a location id (device cam-lotb-ptz)" in problems
    assert any(
        p.startswith("phones[1].preset: 'bl-nowhere' is not a preset of 'cam-quad-ptz'") for p in problems
    )
    assert "io_modules[2].inputs[0].device: 'bl-ghost' is not a device id" in problems
    assert any(
        p.startswith("locations[8].student_housing: true is only allowed for on_campus") for p in problems
    )


def test_a_password_in_the_file_is_refused_with_the_fix() -> None:
    text = EXAMPLE.replace('password_env = "VMSBRIDGE_XPROTECT_PASSWORD"', 'password = "hunter2"')
    problems = problems_of(text)
    assert any(p.startswith("connectors.xprotect[0].password: secrets are never stored") for p in problems)
    assert not any("hunter2" in p for p in problems), "the secret must not be echoed back"


def test_unknown_key_and_missing_key() -> None:
    text = EXAMPLE.replace('[site]\nname = "Northfield College"', '[site]\nnmae = "Northfield College"')
    problems = problems_of(text)
    assert "site.name: required key is missing" in problems
    assert any(p.startswith("site.nmae: unknown key") for p in problems)


def test_toml_syntax_error_points_at_the_line() -> None:
    [problem] = problems_of('[site]\nname = "x\n')
    assert re.search(r"line 2", problem)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_site_config(tmp_path / "absent.toml")


def test_secrets_come_from_environment_or_file(site: SiteConfig, tmp_path: Path) -> None:
    xp = xprotect_connectors(site)[0]
    assert (
        resolve_secret("connectors.xprotect[0]", xp, env={"VMSBRIDGE_XPROTECT_PASSWORD": "s3cret"})
        == "s3cret"
    )
    with pytest.raises(ConfigError, match="VMSBRIDGE_XPROTECT_PASSWORD is not set"):
        resolve_secret("connectors.xprotect[0]", xp, env={})
    secret_file = tmp_path / "pw"
    secret_file.write_text("from-a-file\n")
    south = onvif_connectors(site)[1].model_copy(update={"password_file": secret_file})
    assert resolve_secret("connectors.onvif[1]", south) == "from-a-file"


def test_a_secret_file_without_a_first_line_is_named(site: SiteConfig, tmp_path: Path) -> None:
    empty = tmp_path / "pw"
    empty.write_text("\n")
    south = onvif_connectors(site)[1].model_copy(update={"password_file": empty})
    with pytest.raises(ConfigError) as info:
        resolve_secret("connectors.onvif[1]", south)
    assert [str(p) for p in info.value.problems] == [
        f"connectors.onvif[1].password_file: {empty} has no secret on its first line"
    ]


def test_each_connector_kinds_own_checks_come_with_the_rest_of_the_file() -> None:
    # The ONVIF and XProtect plug-ins check what only they know; one pass still lists everything.
    text = EXAMPLE.replace(', camera_id = "0d3c1f2e-7b5a-4c0e-9a51-6e2f3b8d1a02"', "")
    text = text.replace(
        'connector = "onvif-south", profile = "Profile_3"', 'connector = "onvif-south", profile = "Profile_2"'
    )
    text = text.replace('device = "bl-athletics"', 'device = "bl-ghost"')
    problems = problems_of(text)
    assert "cameras[2].source.camera_id: required for a camera on an XProtect connector" in problems
    assert "cameras: media profile 'Profile_2' is used by two cameras on 'onvif-south'" in problems
    assert "io_modules[2].inputs[0].device: 'bl-ghost' is not a device id" in problems


def test_every_connector_kind_is_read_by_its_plugin_and_kept_by_kind(site: SiteConfig) -> None:
    assert list(site.connectors.configured()) == ["xprotect", "onvif"]  # as the file has them
    assert [c.id for c in onvif_connectors(site)] == ["onvif-north", "onvif-south"]
    with pytest.raises(TypeError, match=r"connectors\.xprotect: 'xprotect-main' was read as XProtectSource"):
        site.connectors.of_kind("xprotect", OnvifSource)
