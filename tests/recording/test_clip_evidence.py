"""What a clip from the pre-roll buffer holds reaches its evidence item: a gap, with where it is."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest

from recording.segments import SegmentStore
from tests.clip_capture import capture
from tests.recording.test_assemble import BASE, _cut_into_segments
from tests.rules.conftest import SITE
from vmsbridge.cli.main import main
from vmsbridge.config import parse_site_config
from vmsbridge.controls import Controls
from vmsbridge.evidence_service import open_content_store
from vmsbridge.prerolls import BufferClipSource
from vmsbridge.store.stores import open_store

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
