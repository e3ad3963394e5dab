"""The emulated site the demo and the end-to-end tests run against."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from connectors import lab
from connectors.onvif.config import onvif_connectors
from tests.rules.conftest import rules_site
from vmsbridge import plugins


async def test_the_password_file_is_written_off_the_loop_for_its_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written_on: list[threading.Thread] = []
    write = plugins.write_secret

    def noting(path: Path, secret: str) -> None:
        written_on.append(threading.current_thread())
        write(path, secret)

    monkeypatch.setattr(plugins, "write_secret", noting)
    secret = tmp_path / "lab-password"
    secret.write_text("an older password\n", encoding="utf-8")
    secret.chmod(0o644)
    async with lab.emulated_site(rules_site(tmp_path), None, tmp_path) as site:
        assert onvif_connectors(site.site)  # the emulators are up
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        assert secret.read_text(encoding="utf-8") != "an older password\n"
    assert written_on
    assert threading.main_thread() not in written_on
