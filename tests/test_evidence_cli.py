"""Evidence wired into incidents: add, list, export BagIt packets, verify (with and without signing)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from pathlib import Path
from typing import IO

import bagit
import pytest

from evidence.store import CHUNK_SIZE, ContentStore
from evidence.temps import Removed, host_tag, maker
from tests.conftest import ROOT
from tests.rules.conftest import SITE
from vmsbridge.cli.main import main
from vmsbridge.config import SiteConfig
from vmsbridge.evidence_service import open_content_store

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


def test_verify_names_the_packet_once_per_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as zf:
        zf.writestr("a/bagit.txt", "BagIt-Version: 1.0\n")
        zf.writestr("b/bagit.txt", "BagIt-Version: 1.0\n")
    (tmp_path / "notes.txt").write_text("not a packet")
    for path, problem in ((two, "zip must hold exactly one bag folder"), (tmp_path / "notes.txt", "neither")):
        assert main(["evidence", "verify", str(path)]) == 1
        assert capsys.readouterr().err.startswith(f"{path}: {problem}")


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


# --- what was recorded at acquisition is what leaves -----------------------------------------------


def _blob(tmp: Path, sha256: str) -> Path:
    return tmp / "evidence-store" / "sha256" / sha256[:2] / sha256[2:4] / sha256


def _flip(path: Path, offset: int = 1000) -> None:
    path.chmod(0o644)  # blobs are read-only: tampering takes this first
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_export_refuses_a_blob_changed_since_acquisition_naming_both_digests(
    env: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    common, tmp = env
    incident, original = incident_with_evidence(common, capsys)
    _flip(_blob(tmp, original))
    found = hashlib.sha256(_blob(tmp, original).read_bytes()).hexdigest()
    capsys.readouterr()
    export = ["evidence", "export", str(incident), "--out", str(tmp / "packet"), "--actor", "det-ruiz"]
    assert main([*export, *common]) == 1
    err = capsys.readouterr().err
    expected = f"the store's copy has sha256 {found}, recorded at acquisition {original}"
    assert f"item {original} (scene.mp4): {expected}" in err
    assert f"export of incident {incident} refused: item {original}" in err
    assert not (tmp / "packet").exists()
    assert not [p for p in tmp.iterdir() if p.name.startswith(".packet")]
    assert list((tmp / "evidence-store" / "tmp").iterdir()) == []
    listed = run_json(capsys, "evidence", "list", str(incident), "--json", *common)
    assert isinstance(listed, dict)
    [item] = [i for i in listed["items"] if i["sha256"] == original]
    assert (item["last_verified"]["by"], item["last_verified"]["outcome"]) == ("export", "altered")
    assert "exported" not in [e["action"] for e in listed["custody"]]


def _derived_sha256(common: list[str], capsys: pytest.CaptureFixture[str], incident: int) -> str:
    listed = run_json(capsys, "evidence", "list", str(incident), "--json", *common)
    assert isinstance(listed, dict)
    [derived] = [i["sha256"] for i in listed["items"] if i["role"] == "derived"]
    return str(derived)


def _last_verified(common: list[str], capsys: pytest.CaptureFixture[str], incident: int) -> dict[str, object]:
    listed = run_json(capsys, "evidence", "list", str(incident), "--json", *common)
    assert isinstance(listed, dict)
    return {
        i["sha256"]: (i["last_verified"]["by"], i["last_verified"]["outcome"]) if i["last_verified"] else None
        for i in listed["items"]
    }


def test_an_export_stopped_by_a_missing_item_re_hashes_the_others_and_list_says_what_each_holds(
    env: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    common, tmp = env
    incident, original = incident_with_evidence(common, capsys)
    derived = _derived_sha256(common, capsys, incident)
    _blob(tmp, derived).unlink()
    _flip(_blob(tmp, original))
    capsys.readouterr()
    export = ["evidence", "export", str(incident), "--out", str(tmp / "packet"), "--actor", "det-ruiz"]
    assert main([*export, *common]) == 1
    err = capsys.readouterr().err
    assert f"item {derived} (scene_truncated.mp4): not in the evidence store" in err
    assert f"item {original} (scene.mp4): the store's copy has sha256 " in err  # not only the first problem
    assert _last_verified(common, capsys, incident) == {
        original: ("export", "altered"),
        derived: ("export", "missing"),
    }


def test_list_never_calls_an_item_intact_that_a_refused_export_did_not_re_hash(
    env: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    common, tmp = env
    incident, original = incident_with_evidence(common, capsys)
    derived = _derived_sha256(common, capsys, incident)
    _blob(tmp, derived).unlink()
    capsys.readouterr()
    export = ["evidence", "export", str(incident), "--out", str(tmp / "packet"), "--actor", "det-ruiz"]
    assert main([*export, *common]) == 1
    verified = _last_verified(common, capsys, incident)
    assert verified[derived] == ("export", "missing")
    assert verified[original] == ("export", "intact")  # re-hashed although nothing was exported
    with contextlib.closing(sqlite3.connect(tmp / "ev.db")) as db:
        [(items, hashed)] = db.execute("SELECT items, bytes_hashed FROM evidence_audits").fetchall()
    assert json.loads(items) == [original, derived]
    assert hashed == SCENE.stat().st_size  # the original's bytes: the claim "intact" was earned


def test_a_folder_or_pipe_in_a_blobs_place_is_named_by_export_which_re_hashes_the_rest(
    env: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    common, tmp = env
    incident, original = incident_with_evidence(common, capsys)
    blob = _blob(tmp, _derived_sha256(common, capsys, incident))
    blob.unlink()
    for kind, replace, remove in (
        ("a folder", Path.mkdir, Path.rmdir),
        ("a named pipe", os.mkfifo, Path.unlink),
    ):
        replace(blob)
        capsys.readouterr()
        export = ["evidence", "export", str(incident), "--out", str(tmp / "packet"), "--actor", "x"]
        assert main([*export, *common]) == 1
        err = capsys.readouterr().err
        assert (
            f"item {blob.name} (scene_truncated.mp4): the store's copy is {kind}, not a regular file" in err
        )
        assert _last_verified(common, capsys, incident) == {
            original: ("export", "intact"),
            blob.name: ("export", "altered"),
        }
        remove(blob)


def test_audit_names_altered_and_orphaned_blobs_and_list_shows_the_last_verification(
    env: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    common, tmp = env
    incident, original = incident_with_evidence(common, capsys)
    capsys.readouterr()
    assert main(["evidence", "list", str(incident), *common]) == 0
    assert "never re-hashed" in capsys.readouterr().out
    assert main(["evidence", "audit", *common]) == 0
    assert "evidence store: 2 item(s), 2 blob(s)" in capsys.readouterr().out
    assert main(["evidence", "list", str(incident), *common]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(line.endswith("by audit: intact") for line in lines[:2]), lines

    _flip(_blob(tmp, original))
    orphan = ContentStore(tmp / "evidence-store").put_stream([b"attached to nothing"])
    os.utime(orphan.path, (0, 0))  # long ago: not a file being attached right now
    assert main(["evidence", "audit", "--json", *common]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"missing": 0, "altered": 1, "unreadable": 0, "orphaned": 1, "custody": 0}
    assert main(["evidence", "audit", "--incident", str(incident), *common]) == 1
    out = capsys.readouterr().out
    assert f"ALTERED: incident {incident} item {original} (scene.mp4): the store's copy has sha256" in out
    assert out.endswith("1 altered, 0 unreadable, 0 orphaned, 0 custody\n")  # orphans belong to no incident
    assert main(["evidence", "list", str(incident), *common]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if line.startswith(original)]
    assert "ALTERED at " in line
    assert line.endswith("by audit")


def test_verify_names_a_file_added_to_a_signed_packet(
    env: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    common, tmp = env
    assert main(["evidence", "keygen", str(tmp / "sign.pem"), str(tmp / "sign.pub")]) == 0
    config = Path(common[1])
    config.write_text(config.read_text() + f'signing_key = "{tmp / "sign.pem"}"\n')
    incident, _ = incident_with_evidence(common, capsys)
    packet = tmp / "packet"
    assert main(["evidence", "export", str(incident), "--out", str(packet), "--actor", "x", *common]) == 0
    (packet / "statement.pdf").write_text("planted beside the tag files")
    # Listed in the tag manifest that is not signed, with its right digest.
    (packet / "summary.pdf").write_bytes(b"planted and listed")
    with open(packet / "tagmanifest-sha512.txt", "a", encoding="utf-8") as manifest:
        manifest.write(f"{hashlib.sha512(b'planted and listed').hexdigest()} summary.pdf\n")
    capsys.readouterr()
    assert main(["evidence", "verify", str(packet), "--pubkey", str(tmp / "sign.pub")]) == 1
    err = capsys.readouterr().err
    assert f"{packet}: unexpected file: statement.pdf" in err
    assert f"{packet}: not covered by the signature: summary.pdf" in err


def test_export_makes_payload_file_names_safe(
    env: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    common, tmp = env
    capsys.readouterr()
    created = run_json(
        capsys, "incidents", "open", "--location", "maple-hall", "--summary", "x", "--json", *common
    )
    assert isinstance(created, dict)
    incident = str(created["id"])
    odd = tmp / "..\\clip\x1b[2J\n.mp4"
    odd.write_bytes(SCENE.read_bytes()[:5000])
    added = run_json(capsys, "evidence", "add", incident, str(odd), "--actor", "x", "--json", *common)
    assert isinstance(added, dict)
    packet = tmp / "packet"
    assert main(["evidence", "export", incident, "--out", str(packet), "--actor", "x", *common]) == 0
    names = [p.name for p in (packet / "data" / "originals").iterdir()]
    assert names == [f"{str(added['sha256'])[:12]}-_clip_[2J_.mp4"]
    document = json.loads((packet / "data" / "incident.json").read_text())
    assert document["evidence"][0]["file"] == f"data/originals/{names[0]}"
    assert main(["evidence", "verify", str(packet)]) == 0
    # Messages name the file with its control characters escaped, not sent to the terminal.
    _flip(_blob(tmp, str(added["sha256"])))
    capsys.readouterr()
    assert main(["evidence", "export", incident, "--out", str(tmp / "p2"), "--actor", "x", *common]) == 1
    assert f"item {added['sha256']} (" + r"..\clip\x1b[2J\n.mp4)" in capsys.readouterr().err


def _open_incident(common: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    created = run_json(
        capsys, "incidents", "open", "--location", "maple-hall", "--summary", "x", "--json", *common
    )
    assert isinstance(created, dict)
    return str(created["id"])


def test_evidence_list_shows_file_names_with_their_control_characters_escaped(
    env: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    common, tmp = env
    incident = _open_incident(common, capsys)
    odd = tmp / "clip\x1b[2J\x9b\r.mp4"
    odd.write_bytes(SCENE.read_bytes()[:5000])
    assert main(["evidence", "add", incident, str(odd), "--actor", "ofc\x1b[8m", *common]) == 0
    capsys.readouterr()
    assert main(["evidence", "list", incident, *common]) == 0
    out = capsys.readouterr().out
    assert "clip\\x1b[2J\\x9b\\r.mp4  (ofc\\x1b[8m)" in out
    assert not set(out) & {"\x1b", "\x9b", "\r"}


def test_a_long_file_name_is_shortened_in_the_packet_keeping_its_extension(
    env: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    common, tmp = env
    incident = _open_incident(common, capsys)
    long = tmp / ("\u00e9" * 100 + " camera 7 export.mp4")  # 219 bytes: room for the digest prefix
    long.write_bytes(SCENE.read_bytes()[:5000])
    added = run_json(capsys, "evidence", "add", incident, str(long), "--actor", "x", "--json", *common)
    assert isinstance(added, dict)
    packet = tmp / "packet"
    assert main(["evidence", "export", incident, "--out", str(packet), "--actor", "x", *common]) == 0
    [name] = [p.name for p in (packet / "data" / "originals").iterdir()]
    assert name.startswith(f"{str(added['sha256'])[:12]}-\u00e9\u00e9")
    assert name.endswith(".mp4")
    assert len(name.encode("utf-8")) <= 200
    assert main(["evidence", "verify", str(packet)]) == 0


def _append_forged_custody_entry(tmp: Path, incident: int, action: str) -> None:
    """A custody line appended behind the application's back (appending is all the triggers allow)."""
    with contextlib.closing(sqlite3.connect(tmp / "ev.db")) as db, db:
        seq, at = db.execute(
            "SELECT max(seq), max(at) FROM custody_entries WHERE incident_id = ?", (incident,)
        ).fetchone()
        db.execute(
            "INSERT INTO custody_entries (incident_id, seq, at, actor, action, item, purpose, details, "
            "prev_hash, hash) VALUES (?, ?, ?, 'mallory', ?, NULL, 'p', '{}', ?, ?)",
            (incident, seq + 1, at, action, "0" * 64, "1" * 64),
        )


