"""Camera privacy masks from the site file, audited lifts, and redaction that honours them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import ROOT
from vmsbridge.cli.main import main
from vmsbridge.store.stores import open_store

SCENE = ROOT / "fixtures" / "video" / "scene.mp4"  # 480x270
LIFTABLE = "300,100 400,100 400,200 300,200"


@pytest.fixture
def campus(tmp_path: Path) -> Path:
    """The example campus, with the Maple Hall camera's masks sized for the 480x270 fixture."""
    text = (ROOT / "examples" / "campus.toml").read_text()
    text = text.replace('polygon = "0,0 640,0 640,90 0,90"', 'polygon = "0,0 480,0 480,40 0,40"')
    text = text.replace('polygon = "900,200 1100,200 1100,560 900,560"', f'polygon = "{LIFTABLE}"')
    path = tmp_path / "campus.toml"
    path.write_text(text)
    return path


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'masks.db'}"
    assert main(["db", "upgrade", "--db", url]) == 0
    return url


def region_luma(clip: Path, frame_index: int) -> np.ndarray:
    with av.open(str(clip)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == frame_index:
                luma = frame.to_ndarray(format="yuv420p")[: frame.height]  # the Y plane as coded
                return np.asarray(luma[110:190, 310:390], dtype=np.float64)
    raise AssertionError("frame not found")


def audit_actions(db: str, config: Path) -> list[tuple[str, str, str]]:
    async def go() -> list[tuple[str, str, str]]:
        async with open_store(db.replace("sqlite://", "sqlite+aiosqlite://")) as stores:
            return [(e.action, e.actor, e.subject_id) for e in await stores.audit.entries("camera")]

    return asyncio.run(go())


def test_a_permanent_mask_cannot_be_lifted(campus: Path, db: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["masks", "lift", "cam-maple-entry", "courtyard-windows", "--reason", "curious", "--minutes", "5"]
    assert main([*argv, "--config", str(campus), "--db", db]) == 1
    assert "permanent and cannot be lifted" in capsys.readouterr().err
    assert audit_actions(db, campus) == []


def test_a_lift_longer_than_a_day_is_refused(
    campus: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["masks", "lift", "cam-maple-entry", "ra-office", "--reason", "case 26-113", "--minutes", "2000"]
    assert main([*argv, "--config", str(campus), "--db", db]) == 1
    assert "longer than the maximum" in capsys.readouterr().err


def test_redaction_applies_a_liftable_mask_until_a_lift_is_granted_and_audits_both(
    campus: Path, db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--config", str(campus), "--db", db, "--people", "off", "--actor", "inv-ortiz"]
    masked = tmp_path / "masked.mp4"
    assert main(["redact", str(SCENE), str(masked), "--camera", "cam-maple-entry", *common]) == 0
    inside = region_luma(masked, 100)
    assert abs(inside.mean() - 16) < 3, "the liftable mask is applied while no lift is in force"

    assert main(["incidents", "open", "--location", "maple-hall", "--summary", "x", "--db", db]) == 0
    lift = ["masks", "lift", "cam-maple-entry", "ra-office", "--reason", "case 26-113", "--minutes", "30"]
    assert main([*lift, "--actor", "inv-ortiz", "--incident", "1", "--config", str(campus), "--db", db]) == 0
    capsys.readouterr()
    assert main(["evidence", "list", "1", "--json", "--config", str(campus), "--db", db]) == 0
    custody = json.loads(capsys.readouterr().out)["custody"]
    assert [(e["action"], e["purpose"]) for e in custody] == [("mask_lifted", "case 26-113")]
    capsys.readouterr()
    assert main(["masks", "list", "cam-maple-entry", "--json", "--config", str(campus), "--db", db]) == 0
    listed = {m["label"]: m for m in json.loads(capsys.readouterr().out)}
    assert listed["ra-office"]["lifted_for"] == "inv-ortiz"
    assert listed["courtyard-windows"]["lifted_until"] is None

    lifted = tmp_path / "lifted.mp4"
    assert main(["redact", str(SCENE), str(lifted), "--camera", "cam-maple-entry", *common]) == 0
    assert region_luma(lifted, 100).std() > 5, "the scene shows through while the lift is in force"
    actions = audit_actions(db, campus)
    assert actions == [
        ("footage.redacted", "inv-ortiz", "cam-maple-entry"),
        ("mask.lifted", "inv-ortiz", "cam-maple-entry"),
        ("footage.redacted", "inv-ortiz", "cam-maple-entry"),
    ]


def test_a_mask_polygon_that_does_not_parse_names_its_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        (ROOT / "examples" / "campus.toml").read_text().replace('"0,0 640,0 640,90 0,90"', '"0,0 640"')
    )
    assert main(["check-config", str(bad)]) == 2
    assert "cameras[2].masks[0].polygon: '0,0 640'" in capsys.readouterr().err
