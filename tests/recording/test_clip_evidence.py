"""What a clip from the pre-roll buffer holds reaches its evidence item (a gap, with where it is; the
codec: an H.265 original stays H.265, its redacted copy is H.264), and `vmsbridge clip fetch`."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import sqlite3
from datetime import timedelta
from pathlib import Path

import av
import pytest

from evidence.store import ContentStore
from recording.segments import SegmentStore
from tests.clip_capture import capture
from tests.recording.rtsp_peer import slice_hashes
from tests.recording.test_assemble import BASE, _cut_into_segments
from tests.rules.conftest import SITE
from vmsbridge.cli.main import main
from vmsbridge.config import parse_site_config
from vmsbridge.controls import Controls
from vmsbridge.evidence_service import clip_facts, open_content_store
from vmsbridge.jobs import ClipJobs
from vmsbridge.prerolls import BufferClipSource
from vmsbridge.store.stores import Stores, open_store

CAMERA = "cam-lotb-ptz"


def test_a_gap_in_a_buffered_clip_reaches_the_evidence_list(
    tmp_path: Path, h264_media: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    buffer = SegmentStore(tmp_path / "prerolls" / CAMERA)
    _cut_into_segments(h264_media, buffer, segments=5, missing={2})  # no video for [4 s, 6 s)
    config = tmp_path / "site.toml"
    config.write_text(SITE + f"\n[evidence]\nstore_dir = '{tmp_path / 'evidence'}'\n")
    site = parse_site_config(config.read_text(), str(config))
    db = tmp_path / "clips.db"

    async def clip_on_an_incident() -> tuple[int, str]:
        clips = BufferClipSource({CAMERA: buffer}, tmp_path / "work", wait_seconds=5)
        async with open_store(f"sqlite+aiosqlite:///{db}", migrate=True) as stores:
            return await capture(
                site,
                stores,
                await open_content_store(site),
                Controls(recorded={CAMERA: clips}),
                CAMERA,
                BASE + timedelta(seconds=5),
                pre=4,
                post=3,
                work_dir=tmp_path / "work",
            )

    incident, detail = asyncio.run(clip_on_an_incident())
    assert "1 gap(s), 2.0 s without video" in detail

    common = ["--config", str(config), "--db", f"sqlite:///{db}"]
    capsys.readouterr()
    assert main(["evidence", "list", str(incident), "--json", *common]) == 0
    listed = json.loads(capsys.readouterr().out)
    [item] = listed["items"]
    gap = {
        "start": (BASE + timedelta(seconds=4)).isoformat(),
        "end": (BASE + timedelta(seconds=6)).isoformat(),
    }
    assert item["clip"]["gaps"] == [{**gap, "seconds": 2.0}], item
    # From the keyframe at t-4 s (one a second) to t+3 s.
    assert item["clip"]["start"] == (BASE + timedelta(seconds=1)).isoformat()
    assert item["clip"]["end"] == (BASE + timedelta(seconds=8)).isoformat()
    assert (item["clip"]["codec"], item["clip"]["width"], item["clip"]["height"]) == ("h264", 320, 240)
    assert (item["clip"]["reencoded"], item["clip"]["transcoded_by"], item["transcode"]) == (
        False,
        None,
        None,
    )
    # The facts are in the acquisition's custody entry, so the chain's hashes cover them.
    [acquired] = [e for e in listed["custody"] if e["action"] == "acquired"]
    assert acquired["details"]["clip"] == item["clip"]

    assert main(["evidence", "list", str(incident), *common]) == 0
    shown = capsys.readouterr().out
    assert f"GAP {gap['start']} - {gap['end']} (2.0 s without video)" in shown, shown
    assert "TRANSCODED" not in shown


def _fetch_site(tmp_path: Path, closed_port: int) -> Path:
    """The rules site with a data directory, its cameras' connectors on a closed loopback port."""
    text = SITE.replace('host = "10.0.0.1"', f'host = "127.0.0.1"\nport = {closed_port}')
    text = text.replace('host = "10.0.0.2"', f'host = "127.0.0.1"\nport = {closed_port}')
    config = tmp_path / "site.toml"
    config.write_text(
        text + f"\n[storage]\ndata_dir = '{tmp_path / 'data'}'\n\n"
        f"[evidence]\nstore_dir = '{tmp_path / 'evidence'}'\n"
    )
    return config


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_clip_fetch_takes_the_window_from_the_buffer_into_an_incident(
    tmp_path: Path, h264_media: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNUSED", "x")
    config = _fetch_site(tmp_path, _closed_port())
    _cut_into_segments(h264_media, SegmentStore(tmp_path / "data" / "prerolls" / CAMERA), 5, missing={2})
    common = ["--config", str(config), "--db", f"sqlite:///{tmp_path / 'fetch.db'}"]
    assert main(["db", "upgrade", *common]) == 0
    capsys.readouterr()
    assert (
        main(["incidents", "open", "--location", "lot-b", "--summary", "Car broken into", "--json", *common])
        == 0
    )
    incident = int(json.loads(capsys.readouterr().out)["id"])
    out = tmp_path / "case" / "lot-b.mp4"
    out.parent.mkdir()
    window = [
        "--from",
        (BASE + timedelta(seconds=1)).isoformat(),
        "--to",
        (BASE + timedelta(seconds=8)).isoformat(),
    ]

    argv = ["clip", "fetch", "--camera", CAMERA, *window, "--out", str(out), "--incident", str(incident)]
    assert main([*argv, "--actor", "det-ruiz", "--json", *common]) == 0
    fetched = json.loads(capsys.readouterr().out)
    assert fetched["file"] == str(out)
    assert fetched["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert [(g["start"], g["seconds"]) for g in fetched["gaps"]] == [
        ((BASE + timedelta(seconds=4)).isoformat(), 2.0)
    ]
    assert fetched["evidence"] == {"incident": incident, "sha256": fetched["sha256"], "new": True}
    assert sorted(p.name for p in out.parent.iterdir()) == ["lot-b.mp4"]
    assert list((tmp_path / "data" / "work").iterdir()) == [], "the fetch left work files"

    assert main(["evidence", "list", str(incident), "--json", *common]) == 0
    listed = json.loads(capsys.readouterr().out)
    [item] = listed["items"]
    assert (item["sha256"], item["camera_id"], item["acquired_by"]) == (fetched["sha256"], CAMERA, "det-ruiz")
    assert item["clip"]["gaps"] == fetched["gaps"]
    with sqlite3.connect(tmp_path / "fetch.db") as db:
        audited = db.execute(
            "SELECT actor, subject_id FROM audit_log WHERE action = 'evidence.clip_fetched'"
        ).fetchall()
    assert audited == [("det-ruiz", str(incident))]


def test_clip_fetch_without_video_for_the_window_exits_1_and_writes_nothing(
    tmp_path: Path, h264_media: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNUSED", "x")
    config = _fetch_site(tmp_path, _closed_port())
    _cut_into_segments(h264_media, SegmentStore(tmp_path / "data" / "prerolls" / CAMERA), 5, missing=set())
    common = ["--config", str(config), "--db", f"sqlite:///{tmp_path / 'fetch.db'}"]
    out = tmp_path / "clip.mp4"
    before = [
        "--from",
        (BASE - timedelta(hours=1)).isoformat(),
        "--to",
        (BASE - timedelta(minutes=59)).isoformat(),
    ]
    capsys.readouterr()

    # Older than the buffer: the camera's connector is asked next, and it does not answer.
    assert (
        main(["clip", "fetch", "--camera", CAMERA, *before, "--out", str(out), "--wait", "20", *common]) == 1
    )
    said = capsys.readouterr().err
    assert said.startswith("vmsbridge: camera cam-lotb-ptz: "), said
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".clip", "clip"))) == []

    assert main(["clip", "fetch", "--camera", "cam-nowhere", *before, "--out", str(out), *common]) == 1
    assert "no camera 'cam-nowhere'" in capsys.readouterr().err
    assert not out.exists()


