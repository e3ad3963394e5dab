"""A running bridge re-reads its rules on SIGHUP; a bad rule file leaves the old rules running."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.rules.conftest import SITE
from tests.waiting import awaited

# The rules test campus without connectors: this test is about the rules, not the devices.
NO_DEVICES = SITE.split("[[connectors.onvif]]")[0] + "\n[rules]\n"


async def wait_for_line(stream: asyncio.StreamReader, text: str, seen: list[str]) -> str:
    async def scan() -> str:
        while True:
            raw = await stream.readline()
            if not raw:
                raise AssertionError(f"the bridge stopped before logging {text!r}:\n" + "".join(seen))
            line = raw.decode()
            seen.append(line)
            if text in line:
                return line

    return await awaited(scan(), f"the bridge to log {text!r}")


async def test_sighup_reloads_rules_and_keeps_them_when_the_file_is_bad(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text(NO_DEVICES + 'templates = ["door_forced"]\n', encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vmsbridge",
        "run",
        "--config",
        str(config),
        "--db",
        f"sqlite:///{tmp_path / 'run.db'}",
        "--for",
        "60",
        "--log-level",
        "INFO",
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    seen: list[str] = []
    try:
        assert "door_forced" in await wait_for_line(process.stderr, "rules active:", seen)
        await wait_for_line(process.stderr, "SIGHUP re-reads the rules", seen)

        config.write_text(
            NO_DEVICES + 'templates = ["door_forced"]\n[[rules.custom]]\nname = "x"\n', encoding="utf-8"
        )
        process.send_signal(signal.SIGHUP)
        refused = await wait_for_line(process.stderr, "rules NOT reloaded", seen)
        assert "the previous 1 rule(s) stay active" in refused
        assert "rules.custom[0].on: required key is missing" in refused

        config.write_text(
            NO_DEVICES + 'templates = ["access_denied_burst", "door_forced"]\n', encoding="utf-8"
        )
        process.send_signal(signal.SIGHUP)
        reloaded = await wait_for_line(process.stderr, "rules reloaded:", seen)
        assert "access_denied_burst, door_forced" in reloaded
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        rest = await awaited(process.stderr.read(), "the bridge's last log lines")
        await awaited(process.wait(), "the bridge to exit")
    assert process.returncode == 0, "".join(seen) + rest.decode()
