"""The demo's lab through the plug-ins: every connector of the site pointed at its emulator."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from connectors.onvif.config import onvif_connectors
from connectors.xprotect.config import xprotect_connectors
from vmsbridge.config import default_config_path, load_site_config
from vmsbridge.errors import ConfigError
from vmsbridge.plugins import LAB_USER, ConnectorPlugin, emulated_site, load_plugins


async def test_each_plugin_emulates_its_connectors_and_the_site_points_at_them(tmp_path: Path) -> None:
    site = load_site_config(default_config_path())
    async with emulated_site(site, None, tmp_path) as lab:
        assert sorted(lab.emulators) == ["onvif", "xprotect"]
        secret = tmp_path / "lab-password"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        for connector in onvif_connectors(lab.site):
            device = lab.device(connector.id)
            assert (connector.host, connector.port) == ("127.0.0.1", device.port)
            assert (connector.username, connector.password_env, connector.password_file) == (
                LAB_USER,
                None,
                secret,
            )
        assert [d.spec.id for d in lab.onvif.devices] == [c.id for c in onvif_connectors(site)]
        for gateway in xprotect_connectors(lab.site):
            assert gateway.url == lab.xprotect[gateway.id].url
            assert gateway.url.startswith("http://127.0.0.1:")
            assert (gateway.ca_file, gateway.insecure_skip_verify) == (None, False)
        # Everything but the connectors is the site as given.
        assert lab.site.model_copy(update={"connectors": site.connectors}) == site
        with pytest.raises(AttributeError, match="no 'panel' connectors are emulated"):
            _ = lab.panel


class NoEmulator:
    kind = "xprotect"

    def __init__(self, real: ConnectorPlugin) -> None:
        self._real = real
        self.summary = real.summary
        self.capabilities = real.capabilities
        self.config_model = real.config_model
        self.check = real.check
        self.build = real.build
        self.add_cli = real.add_cli
        self.add_emulate_cli = real.add_emulate_cli

    def emulate(self, site: object, clip: object, secret_file: object, user: str) -> None:
        return None


async def test_a_configured_kind_without_an_emulator_is_refused_rather_than_run_for_real(
    tmp_path: Path,
) -> None:
    site = load_site_config(default_config_path())
    plugins = load_plugins()
    plugins["xprotect"] = NoEmulator(plugins["xprotect"])
    with pytest.raises(ConfigError, match=r"connectors\.xprotect: its plug-in has no emulator"):
        async with emulated_site(site, None, tmp_path, plugins):
            pass