def _codec(path: Path) -> str:
    with av.open(str(path)) as container:
        return str(container.streams.video[0].codec_context.name)


async def test_an_h265_original_is_kept_and_its_redacted_copy_is_h264(
    tmp_path: Path, hevc_media: Path, stores: Stores
) -> None:
    buffer = SegmentStore(tmp_path / "prerolls" / CAMERA)
    await asyncio.to_thread(_cut_into_segments, hevc_media, buffer, 3, set())
    site = parse_site_config(SITE, "hevc-site")
    evidence = ContentStore(tmp_path / "evidence")
    clips = BufferClipSource({CAMERA: buffer}, tmp_path / "work", wait_seconds=5)
    async with ClipJobs(workers=1) as jobs:
        incident, detail = await capture(
            site,
            stores,
            evidence,
            Controls(recorded={CAMERA: clips}),
            CAMERA,
            BASE + timedelta(seconds=2),
            pre=1,
            post=2,
            work_dir=tmp_path / "work",
            jobs=jobs,
        )
    assert "redacted" in detail, detail
    original, redacted = await stores.evidence.items(incident)
    assert (original.role, redacted.role, redacted.derived_from) == ("original", "derived", original.sha256)
    # The camera's H.265 as recorded (remuxed, not re-encoded); browsers play the H.264 copy.
    assert await asyncio.to_thread(_codec, evidence.path_for(original.sha256)) == "hevc"
    assert clip_facts(await stores.evidence.chain(incident))[original.sha256]["codec"] == "hevc"
    assert await asyncio.to_thread(_codec, evidence.path_for(redacted.sha256)) == "h264"
    original_units = await asyncio.to_thread(slice_hashes, evidence.path_for(original.sha256))
    assert set(original_units) <= set(await asyncio.to_thread(slice_hashes, hevc_media))
