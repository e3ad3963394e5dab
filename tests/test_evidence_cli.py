"""Evidence wired into incidents: add, list, export BagIt packets, verify (with and without signing)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import bagit
import pytest

from tests.conftest import ROOT
from vmsbridge.cli.main import main

SCENE = ROOT / "fixtures" / "video" / "scene.mp4"
PARTIAL = ROOT / "fixtures" / "video" / "scene_truncated.mp4"


@pytest.fixture
def env(tmp_path: Path) -> tuple[list[str], Path]:
    config = tmp_path / "campus.toml"
    store = tmp_path / "evidence-store"
    config.write_text(
        (ROOT / "examples" / "campus.toml").read_text() + f'\n[evidence]\nstore_dir = "{store}"\n'
    )
    db = f"sqlite:///{tmp_path / 'ev.db'}"
    assert main(["db", "upgrade", "--db", db]) == 0
    return ["--config", str(config), "--db", db], tmp_path


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def incident_with_evidence(common: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    created = run_json(
        capsys, "incidents", "open", "--location", "maple-hall", "--summary", "Door forced", "--json", *common
    )
    assert isinstance(created, dict)
    incident = int(created["id"])
    added = run_json(
        capsys,
        "evidence",
        "add",
        str(incident),
        str(SCENE),
        "--actor",
        "ofc-lee",
        "--camera",
        "cam-maple-entry",
        "--how",
        "XProtect export",
        "--from",
        "2026-11-20T22:14:00Z",
        "--to",
        "2026-11-20T22:14:36Z",
        "--json",
        *common,
    )
    assert isinstance(added, dict)
    original = str(added["sha256"])
    assert original == hashlib.sha256(SCENE.read_bytes()).hexdigest()
    run_json(
        capsys,
        "evidence",
        "add",
        str(incident),
        str(PARTIAL),
        "--actor",
        "ofc-lee",
        "--derived-from",
        original,
        "--json",
        *common,
    )
    again = run_json(
        capsys, "evidence", "add", str(incident), str(SCENE), "--actor", "ofc-lee", "--json", *common
    )
    assert isinstance(again, dict)
    assert again["new"] is False
    return incident, original


def test_export_twice_gives_identical_payload_manifests_and_verifies(
    env: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    common, tmp = env
    incident, original = incident_with_evidence(common, capsys)
    for name in ("p1", "p2"):
        assert (
            main(
                [
                    "evidence",
                    "export",
                    str(incident),
                    "--out",
                    str(tmp / name),
                    "--actor",
                    "det-ruiz",
                    "--reason",
                    "DA request 26-113",
                    *common,
                ]
            )
            == 0
        )
    manifests = [(tmp / p / "manifest-sha256.txt").read_text() for p in ("p1", "p2")]
    assert manifests[0] == manifests[1]
    assert f"data/originals/{original[:12]}-scene.mp4" in manifests[0]
    assert "data/derived/" in manifests[0]
    bagit.Bag(str(tmp / "p1")).validate()  # any BagIt tool accepts it
    capsys.readouterr()
    assert main(["evidence", "verify", str(tmp / "p1")]) == 0
    assert "intact" in capsys.readouterr().out
    document = json.loads((tmp / "p1" / "data" / "incident.json").read_text())
    assert document["incident"]["id"] == incident
    assert document["location"]["clery_geography"] == "on_campus"
    assert document["evidence"][0]["window"] == ["2026-11-20T22:14:00+00:00", "2026-11-20T22:14:36+00:00"]
    argv = [
        "evidence",
        "log",
        str(incident),
        "viewed",
        "--actor",
        "det-ruiz",
        "--purpose",
        "review",
        "--item",
        original,
    ]
    assert main([*argv, *common]) == 0
    assert "viewed by det-ruiz" in capsys.readouterr().out
    listed = run_json(capsys, "evidence", "list", str(incident), "--json", *common)
    assert isinstance(listed, dict)
    assert [e["action"] for e in listed["custody"]] == [
        "acquired",
        "derived",
        "exported",
        "exported",
        "viewed",
    ]
    assert listed["custody"][2]["purpose"] == "DA request 26-113"
    assert listed["custody_problems"] == []


def test_a_flipped_byte_is_named(env: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]) -> None:
    common, tmp = env
    incident, original = incident_with_evidence(common, capsys)
    packet = tmp / "packet"
    assert (
        main(["evidence", "export", str(incident), "--out", str(packet), "--actor", "det-ruiz", *common]) == 0
    )
    victim = packet / "data" / "originals" / f"{original[:12]}-scene.mp4"
    data = bytearray(victim.read_bytes())
    data[1000] ^= 0xFF
    victim.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["evidence", "verify", str(packet)]) == 1
    assert f"data/originals/{original[:12]}-scene.mp4" in capsys.readouterr().err


def test_signed_zip_packet_verifies_only_with_the_right_key(
    env: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    common, tmp = env
    assert main(["evidence", "keygen", str(tmp / "sign.pem"), str(tmp / "sign.pub")]) == 0
    assert main(["evidence", "keygen", str(tmp / "other.pem"), str(tmp / "other.pub")]) == 0
    assert main(["evidence", "keygen", str(tmp / "sign.pem"), str(tmp / "x.pub")]) == 2  # never overwrites
    config = Path(common[1])
    config.write_text(config.read_text() + f'signing_key = "{tmp / "sign.pem"}"\n')
    incident, _ = incident_with_evidence(common, capsys)
    assert (
        main(
            [
                "evidence",
                "export",
                str(incident),
                "--out",
                str(tmp / "signed"),
                "--zip",
                "--actor",
                "det-ruiz",
                *common,
            ]
        )
        == 0
    )
    packet = tmp / "signed.zip"
    capsys.readouterr()
    assert main(["evidence", "verify", str(packet), "--pubkey", str(tmp / "sign.pub")]) == 0
    assert main(["evidence", "verify", str(packet), "--pubkey", str(tmp / "other.pub")]) == 1
    assert "signature" in capsys.readouterr().err


def test_exporting_to_an_existing_path_is_refused(
    env: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    common, tmp = env
    incident, _ = incident_with_evidence(common, capsys)
    (tmp / "taken").mkdir()
    assert (
        main(["evidence", "export", str(incident), "--out", str(tmp / "taken"), "--actor", "x", *common]) == 2
    )
    assert main(["evidence", "add", "999", str(SCENE), "--actor", "x", *common]) == 1  # unknown incident
    shutil.rmtree(tmp / "taken")


def test_victim_sensitive_exports_withhold_originals_unless_the_role_allows_and_say_so(
    env: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    common, tmp = env
    config = Path(common[1])
    config.write_text(config.read_text() + 'originals_for = ["det-ruiz"]\n')
    incident, _ = incident_with_evidence(common, capsys)
    assert (
        main(["incidents", "flag", str(incident), "--victim-sensitive", "yes", "--actor", "sgt-kim", *common])
        == 0
    )
    assert (
        main(["evidence", "export", str(incident), "--out", str(tmp / "public"), "--actor", "clerk", *common])
        == 0
    )
    assert (
        main(
            ["evidence", "export", str(incident), "--out", str(tmp / "full"), "--actor", "det-ruiz", *common]
        )
        == 0
    )
    assert not any((tmp / "public" / "data" / "originals").iterdir())
    assert any((tmp / "public" / "data" / "derived").iterdir())
    assert any((tmp / "full" / "data" / "originals").iterdir())
    capsys.readouterr()
    listed = run_json(capsys, "evidence", "list", str(incident), "--json", *common)
    assert isinstance(listed, dict)
    exports = [e["details"] for e in listed["custody"] if e["action"] == "exported"]
    assert (exports[0]["originals_withheld"], exports[0]["originals_allowed_by_role"]) == (1, False)
    assert (exports[1]["originals_withheld"], exports[1]["originals_allowed_by_role"]) == (0, True)


def test_disposal_waits_for_closure_and_legal_hold_release_and_is_a_custody_entry(
    env: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    common, tmp = env
    incident, original = incident_with_evidence(common, capsys)
    dispose = ["evidence", "dispose", str(incident), original, "--actor", "records", "--reason", "retention"]
    assert main([*dispose, *common]) == 1
    assert "is open" in capsys.readouterr().err
    assert main(["incidents", "close", str(incident), "--reason", "resolved", *common]) == 0
    assert (
        main(["incidents", "flag", str(incident), "--legal-hold", "yes", "--actor", "counsel", *common]) == 0
    )
    capsys.readouterr()
    assert main([*dispose, *common]) == 1
    assert "legal hold" in capsys.readouterr().err
    assert (
        main(["incidents", "flag", str(incident), "--legal-hold", "no", "--actor", "counsel", *common]) == 0
    )
    assert main([*dispose, *common]) == 0
    blob = tmp / "evidence-store" / "sha256" / original[:2] / original[2:4] / original
    assert not blob.exists()
    capsys.readouterr()
    listed = run_json(capsys, "evidence", "list", str(incident), "--json", *common)
    assert isinstance(listed, dict)
    assert listed["custody"][-1]["action"] == "disposed"
    assert listed["custody_problems"] == []
    # the derived copy is past no retention yet: the sweep leaves it
    assert main(["evidence", "expire", "--actor", "records", *common]) == 0
    assert "0 item(s)" in capsys.readouterr().out