# A forged "transferred" entry is in the chain a packet carries; a "viewed" one after the last change
# is not, and the database's chain is broken all the same.
@pytest.mark.parametrize("action", ["transferred", "viewed"])
def test_an_export_whose_custody_chain_is_broken_is_refused_naming_it(
    env: tuple[list[str], Path], capsys: pytest.CaptureFixture[str], action: str
) -> None:
    common, tmp = env
    incident, _ = incident_with_evidence(common, capsys)
    _append_forged_custody_entry(tmp, incident, action)
    capsys.readouterr()
    export = ["evidence", "export", str(incident), "--out", str(tmp / "packet"), "--actor", "x", *common]
    assert main(export) == 1  # refused, not a crash
    err = capsys.readouterr().err
    assert f"export of incident {incident} refused: incident {incident}: custody chain" in err
    assert not (tmp / "packet").exists()


def test_a_packet_the_bag_library_refuses_is_a_clear_error(
    env: tuple[list[str], Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from vmsbridge import evidence_service

    common, tmp = env
    incident, _ = incident_with_evidence(common, capsys)
    monkeypatch.setattr(evidence_service, "_payload_name", lambda item: f"../{item.file_name}")
    capsys.readouterr()
    export = ["evidence", "export", str(incident), "--out", str(tmp / "packet"), "--actor", "x", *common]
    assert main(export) == 1
    assert f"export of incident {incident} refused: unsafe payload file name" in capsys.readouterr().err
    assert not (tmp / "packet").exists()


# --- leftovers of killed commands -----------------------------------------------------------------

# Runs the CLI with a hook that says "writing" on stdout and blocks mid-way, so the parent kills it at
# a known point: after 4 MiB of `evidence add`'s copy, or inside an export once the payload is copied.
_KILLED_CHILD = textwrap.dedent(
    """
    import sys
    import bagit
    import evidence.store as store_mod
    from vmsbridge.cli.main import main

    def announce_and_block():
        print("writing", flush=True)
        sys.stdin.read()

    original = store_mod.iter_file_chunks
    def chunks(path, chunk_size=store_mod.CHUNK_SIZE):
        for n, chunk in enumerate(original(path, chunk_size)):
            if n == 4:
                announce_and_block()
            yield chunk
    store_mod.iter_file_chunks = chunks
    bagit.make_bag = lambda *args, **kwargs: announce_and_block()
    sys.exit(main(sys.argv[1:]))
    """
)


def _kill_mid_write(argv: list[str]) -> int:
    """Run ``vmsbridge ARGV`` in a child, SIGKILL it once it says it is writing; its pid."""
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_CHILD, *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], 60)
        assert ready, "the child never started writing within 60 s"
        line = child.stdout.readline()
        assert line == b"writing\n", child.stderr.read().decode() if child.stderr else line
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=60)
        for pipe in (child.stdin, child.stdout, child.stderr):
            if pipe is not None:
                pipe.close()
    return child.pid


