"""BagIt evidence packets: build, sign, verify, and naming of every tampering."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import stat
import tempfile
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bagit
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evidence.bag import (
    BAGIT_TXT,
    CUSTODY_FILE,
    MAX_ZIP_ENTRIES,
    NAME_MAX_BYTES,
    SIGNATURE_FILE,
    VERIFY_TEMP_PREFIX,
    BagBuildError,
    PayloadDigestError,
    PayloadFile,
    build_bag,
    keygen,
    load_private_key,
    safe_name,
    sign_bag,
    verify_bag,
)
from evidence.custody import CustodyEntry, append, entry_hash, from_jsonl, to_jsonl
from evidence.store import CHUNK_SIZE as CHUNK
from evidence.store import ContentStore, hash_file
from evidence.temps import hold, host_tag
from tests.evidence.conftest import dead_pid

T0 = datetime(2026, 3, 1, 14, 30, tzinfo=UTC)
INFO = {"External-Identifier": "INC-2026-0042", "Source-Organization": "North Campus Security"}
PAYLOAD = [
    "data/originals/cam-3.mp4",
    "data/originals/cam-7.mp4",
    "data/derived/cam-7.redacted.mp4",
    "data/incident.json",
    "data/custody.jsonl",
]


@dataclasses.dataclass
class Packet:
    originals: list[Path]
    derived: list[Path]
    custody: list[CustodyEntry]
    key: Path
    pub: Path


@pytest.fixture
def packet(tmp_path: Path) -> Packet:
    src = tmp_path / "src"
    src.mkdir()
    store = ContentStore(tmp_path / "store")
    originals = []
    for name, seed in (("cam-3.mp4", 3), ("cam-7.mp4", 7)):
        (src / name).write_bytes(bytes(range(seed, 256)) * 400)
        originals.append(store.put_file(src / name))
    (src / "cam-7.redacted.mp4").write_bytes(b"blurred" * 5000)
    redacted = hash_file(src / "cam-7.redacted.mp4")
    custody: list[CustodyEntry] = []
    for i, blob in enumerate(originals):
        custody.append(
            append(
                custody,
                at=T0 + timedelta(minutes=i),
                actor="officer-1",
                action="acquired",
                item=blob.sha256,
                purpose="incident INC-2026-0042",
                details={"camera": f"cam-{i}"},
            )
        )
    custody.append(
        append(
            custody,
            at=T0 + timedelta(minutes=5),
            actor="analyst-2",
            action="derived",
            item=redacted["sha256"],
            purpose="redaction",
            details={"original": originals[1].sha256, "blur": 25, "sha512": redacted["sha512"]},
        )
    )
    custody.append(
        append(
            custody,
            at=T0 + timedelta(minutes=9),
            actor="officer-1",
            action="exported",
            item=None,
            purpose="transfer to county DA",
            details={},
        )
    )
    keygen(tmp_path / "key.pem", tmp_path / "key.pub")
    # Originals keep their camera file name in the packet: link store blobs under those names.
    named = []
    for blob, name in zip(originals, ("cam-3.mp4", "cam-7.mp4"), strict=True):
        (tmp_path / "named").mkdir(exist_ok=True)
        os.link(blob.path, tmp_path / "named" / name)
        named.append(tmp_path / "named" / name)
    return Packet(named, [src / "cam-7.redacted.mp4"], custody, tmp_path / "key.pem", tmp_path / "key.pub")


def build(packet: Packet, out: Path, *, sign: bool = True, zip: bool = False) -> Path:
    return build_bag(
        out,
        originals=packet.originals,
        derived=packet.derived,
        incident={"id": "INC-2026-0042", "events": [{"at": T0, "kind": "door_forced"}], "site": "north"},
        custody=packet.custody,
        info=INFO,
        signing_key=packet.key if sign else None,
        zip=zip,
    )


def test_intact_bag_verifies_with_our_check_and_bagit(packet: Packet, tmp_path: Path) -> None:
    bag_dir = build(packet, tmp_path / "INC-2026-0042")
    assert verify_bag(bag_dir, packet.pub) == []
    bag = bagit.Bag(str(bag_dir))
    assert bag.validate() is True
    assert bag.version_info == (1, 0)
    assert sorted(bag.payload_entries()) == sorted(PAYLOAD)
    assert set(bag.algorithms) == {"sha256", "sha512"}
    assert bag.info["External-Identifier"] == "INC-2026-0042"
    assert bag.info["Source-Organization"] == "North Campus Security"
    assert bag.info["Payload-Oxum"].endswith(".5")
    assert "Bagging-Date" in bag.info
    assert bag.info["Custody-Head-Sha256"] == packet.custody[-1].hash
    assert (bag_dir / SIGNATURE_FILE).is_file()
    assert from_jsonl((bag_dir / CUSTODY_FILE).read_text(encoding="utf-8")) == packet.custody
    assert '"at": "2026-03-01T14:30:00+00:00"' in (bag_dir / "data/incident.json").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".INC")]  # no temp dir left


def test_two_builds_have_identical_payload_manifests(packet: Packet, tmp_path: Path) -> None:
    first = build(packet, tmp_path / "one")
    second = build(packet, tmp_path / "two", sign=False)
    for manifest in ("manifest-sha256.txt", "manifest-sha512.txt"):
        assert (first / manifest).read_bytes() == (second / manifest).read_bytes()
    assert (first / "data/incident.json").read_bytes() == (second / "data/incident.json").read_bytes()


@pytest.mark.parametrize("name", PAYLOAD)
def test_flipped_byte_in_any_payload_file_is_named(packet: Packet, tmp_path: Path, name: str) -> None:
    bag_dir = build(packet, tmp_path / "bag")
    target = bag_dir / name
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    problems = verify_bag(bag_dir, packet.pub)
    assert f"bad checksum: {name} (sha256)" in problems
    assert f"bad checksum: {name} (sha512)" in problems


def test_removed_and_added_files_are_named_with_other_damage(packet: Packet, tmp_path: Path) -> None:
    bag_dir = build(packet, tmp_path / "bag")
    (bag_dir / "data/originals/cam-3.mp4").unlink()
    (bag_dir / "data/originals/planted.mp4").write_bytes(b"planted")
    with open(bag_dir / "data/derived/cam-7.redacted.mp4", "r+b") as f:
        f.write(b"X")
    problems = verify_bag(bag_dir, packet.pub)
    assert "missing file: data/originals/cam-3.mp4" in problems
    assert "unexpected file: data/originals/planted.mp4" in problems
    assert "bad checksum: data/derived/cam-7.redacted.mp4 (sha256)" in problems
    assert not any("cam-7.mp4" in p for p in problems)


def test_edited_custody_line_is_named(packet: Packet, tmp_path: Path) -> None:
    bag_dir = build(packet, tmp_path / "bag")
    path = bag_dir / CUSTODY_FILE
    path.write_text(path.read_text().replace("transfer to county DA", "transfer to county DB"))
    problems = verify_bag(bag_dir, packet.pub)
    assert f"bad checksum: {CUSTODY_FILE} (sha256)" in problems
    assert "custody: entry 4: content does not match its hash" in problems


def test_swapped_custody_lines_are_named(packet: Packet, tmp_path: Path) -> None:
    bag_dir = build(packet, tmp_path / "bag")
    path = bag_dir / CUSTODY_FILE
    lines = path.read_text().splitlines(keepends=True)
    lines[1], lines[2] = lines[2], lines[1]
    path.write_text("".join(lines))
    problems = verify_bag(bag_dir, packet.pub)
    assert "custody: entry 3: does not follow entry 1" in problems
    assert "custody: entry 2: out of order, comes after entry 3" in problems


def _reseal(bag_dir: Path) -> None:
    """What a careful forger does: regenerate every manifest so bagit alone finds nothing."""
    bag = bagit.Bag(str(bag_dir))
    bag.save(manifests=True)
    assert bag.is_valid()


def test_rehashed_forgery_is_caught_by_anchor_then_signature(packet: Packet, tmp_path: Path) -> None:
    bag_dir = build(packet, tmp_path / "bag")
    entries = from_jsonl((bag_dir / CUSTODY_FILE).read_text())
    forged = entries[:-1]  # drop the export entry: every remaining link still holds
    (bag_dir / CUSTODY_FILE).write_text(to_jsonl(forged))
    _reseal(bag_dir)
    assert verify_bag(bag_dir) == [
        "custody: chain ends at entry 3 whose hash does not match the expected head",
        "custody: chain has 3 entries, bag-info.txt says 4",
    ]
    # The forger also rewrites the anchor in bag-info.txt: only the signature is left to notice.
    bag = bagit.Bag(str(bag_dir))
    bag.info["Custody-Head-Sha256"] = forged[-1].hash
    bag.info["Custody-Entries"] = "3"
    bag.save()
    assert verify_bag(bag_dir) == []
    assert verify_bag(bag_dir, packet.pub) == [
        f"bad signature: {SIGNATURE_FILE} does not match tagmanifest-sha256.txt for this key"
    ]
    assert entry_hash(forged[-1].body()) == forged[-1].hash


def test_bad_missing_and_foreign_signatures(packet: Packet, tmp_path: Path) -> None:
    bag_dir = build(packet, tmp_path / "bag")
    keygen(tmp_path / "other.pem", tmp_path / "other.pub")
    bad = f"bad signature: {SIGNATURE_FILE} does not match tagmanifest-sha256.txt for this key"
    assert verify_bag(bag_dir, tmp_path / "other.pub") == [bad]
    sign_bag(bag_dir, load_private_key(tmp_path / "other.pem"))
    assert verify_bag(bag_dir, packet.pub) == [bad]
    (bag_dir / SIGNATURE_FILE).write_text("not base64 at all!\n")
    assert verify_bag(bag_dir, packet.pub) == [bad]
    (bag_dir / SIGNATURE_FILE).unlink()
    assert verify_bag(bag_dir, packet.pub) == [f"signature missing: {SIGNATURE_FILE}"]
    assert verify_bag(bag_dir) == []
    unsigned = build(packet, tmp_path / "unsigned", sign=False)
    assert verify_bag(unsigned, packet.pub) == [f"signature missing: {SIGNATURE_FILE}"]


def test_zip_packet_verifies_and_tampering_inside_is_named(packet: Packet, tmp_path: Path) -> None:
    zipped = build(packet, tmp_path / "INC-2026-0042", zip=True)
    assert zipped == tmp_path / "INC-2026-0042.zip"
    assert not (tmp_path / "INC-2026-0042").exists()
    assert verify_bag(zipped, packet.pub) == []
    shutil.unpack_archive(zipped, tmp_path / "unpacked")
    bag_dir = tmp_path / "unpacked" / "INC-2026-0042"
    assert bagit.Bag(str(bag_dir)).is_valid()
    (bag_dir / "data/incident.json").write_text("{}\n")
    retamped = Path(shutil.make_archive(str(tmp_path / "tampered"), "zip", tmp_path / "unpacked"))
    assert "bad checksum: data/incident.json (sha256)" in verify_bag(retamped, packet.pub)


def test_not_a_bag(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    assert verify_bag(tmp_path / "plain")[0].startswith("not a valid bag")
    (tmp_path / "file.txt").write_text("x")
    assert verify_bag(tmp_path / "file.txt") == ["neither a bag directory nor a zip file"]


def test_failed_build_leaves_nothing_under_the_final_name(packet: Packet, tmp_path: Path) -> None:
    packet.derived.append(tmp_path / "does-not-exist.mp4")
    with pytest.raises(FileNotFoundError):
        build(packet, tmp_path / "bag")
    assert not (tmp_path / "bag").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bag")]


def test_build_refuses_bad_inputs(packet: Packet, tmp_path: Path) -> None:
    build(packet, tmp_path / "bag")
    with pytest.raises(FileExistsError):
        build(packet, tmp_path / "bag")
    with pytest.raises(BagBuildError, match="Payload-Oxum"):
        build_bag(
            tmp_path / "b2", originals=[], derived=[], incident={}, custody=[], info={"Payload-Oxum": "1.1"}
        )
    with pytest.raises(BagBuildError, match="two payload files"):
        build_bag(
            tmp_path / "b3", originals=packet.originals * 2, derived=[], incident={}, custody=[], info={}
        )
    with pytest.raises(BagBuildError, match=r"no custody entry acquires data/derived/cam-7\.redacted\.mp4"):
        build_bag(tmp_path / "b5", originals=[], derived=packet.derived, incident={}, custody=[], info={})
    redacted = hash_file(packet.derived[0])["sha256"]
    other = append(
        [], at=T0, actor="x", action="acquired", item=redacted, purpose="p", details={"sha512": "0" * 128}
    )
    with pytest.raises(BagBuildError, match=r"another SHA-512 for data/derived/cam-7\.redacted\.mp4"):
        build_bag(
            tmp_path / "b6", originals=[], derived=packet.derived, incident={}, custody=[other], info={}
        )
    broken = [packet.custody[0], packet.custody[2]]
    with pytest.raises(BagBuildError, match="custody chain is broken"):
        build_bag(tmp_path / "b4", originals=[], derived=[], incident={}, custody=broken, info={})


def test_keygen_modes_and_no_overwrite(tmp_path: Path) -> None:
    keygen(tmp_path / "k.pem", tmp_path / "k.pub")
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600
    assert (tmp_path / "k.pem").read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert (tmp_path / "k.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    with pytest.raises(FileExistsError):
        keygen(tmp_path / "k.pem", tmp_path / "k2.pub")


@pytest.mark.parametrize("name", ["manifest-sha512.txt", "tagmanifest-sha512.txt", "bag-info.txt"])
def test_removed_tag_file_is_named(packet: Packet, tmp_path: Path, name: str) -> None:
    bag_dir = build(packet, tmp_path / "bag")
    (bag_dir / name).unlink()
    assert f"missing file: {name}" in verify_bag(bag_dir, packet.pub)


def test_edited_bag_info_is_named(packet: Packet, tmp_path: Path) -> None:
    bag_dir = build(packet, tmp_path / "bag")
    info = bag_dir / "bag-info.txt"
    info.write_text(info.read_text().replace("North Campus", "South Campus"))
    assert verify_bag(bag_dir, packet.pub) == [
        "bad checksum: bag-info.txt (sha256)",
        "bad checksum: bag-info.txt (sha512)",
    ]


def test_malformed_oxum_is_reported_not_raised(packet: Packet, tmp_path: Path) -> None:
    bag_dir = build(packet, tmp_path / "bag")
    info = bag_dir / "bag-info.txt"
    info.write_text(
        "\n".join(
            "Payload-Oxum: lots" if line.startswith("Payload-Oxum") else line
            for line in info.read_text().splitlines()
        )
        + "\n"
    )
    problems = verify_bag(bag_dir)
    assert any(p.startswith("bagit: Malformed Payload-Oxum") for p in problems)
    assert "bad checksum: bag-info.txt (sha256)" in problems


def test_unsafe_or_ambiguous_zips_are_refused(tmp_path: Path) -> None:
    slip = tmp_path / "slip.zip"
    with zipfile.ZipFile(slip, "w") as zf:
        zf.writestr("bag/bagit.txt", "BagIt-Version: 1.0\n")
        zf.writestr("bag/../../escape.txt", "x")
    assert verify_bag(slip) == ["unsafe path in zip: bag/../../escape.txt"]
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as zf:
        zf.writestr("a/bagit.txt", "x")
        zf.writestr("b/bagit.txt", "x")
    assert verify_bag(two) == ["zip must hold exactly one bag folder, found ['a', 'b']"]
    assert not (tmp_path.parent / "escape.txt").exists()


# --- everything in a packet is accounted for ------------------------------------------------------


def test_extra_files_and_folders_anywhere_are_named(packet: Packet, tmp_path: Path) -> None:
    bag_dir = build(packet, tmp_path / "bag")
    (bag_dir / "README-first.txt").write_text("planted beside the tag files")
    (bag_dir / "notes").mkdir()
    (bag_dir / "notes" / "a.txt").write_text("planted in a new folder")
    (bag_dir / "empty").mkdir()
    (bag_dir / "data" / "originals" / "sub").mkdir()
    assert sorted(verify_bag(bag_dir, packet.pub)) == [
        "unexpected file: README-first.txt",
        "unexpected file: notes/a.txt",
        "unexpected folder: data/originals/sub/",
        "unexpected folder: empty/",
        "unexpected folder: notes/",
    ]


def test_a_file_listed_only_in_the_unsigned_tag_manifest_is_named_by_a_signed_verification(
    packet: Packet, tmp_path: Path
) -> None:
    bag_dir = build(packet, tmp_path / "bag")
    planted = {"statement.pdf": b"planted beside the tag files", "notes/a.txt": b"in a new folder"}
    (bag_dir / "notes").mkdir()
    with open(bag_dir / "tagmanifest-sha512.txt", "a", encoding="utf-8") as manifest:
        for name, data in planted.items():
            (bag_dir / name).write_bytes(data)
            manifest.write(f"{hashlib.sha512(data).hexdigest()} {name}\n")
    assert verify_bag(bag_dir) == []  # no signature asked for: the tag manifests vouch for them
    assert sorted(verify_bag(bag_dir, packet.pub)) == [
        "not covered by the signature: notes/a.txt (in no manifest the signature covers)",
        "not covered by the signature: statement.pdf (in no manifest the signature covers)",
    ]


def test_links_and_names_colliding_by_case_are_named(packet: Packet, tmp_path: Path) -> None:
    bag_dir = build(packet, tmp_path / "bag")
    (bag_dir / "Bagit.txt").write_text("BagIt-Version: 1.0\n")
    (bag_dir / "data" / "originals" / "link.mp4").symlink_to(bag_dir / "data" / "originals" / "cam-3.mp4")
    problems = verify_bag(bag_dir, packet.pub)
    assert "names differ only in case or Unicode form: Bagit.txt, bagit.txt" in problems
    assert "not a regular file: data/originals/link.mp4" in problems


def test_links_and_pipes_are_named_and_nothing_is_read_through_them(packet: Packet, tmp_path: Path) -> None:
    bag_dir = build(packet, tmp_path / "bag")
    originals = bag_dir / "data" / "originals"
    (originals / "gone.mp4").symlink_to(tmp_path / "absent")
    os.mkfifo(originals / "pipe.mp4")
    (originals / "cam-3.mp4").unlink()  # a listed file: reading through this link would wait forever
    (originals / "cam-3.mp4").symlink_to(originals / "pipe.mp4")
    assert verify_bag(bag_dir, packet.pub) == [
        "not a regular file: data/originals/cam-3.mp4",
        "not a regular file: data/originals/gone.mp4",
        "not a regular file: data/originals/pipe.mp4",
        "nothing else checked: a packet's links and special files are never followed or read",
    ]


def _resign(bag_dir: Path, key: Path) -> None:
    """What the export did with tampered bytes: manifests of what is there, signed."""
    _reseal(bag_dir)
    sign_bag(bag_dir, load_private_key(key))


def test_signed_payload_that_differs_from_the_incident_record_is_named(
    packet: Packet, tmp_path: Path
) -> None:
    bag_dir = build(packet, tmp_path / "bag")
    record = json.loads((bag_dir / "data/incident.json").read_text())
    recorded = {e["file"]: e for e in record["evidence"]}
    victim = bag_dir / "data/originals/cam-3.mp4"
    data = bytearray(victim.read_bytes())
    data[100] ^= 0xFF
    victim.write_bytes(bytes(data))
    _resign(bag_dir, packet.key)
    now = hash_file(victim)
    assert verify_bag(bag_dir, packet.pub) == [
        "digest differs from the incident record: data/originals/cam-3.mp4 (sha256): manifest "
        f"{now['sha256']}, incident record {recorded['data/originals/cam-3.mp4']['sha256']}",
        "digest differs from the incident record: data/originals/cam-3.mp4 (sha512): manifest "
        f"{now['sha512']}, incident record {recorded['data/originals/cam-3.mp4']['sha512']}",
    ]
    # The forger also rewrites the incident record: the custody chain's acquisition still disagrees.
    for entry in record["evidence"]:
        if entry["file"] == "data/originals/cam-3.mp4":
            entry.update(now)
    (bag_dir / "data/incident.json").write_text(json.dumps(record))
    _resign(bag_dir, packet.key)
    assert verify_bag(bag_dir, packet.pub) == [
        f"no custody entry acquires data/originals/cam-3.mp4 (sha256 {now['sha256']})"
    ]


def test_payload_missing_from_the_incident_record_is_named(packet: Packet, tmp_path: Path) -> None:
    bag_dir = build(packet, tmp_path / "bag")
    (bag_dir / "data/derived/planted.mp4").write_bytes(b"planted")
    _resign(bag_dir, packet.key)
    problems = verify_bag(bag_dir, packet.pub)
    assert problems == ["not in the incident record: data/derived/planted.mp4"]


def _rezip(source: zipfile.ZipFile, target: Path, first: list[tuple[str, bytes]]) -> None:
    with zipfile.ZipFile(target, "w") as zf:
        for name, data in first:
            zf.writestr(name, data)
        for info in source.infolist():
            zf.writestr(info, source.read(info))


@pytest.mark.filterwarnings("ignore:Duplicate name")  # zipfile warns the forger, and writes it anyway
def test_zip_with_a_tampered_duplicate_entry_is_refused(packet: Packet, tmp_path: Path) -> None:
    zipped = build(packet, tmp_path / "INC", zip=True)
    name = "INC/data/originals/cam-3.mp4"
    with zipfile.ZipFile(zipped) as zf:
        tampered = bytearray(zf.read(name))
        tampered[0] ^= 0xFF
        _rezip(zf, tmp_path / "dup.zip", [(name, bytes(tampered))])
    assert verify_bag(tmp_path / "dup.zip", packet.pub) == [f"duplicate entry in zip: {name} (2 times)"]


def test_zip_with_names_colliding_by_case_is_refused(packet: Packet, tmp_path: Path) -> None:
    zipped = build(packet, tmp_path / "INC", zip=True)
    with zipfile.ZipFile(zipped) as zf:
        _rezip(zf, tmp_path / "case.zip", [("INC/data/originals/CAM-3.mp4", b"other")])
    assert verify_bag(tmp_path / "case.zip", packet.pub) == [
        "names differ only in case or Unicode form: "
        "INC/data/originals/CAM-3.mp4, INC/data/originals/cam-3.mp4"
    ]


@pytest.fixture
def verify_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temp dir verification unpacks into, to see what it wrote."""
    room = tmp_path / "verify-tmp"
    room.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(room))
    return room


