"""The plug-in registry: connectors are found by entry point, and only there."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.onvif.config import onvif_connectors
from connectors.xprotect.config import xprotect_connectors
from tests.conftest import ROOT
from tests.plugins.distributions import write_distribution
from vmsbridge.cli.main import main
from vmsbridge.config import SiteDirectory, default_config_path, load_site_config
from vmsbridge.config.connectors import ConnectorConfig
from vmsbridge.controls import Controls
from vmsbridge.errors import ConfigError, ConfigProblem
from vmsbridge.plugins import ConnectorPlugin, ConnectorSet, build_connectors, load_plugins

HEAVY = ("sqlalchemy", "aiohttp", "numpy", "cv2", "av", "alembic", "pydantic", "zeep", "lxml")

# A plug-in whose kind clashes, or whose import fails, as a third party might ship it.
STUB = """
class Plugin:
    kind = {kind!r}
    summary = "a stub"
    capabilities = frozenset()

PLUGIN = Plugin()
"""


def loaded_after(code: str) -> set[str]:
    """Which of HEAVY a fresh interpreter has loaded after running ``code``."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    return set(result.stdout.split())


def test_the_installed_connectors_are_found_by_entry_point() -> None:
    plugins = load_plugins()
    assert list(plugins) == ["onvif", "xprotect"]
    assert plugins["xprotect"].capabilities >= {"events", "alarms"}
    assert plugins["onvif"].capabilities >= {"events", "ptz", "clips"}


def test_the_core_imports_no_connector_by_name() -> None:
    offenders = []
    for path in sorted((ROOT / "vmsbridge").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            offenders += [
                f"{path.relative_to(ROOT)}:{node.lineno} {name}"
                for name in names
                if name == "connectors" or name.startswith("connectors.")
            ]
    assert offenders == []


def test_loading_the_plugins_loads_no_connector_library() -> None:
    assert loaded_after("from vmsbridge.plugins import load_plugins; load_plugins()") == set()


def test_building_the_command_line_loads_no_heavy_library() -> None:
    assert loaded_after("from vmsbridge.cli.main import build_parser; build_parser().format_help()") == set()


def test_two_distributions_offering_one_kind_is_an_error_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_distribution(
        tmp_path, "onvif-clone", {"onvif": "onvif_clone:PLUGIN"}, {"onvif_clone": STUB.format(kind="onvif")}
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError) as error:
        load_plugins()
    assert "vmsbridge.connectors: onvif: offered by both onvif-clone 0.1 and vmsbridge 0.1.0" in str(
        error.value
    )


def test_a_plugin_that_fails_to_load_is_named_with_its_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = "raise ImportError('libpanel.so.3: cannot open shared object file')\n"
    write_distribution(tmp_path, "broken-panel", {"panel": "broken_panel:PLUGIN"}, {"broken_panel": broken})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError) as error:
        load_plugins()
    assert "broken_panel:PLUGIN from broken-panel 0.1 failed to load: ImportError: libpanel.so.3" in str(
        error.value
    )
    # The command line cannot be built without it: exit 2, the same words, no traceback.
    assert main(["rules"]) == 2
    err = capsys.readouterr().err
    assert "broken-panel 0.1 failed to load" in err
    assert "Traceback" not in err


def test_a_plugin_whose_kind_differs_from_its_entry_point_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_distribution(
        tmp_path,
        "mislabelled",
        {"doors": "mislabelled_doors:PLUGIN"},
        {"mislabelled_doors": STUB.format(kind="dors")},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match=r"from mislabelled 0\.1 says its kind is 'dors', not 'doors'"):
        load_plugins()


def test_a_plugin_clashing_with_a_core_command_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clash = STUB.format(kind="events") + (
        "\ndef add_cli(sub):\n    sub.add_parser('events')\n\nPlugin.add_cli = staticmethod(add_cli)\n"
    )
    write_distribution(
        tmp_path, "events-connector", {"events": "events_connector:PLUGIN"}, {"events_connector": clash}
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["rules"]) == 2
    assert "vmsbridge.connectors: events: " in capsys.readouterr().err


class Recorder:
    """A plug-in that records what it was asked to build."""

    summary = "records"
    capabilities = frozenset({"events"})

    def __init__(self, kind: str, built: list[str]) -> None:
        self.kind = kind
        self._built = built

    def config_model(self) -> type[ConnectorConfig]:
        return ConnectorConfig

    def check(self, site: object) -> list[ConfigProblem]:
        return []

    def build(self, site: object, directory: object, work_dir: Path) -> ConnectorSet:
        self._built.append(self.kind)
        controls = Controls()
        controls.closers.append(self._close)
        return ConnectorSet(sources=[], controls=controls)

    async def _close(self) -> None:
        return None

    def add_cli(self, sub: object) -> None:
        return None

    def add_emulate_cli(self, kinds: object) -> None:
        return None

    def emulate(self, site: object, clip: object, secret_file: object, user: str) -> None:
        return None


def test_only_the_kinds_the_site_configures_are_built_in_kind_order(tmp_path: Path) -> None:
    site = load_site_config(default_config_path())  # ONVIF and XProtect connectors, no others
    built: list[str] = []
    plugins: dict[str, ConnectorPlugin] = {
        kind: Recorder(kind, built) for kind in ("xprotect", "onvif", "panel")
    }
    connectors = build_connectors(site, SiteDirectory(site), tmp_path, plugins)
    assert built == ["onvif", "xprotect"]
    assert len(connectors.controls.closers) == 2  # each kind's controls were merged


def test_a_configured_kind_no_plugin_runs_is_a_config_error(tmp_path: Path) -> None:
    site = load_site_config(default_config_path())
    only_onvif: dict[str, ConnectorPlugin] = {"onvif": Recorder("onvif", [])}
    with pytest.raises(ConfigError) as error:
        build_connectors(site, SiteDirectory(site), tmp_path, only_onvif)
    assert [str(p) for p in error.value.problems] == [
        "connectors.xprotect: no installed plug-in runs this kind (installed: onvif)"
    ]


def test_the_real_plugins_build_sources_and_controls_for_the_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VMSBRIDGE_ONVIF_NORTH_PASSWORD", "lab")
    monkeypatch.setenv("VMSBRIDGE_XPROTECT_PASSWORD", "lab")
    site = load_site_config(ROOT / "examples" / "campus.toml")
    secret = tmp_path / "onvif-south"
    secret.write_text("lab\n")
    site = site.model_copy(
        update={
            "connectors": site.connectors.replacing(
                {
                    "onvif": [
                        c.model_copy(update={"password_file": secret}) if c.password_file else c
                        for c in onvif_connectors(site)
                    ]
                }
            )
        }
    )
    connectors = build_connectors(site, SiteDirectory(site), tmp_path)
    expected = [f"onvif:{c.id}" for c in onvif_connectors(site)] + [
        f"xprotect:{c.id}" for c in xprotect_connectors(site)
    ]
    assert [s.name for s in connectors.sources] == expected
    assert set(connectors.controls.alarms) == {c.id for c in xprotect_connectors(site)}
