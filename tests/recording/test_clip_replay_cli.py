"""``vmsbridge clip replay`` against the emulated camera: the JSON shape, and exit 1 with nothing written."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from connectors.onvif.emulator import EmulatedDevice
from tests.recording.replay_support import emulated_camera, leftovers
from vmsbridge.cli.main import main


@pytest.fixture
async def camera() -> AsyncIterator[EmulatedDevice]:
    async with emulated_camera() as device:
        yield device


async def _run(argv: list[str]) -> int:
    # main() runs its own event loop; the emulator keeps serving on this one.
    return await asyncio.to_thread(main, argv)


def _window(camera: EmulatedDevice, ago: float, seconds: float) -> list[str]:
    start = camera.device_now() - timedelta(seconds=ago)
    return ["--from", start.isoformat(), "--to", (start + timedelta(seconds=seconds)).isoformat()]


async def test_replay_writes_the_clip_and_prints_json(
    camera: EmulatedDevice,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VMSBRIDGE_RTSP_PASSWORD", "s3cret")
    out = tmp_path / "clip.mp4"
    url = camera.rtsp.replay_url(next(iter(camera.rtsp.recordings)))
    argv = [
        "clip",
        "replay",
        url,
        *_window(camera, 300, 12),
        "--out",
        str(out),
        "--username",
        "admin",
        "--json",
    ]

    assert await _run(argv) == 0

    shown = json.loads(capsys.readouterr().out)
    assert set(shown) == {
        "file",
        "sha256",
        "codec",
        "width",
        "height",
        "frames",
        "start",
        "end",
        "seconds",
        "gaps",
        "reencoded",
    }
    assert shown["file"] == str(out)
    assert (shown["codec"], shown["width"], shown["height"], shown["reencoded"]) == ("h264", 480, 270, False)
    assert 12 <= shown["seconds"] <= 12 + 4 + 0.2  # from the keyframe before --from
    assert shown["gaps"] == []


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("wrong password", "refused the credentials of user 'admin'"),
        ("no such recording", "no such stream"),
        ("live only", "does not support the required option"),
        ("bad url", "must look like rtsp://host"),
        ("nothing listening", "cannot connect"),
    ],
)
async def test_replay_failures_exit_1_with_the_reason_and_no_file(
    case: str,
    message: str,
    camera: EmulatedDevice,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    unused_tcp_port: int,
) -> None:
    user = "admin:wrong" if case == "wrong password" else "admin:s3cret"
    urls = {
        "wrong password": camera.rtsp.replay_url(next(iter(camera.rtsp.recordings))),
        "no such recording": camera.rtsp.replay_url("Recording_Nope"),
        "live only": camera.rtsp.live_url("Profile_1"),
        "bad url": "rtps://127.0.0.1/x",
        "nothing listening": f"rtsp://127.0.0.1:{unused_tcp_port}/replay/x",
    }
    url = urls[case].replace("rtsp://", f"rtsp://{user}@")
    out = tmp_path / "clip.mp4"

    assert await _run(["clip", "replay", url, *_window(camera, 120, 5), "--out", str(out)]) == 1

    err = capsys.readouterr().err
    assert message in err
    assert "s3cret" not in err
    assert ":wrong@" not in err
    assert leftovers(tmp_path) == []


async def test_replay_stopping_mid_window_exits_1_and_writes_nothing(
    camera: EmulatedDevice, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = camera.rtsp.replay_url(next(iter(camera.rtsp.recordings))).replace(
        "rtsp://", "rtsp://admin:s3cret@"
    )

    camera.rtsp.replay_drops_after_frames = 100  # of the ~9,000 the window holds
    code = await _run(["clip", "replay", url, *_window(camera, 3000, 600), "--out", str(tmp_path / "c.mp4")])
    assert code == 1
    assert "vmsbridge: " in capsys.readouterr().err
    assert leftovers(tmp_path) == []