def test_zip_bomb_is_refused_before_anything_is_unpacked(tmp_path: Path, verify_tmp: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bag/bagit.txt", BAGIT_TXT)
        with zf.open("bag/data/zeros.bin", "w", force_zip64=True) as f:
            block = bytes(CHUNK)
            for _ in range(160):  # 160 MiB of zeros: about 160 KB deflated
                f.write(block)
    size = bomb.stat().st_size
    assert size < 1 << 20
    assert verify_bag(bomb) == [
        f"would unpack to {160 * CHUNK + len(BAGIT_TXT)} bytes from a {size}-byte zip "
        "(more than 20 times its size): refused"
    ]
    assert list(verify_tmp.iterdir()) == []


def test_zip_with_too_many_entries_is_refused(tmp_path: Path, verify_tmp: Path) -> None:
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as zf:
        for n in range(MAX_ZIP_ENTRIES + 1):
            zf.writestr(f"bag/data/{n}", b"")
    assert verify_bag(many) == [f"{MAX_ZIP_ENTRIES + 1} entries in zip, more than {MAX_ZIP_ENTRIES}: refused"]
    assert list(verify_tmp.iterdir()) == []


def test_zip_verification_leaves_no_temp_dir_and_removes_stale_ones(
    packet: Packet, tmp_path: Path, verify_tmp: Path
) -> None:
    zipped = build(packet, tmp_path / "INC", zip=True)
    crashed = verify_tmp / f"{VERIFY_TEMP_PREFIX}+{host_tag()}+{dead_pid()}+abc"
    (crashed / "INC").mkdir(parents=True)
    (crashed / "INC" / "bagit.txt").write_text("left by a killed verification")
    assert verify_bag(zipped, packet.pub) == []
    assert list(verify_tmp.iterdir()) == []


# --- building refuses what it cannot vouch for ----------------------------------------------------


def test_build_refuses_bytes_that_differ_from_their_recorded_digests(packet: Packet, tmp_path: Path) -> None:
    recorded = hash_file(packet.originals[0])
    tampered = tmp_path / "tampered.mp4"
    data = bytearray(packet.originals[0].read_bytes())
    data[5] ^= 0x01
    tampered.write_bytes(bytes(data))
    found = hash_file(tampered)
    claims = tmp_path / "claims"
    claims.mkdir()
    with pytest.raises(PayloadDigestError) as caught:
        build_bag(
            tmp_path / "bag",
            originals=[PayloadFile(tampered, "cam-3.mp4", recorded["sha256"], recorded["sha512"])],
            derived=[],
            incident={},
            custody=packet.custody,
            info=INFO,
            signing_key=packet.key,
            claims=claims,
        )
    assert [str(m) for m in caught.value.mismatches] == [
        f"data/originals/cam-3.mp4: sha256 {found['sha256']}, expected {recorded['sha256']}",
        f"data/originals/cam-3.mp4: sha512 {found['sha512']}, expected {recorded['sha512']}",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "claims",
        "key.pem",
        "key.pub",
        "named",
        "src",
        "store",
        "tampered.mp4",
    ]
    assert list(claims.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("clip.mp4", "clip.mp4"),
        ("../../etc/passwd", "_._etc_passwd"),
        ("..", "file"),
        ("a\\..\\b.mp4", "a_._b.mp4"),
        ("/abs/path.mp4", "_abs_path.mp4"),
        ("line\nbreak\r\x00\x1b[31m.mp4", "line_break___[31m.mp4"),
        ("bidi\u202egnp.exe", "bidi_gnp.exe"),
        ("C:clip.mp4", "C_clip.mp4"),
        ("con.mp4", "_con.mp4"),
        ("trailing. ", "trailing"),
        ("e\u0301.mp4", "\u00e9.mp4"),
        ("x" * 300 + ".mp4", "x" * 196 + ".mp4"),
    ],
)
def test_safe_name(name: str, safe: str) -> None:
    assert safe_name(name) == safe
    assert safe_name(safe) == safe


