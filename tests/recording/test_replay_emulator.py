"""Our RTSP client against the ONVIF emulator's RTSP server: Profile G replay and live, remuxed as sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from connectors.onvif.emulator import EmulatedDevice
from recording.replay import ReplayRequest, replay_clip, stream_clip
from recording.rtsp import (
    RtspAuthError,
    RtspConnectError,
    RtspNotFound,
    RtspOptionNotSupported,
    RtspSession,
    RtspUrlError,
)
from tests.recording.replay_support import (
    FPS,
    GOP_SECONDS,
    emulated_camera,
    file_packets,
    leftovers,
    source_packets,
)


@pytest.fixture
async def camera() -> AsyncIterator[EmulatedDevice]:
    async with emulated_camera() as device:
        yield device


def _recording(camera: EmulatedDevice) -> str:
    return next(iter(camera.rtsp.recordings))


async def test_replay_gives_the_window_from_the_keyframe_before_it(
    camera: EmulatedDevice, tmp_path: Path
) -> None:
    now = camera.device_now()
    start, end = now - timedelta(seconds=600), now - timedelta(seconds=580)
    url = camera.rtsp.replay_url(_recording(camera))
    out = tmp_path / "window.mp4"

    result = await replay_clip(ReplayRequest(url, start, end, "admin", "s3cret"), out)

    # The server was asked for the window (Range: clock= has millisecond resolution).
    [(token, asked_start, asked_end)] = camera.rtsp.replay_requests
    assert token == _recording(camera)
    assert abs(asked_start - start) < timedelta(milliseconds=1)
    assert abs(asked_end - end) < timedelta(milliseconds=1)
    assert result.file == out
    assert out.is_file()
    assert (result.codec, result.width, result.height) == ("h264", 480, 270)
    assert result.reencoded is False
    assert result.gaps == ()
    # Starts at the keyframe at or before the window (within one GOP), ends at the window's end.
    assert start - timedelta(seconds=GOP_SECONDS) <= result.start <= start
    assert end - timedelta(seconds=2 / FPS) <= result.end <= end + timedelta(seconds=2 / FPS)
    # The packets in the file are the camera's packets, byte for byte, in order (looped clip).
    source = source_packets()
    written = file_packets(out)
    assert len(written) == result.frames
    first = source.index(written[0])
    looped = (source[first:] + source * 2)[: len(written)]
    assert written == looped, "remuxed packets differ from the source clip's packets"


async def test_replay_reports_a_recording_gap(camera: EmulatedDevice, tmp_path: Path) -> None:
    now = camera.device_now()
    start, end = now - timedelta(seconds=900), now - timedelta(seconds=870)
    hole = (start + timedelta(seconds=10), start + timedelta(seconds=16))
    camera.rtsp.recording_gaps.append(hole)
    url = camera.rtsp.replay_url(_recording(camera))

    result = await replay_clip(ReplayRequest(url, start, end, "admin", "s3cret"), tmp_path / "gap.mp4")

    assert len(result.gaps) == 1, result.gaps
    gap = result.gaps[0]
    # The gap begins where recording stopped and lasts until the next keyframe after it resumed.
    assert abs((gap.start - hole[0]).total_seconds()) <= 2 / FPS
    assert hole[1] <= gap.end <= hole[1] + timedelta(seconds=GOP_SECONDS)


async def test_replay_of_a_window_partly_before_the_recording_says_so(
    camera: EmulatedDevice, tmp_path: Path
) -> None:
    start = camera.rtsp.recorded_from - timedelta(seconds=20)
    end = camera.rtsp.recorded_from + timedelta(seconds=10)
    url = camera.rtsp.replay_url(_recording(camera))

    result = await replay_clip(ReplayRequest(url, start, end, "admin", "s3cret"), tmp_path / "early.mp4")

    assert result.start == camera.rtsp.recorded_from
    assert [(g.start, g.end) for g in result.gaps] == [(start, camera.rtsp.recorded_from)]


async def test_live_stream_packets_are_the_source_packets(camera: EmulatedDevice, tmp_path: Path) -> None:
    out = tmp_path / "live.mp4"
    result = await stream_clip(
        camera.rtsp.live_url("Profile_1"), 2.0, out, username="admin", password="s3cret"
    )

    written = file_packets(out)
    assert written == source_packets()[: len(written)]
    assert result.frames == len(written) == pytest.approx(2.0 * FPS, abs=2)
    assert result.seconds == pytest.approx(2.0, abs=2 / FPS)


async def test_wrong_password_is_refused_and_nothing_written(camera: EmulatedDevice, tmp_path: Path) -> None:
    out = tmp_path / "refused.mp4"
    url = camera.rtsp.replay_url(_recording(camera))
    now = camera.device_now()
    with pytest.raises(RtspAuthError, match="refused the credentials of user 'admin'") as caught:
        await replay_clip(ReplayRequest(url, now - timedelta(seconds=60), now, "admin", "wrong"), out)
    assert caught.value.status == 401
    assert "wrong" not in str(caught.value)
    assert leftovers(tmp_path) == []


async def test_no_credentials_is_refused(camera: EmulatedDevice, tmp_path: Path) -> None:
    with pytest.raises(RtspAuthError, match="asks for credentials and none were given"):
        await stream_clip(camera.rtsp.live_url("Profile_1"), 1.0, tmp_path / "x.mp4")


async def test_credentials_in_the_url_work_with_digest(camera: EmulatedDevice, tmp_path: Path) -> None:
    url = camera.rtsp.live_url("Profile_1").replace("rtsp://", "rtsp://admin:s3cret@")
    result = await stream_clip(url, 0.5, tmp_path / "x.mp4")
    assert result.frames >= 1


async def test_a_basic_only_camera_gets_basic(camera: EmulatedDevice, tmp_path: Path) -> None:
    camera.rtsp.basic_only = True  # refuses Digest: only a Basic answer gets in
    url = camera.rtsp.live_url("Profile_1")
    result = await stream_clip(url, 0.5, tmp_path / "x.mp4", username="admin", password="s3cret")
    assert result.frames >= 1


async def test_replay_on_a_live_only_path_is_551(camera: EmulatedDevice, tmp_path: Path) -> None:
    now = camera.device_now()
    request = ReplayRequest(
        camera.rtsp.live_url("Profile_1"), now - timedelta(seconds=60), now, "admin", "s3cret"
    )
    with pytest.raises(RtspOptionNotSupported, match=r"does not support the required option.*onvif-replay"):
        await replay_clip(request, tmp_path / "x.mp4")
    assert leftovers(tmp_path) == []


async def test_no_such_stream_is_404(camera: EmulatedDevice, tmp_path: Path) -> None:
    url = camera.rtsp.replay_url("Recording_Nope")
    now = camera.device_now()
    with pytest.raises(RtspNotFound, match="no such stream"):
        await replay_clip(
            ReplayRequest(url, now - timedelta(seconds=60), now, "admin", "s3cret"), tmp_path / "x.mp4"
        )


async def test_refused_connection_and_bad_url(tmp_path: Path, unused_tcp_port: int) -> None:
    with pytest.raises(RtspConnectError, match="cannot connect"):
        await stream_clip(f"rtsp://127.0.0.1:{unused_tcp_port}/x", 1.0, tmp_path / "x.mp4")
    with pytest.raises(RtspUrlError, match="rtsp://host"):
        await stream_clip("http://127.0.0.1/x", 1.0, tmp_path / "x.mp4")
    assert leftovers(tmp_path) == []


async def test_a_long_stream_is_kept_alive(camera: EmulatedDevice, tmp_path: Path) -> None:
    camera.rtsp.session_timeout = 2  # keep-alive due every second
    url = camera.rtsp.live_url("Profile_1")
    result = await stream_clip(url, 2.5, tmp_path / "x.mp4", username="admin", password="s3cret")
    assert result.frames >= 2 * FPS
    assert camera.rtsp.methods.get("GET_PARAMETER", 0) >= 1, camera.rtsp.methods


async def test_an_expired_nonce_is_answered_again(camera: EmulatedDevice) -> None:
    async with RtspSession(camera.rtsp.live_url("Profile_1"), username="admin", password="s3cret") as session:
        track = await session.describe()
        camera.rtsp.expire_nonce()  # the next request carries the old nonce: 401 with stale=true
        await session.setup(track)
        await session.play()
    assert camera.rtsp.methods["SETUP"] == 2