def test_a_killed_add_leaves_a_part_file_that_the_next_command_removes(
    env: tuple[list[str], Path], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    common, tmp = env
    capsys.readouterr()
    created = run_json(
        capsys, "incidents", "open", "--location", "maple-hall", "--summary", "x", "--json", *common
    )
    assert isinstance(created, dict)
    big = tmp / "camera-7.mp4"
    big.write_bytes(os.urandom(8 * CHUNK_SIZE))
    add = ["evidence", "add", str(created["id"]), str(big), "--actor", "ofc-lee", *common]
    for _ in range(2):  # each killed add starts by removing what the one before it left
        pid = _kill_mid_write(add)
        [part] = list((tmp / "evidence-store" / "tmp").iterdir())
        assert maker(part.name) == (host_tag(), pid)
        size = part.stat().st_size
        assert size >= 4 * CHUNK_SIZE

    with caplog.at_level(logging.WARNING, logger="vmsbridge.evidence_service"):
        assert main(add) == 0
    assert list((tmp / "evidence-store" / "tmp").iterdir()) == []
    removed = f"removed stale temporary {part} ({size} bytes): process {pid} no longer runs on this host"
    assert removed in caplog.text


def test_a_killed_export_leaves_temporaries_that_the_audit_removes(
    env: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    common, tmp = env
    incident, _ = incident_with_evidence(common, capsys)
    export = [
        "evidence",
        "export",
        str(incident),
        "--out",
        str(tmp / "packet"),
        "--actor",
        "det-ruiz",
        *common,
    ]
    pid = _kill_mid_write(export)
    [work] = [p for p in tmp.iterdir() if p.name.startswith(".packet.")]
    [claimed] = list((tmp / "evidence-store" / "tmp").iterdir())
    assert (maker(work.name), maker(claimed.name)) == ((host_tag(), pid), (host_tag(), pid))
    assert any((work / "packet" / "originals").iterdir())  # the copies were made

    capsys.readouterr()
    assert main(["evidence", "audit", "--json", *common]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["path"] for r in report["temporaries_removed"]] == [str(work), str(claimed)]
    assert not work.exists()
    assert not claimed.exists()
    assert main(export) == 0
    assert main(["evidence", "verify", str(tmp / "packet")]) == 0


# --- the running bridge audits the store ---------------------------------------------------------


def _wait_for_line(stream: IO[bytes], text: str, seen: list[str]) -> str:
    deadline = time.monotonic() + 60
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([stream], [], [], left)
        if not ready:
            break
        raw = stream.readline()
        if not raw:
            raise AssertionError(f"the bridge stopped before logging {text!r}:\n" + "".join(seen))
        seen.append(raw.decode())
        if text in seen[-1]:
            return seen[-1]
    raise AssertionError(f"no {text!r} within 60 s:\n" + "".join(seen))


def test_a_running_bridge_audits_the_store_and_logs_what_it_finds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "evidence-store"
    config = tmp_path / "site.toml"
    no_devices = SITE.split("[[connectors.onvif]]")[0]
    config.write_text(no_devices + f'\n[evidence]\nstore_dir = "{store}"\naudit_every = "24h"\n')
    common = ["--config", str(config), "--db", f"sqlite:///{tmp_path / 'run.db'}"]
    assert main(["db", "upgrade", *common[2:]]) == 0
    capsys.readouterr()
    created = run_json(
        capsys, "incidents", "open", "--location", "lot-b", "--summary", "x", "--json", *common
    )
    assert isinstance(created, dict)
    added = run_json(
        capsys, "evidence", "add", str(created["id"]), str(SCENE), "--actor", "x", "--json", *common
    )
    assert isinstance(added, dict)
    _flip(_blob(tmp_path, str(added["sha256"])))
    bridge = subprocess.Popen(
        [sys.executable, "-m", "vmsbridge", "run", *common, "--for", "120", "--log-level", "INFO"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        bufsize=0,  # unbuffered: select() must see every line that readline() has not returned yet
    )
    seen: list[str] = []
    try:
        assert bridge.stderr is not None
        line = _wait_for_line(bridge.stderr, "evidence altered:", seen)
        assert f"item {added['sha256']} (scene.mp4): the store's copy has sha256" in line
    finally:
        if bridge.poll() is None:
            bridge.send_signal(signal.SIGTERM)
        bridge.wait(timeout=60)
        if bridge.stderr is not None:
            bridge.stderr.close()
    assert bridge.returncode == 0, "".join(seen)
    listed = run_json(capsys, "evidence", "list", str(created["id"]), "--json", *common)
    assert isinstance(listed, dict)
    verified = listed["items"][0]["last_verified"]
    assert (verified["by"], verified["outcome"]) == ("audit", "altered")


async def test_the_store_is_opened_and_swept_off_the_event_loop(
    site: SiteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    swept_on: list[threading.Thread] = []
    sweep = ContentStore.cleanup_temp

    def noting(self: ContentStore) -> list[Removed]:
        swept_on.append(threading.current_thread())
        return sweep(self)

    monkeypatch.setattr(ContentStore, "cleanup_temp", noting)
    evidence = site.evidence.model_copy(update={"store_dir": tmp_path / "ev"})
    here = site.model_copy(update={"evidence": evidence})
    store = await open_content_store(here)
    assert store.root == tmp_path / "ev"
    assert store.root.is_dir()
    assert swept_on
    assert threading.main_thread() not in swept_on