@given(
    name=st.text(st.characters(exclude_categories=()) | st.sampled_from(". e\u0301"), max_size=400),
    prefix=st.from_regex(r"[0-9a-f]{12}-", fullmatch=True),
)
def test_a_safe_name_fits_the_room_a_prefix_leaves(name: str, prefix: str) -> None:
    short = safe_name(name, max_bytes=NAME_MAX_BYTES - len(prefix))
    assert len(short.encode("utf-8")) <= NAME_MAX_BYTES - len(prefix)
    assert safe_name(short, max_bytes=NAME_MAX_BYTES - len(prefix)) == short
    assert safe_name(prefix + short) == prefix + short  # the prefixed name is a safe payload name


@pytest.mark.parametrize(
    ("name", "max_bytes", "safe"),
    [
        ("x" * 300 + ".mp4", 187, "x" * 183 + ".mp4"),
        ("\u00e9" * 150 + ".mkv", 187, "\u00e9" * 91 + ".mkv"),  # never half a character
        ("clip." + "e" * 16, 10, "clip.eeeee"),  # an extension longer than half the room goes
    ],
)
def test_safe_name_shortens_to_a_byte_budget_keeping_the_extension(
    name: str, max_bytes: int, safe: str
) -> None:
    assert safe_name(name, max_bytes=max_bytes) == safe


def test_build_refuses_unsafe_and_colliding_payload_names(packet: Packet, tmp_path: Path) -> None:
    with pytest.raises(BagBuildError, match="unsafe payload file name"):
        build_bag(
            tmp_path / "b",
            originals=[PayloadFile(packet.originals[0], "../escape.mp4")],
            derived=[],
            incident={},
            custody=packet.custody,
            info=INFO,
        )
    with pytest.raises(BagBuildError, match=r"two payload files named 'cam-3\.mp4' and 'CAM-3\.mp4'"):
        build_bag(
            tmp_path / "b",
            originals=[PayloadFile(packet.originals[0]), PayloadFile(packet.originals[1], "CAM-3.mp4")],
            derived=[],
            incident={},
            custody=packet.custody,
            info=INFO,
        )
    assert not (tmp_path / "b").exists()


def test_stale_work_dirs_of_a_killed_build_are_removed_by_the_next(packet: Packet, tmp_path: Path) -> None:
    stale = tmp_path / f".bag.+{host_tag()}+{dead_pid()}+x1.part"
    (stale / "bag" / "data").mkdir(parents=True)
    (stale / "bag" / "data" / "half.mp4").write_bytes(b"half a copy")
    live = tmp_path / f".bag.+{host_tag()}+{dead_pid()}+x2.part"
    live.mkdir()
    held = os.open(live, os.O_RDONLY | os.O_DIRECTORY)
    try:
        hold(held)  # as a build running in another process does
        build(packet, tmp_path / "bag")
        assert not stale.exists()
        assert live.exists()
    finally:
        os.close(held)
