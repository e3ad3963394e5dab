"""BagIt (RFC 8493) evidence packets: build, sign (Ed25519), verify.

Layout of a packet::

    bagit.txt  bag-info.txt  manifest-sha256.txt  manifest-sha512.txt
    tagmanifest-sha256.txt  tagmanifest-sha512.txt  [tagmanifest-sha256.txt.sig]
    data/originals/...  data/derived/...  data/incident.json  data/custody.jsonl

``bag-info.txt`` also records ``Custody-Entries`` and ``Custody-Head-Sha256`` (the last custody
entry's hash). It is covered by the tag manifests, and the signature covers
``tagmanifest-sha256.txt``, so with a signature a truncated or extended custody chain is caught too.

Note: ``bagit.make_bag`` changes the process working directory while it runs; do not build bags
from several threads of one process at once (use a process pool).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import bagit
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from evidence.custody import CustodyEntry, parse_jsonl, to_jsonl, verify_chain

__all__ = [
    "CHECKSUMS",
    "CUSTODY_FILE",
    "INCIDENT_FILE",
    "SIGNATURE_FILE",
    "BagBuildError",
    "build_bag",
    "keygen",
    "load_private_key",
    "load_public_key",
    "sign_bag",
    "verify_bag",
]

CHECKSUMS = ("sha256", "sha512")
BAGIT_TXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
SIGNED_FILE = "tagmanifest-sha256.txt"
SIGNATURE_FILE = SIGNED_FILE + ".sig"
INCIDENT_FILE = "data/incident.json"
CUSTODY_FILE = "data/custody.jsonl"
_RESERVED_INFO = {"Payload-Oxum", "Custody-Entries", "Custody-Head-Sha256"}


class BagBuildError(ValueError):
    """The inputs cannot make a packet (duplicate names, reserved bag-info labels, ...)."""


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def incident_json(incident: Mapping[str, Any]) -> str:
    """Stable JSON for ``data/incident.json`` (sorted keys, datetimes as ISO 8601)."""
    text = json.dumps(dict(incident), sort_keys=True, indent=2, ensure_ascii=False, default=_json_default)
    return text + "\n"


def _copy_payload(files: Sequence[Path], into: Path) -> None:
    into.mkdir()
    seen: set[str] = set()
    for src in files:
        src = Path(src)
        if src.name in seen:
            raise BagBuildError(f"two payload files named {src.name!r} in {into.name}/")
        seen.add(src.name)
        shutil.copyfile(src, into / src.name)  # content only: blobs are 0o444, copies need not be


def _fsync_tree(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(dirpath, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def build_bag(
    out: Path,
    *,
    originals: Sequence[Path],
    derived: Sequence[Path],
    incident: Mapping[str, Any],
    custody: Sequence[CustodyEntry],
    info: Mapping[str, str],
    signing_key: Path | None = None,
    zip: bool = False,
    processes: int = 1,
) -> Path:
    """Build a BagIt packet at ``out`` (or ``<out>.zip`` when ``zip``) and return its path.

    The bag is assembled in a temp directory beside ``out`` and renamed into place only when
    complete (and signed, when ``signing_key`` is given), so ``out`` never holds half a bag.
    ``info`` becomes bag-info.txt (``External-Identifier``, ``Source-Organization``, ...); bagit adds
    ``Bagging-Date`` (unless given), ``Bag-Software-Agent`` and ``Payload-Oxum``.
    """
    out = Path(out)
    final = out.with_name(out.name + ".zip") if zip else out
    if final.exists():
        raise FileExistsError(final)
    reserved = _RESERVED_INFO & set(info)
    if reserved:
        raise BagBuildError(f"bag-info labels set by build_bag: {sorted(reserved)}")
    if custody_problems := verify_chain(custody):
        raise BagBuildError("custody chain is broken: " + "; ".join(custody_problems))
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
    try:
        staging = work / out.name
        staging.mkdir()
        _copy_payload(originals, staging / "originals")
        _copy_payload(derived, staging / "derived")
        (staging / "incident.json").write_text(incident_json(incident), encoding="utf-8")
        (staging / "custody.jsonl").write_text(to_jsonl(custody), encoding="utf-8")
        bag_info = dict(info)
        bag_info["Custody-Entries"] = str(len(custody))
        bag_info["Custody-Head-Sha256"] = custody[-1].hash if custody else "0" * 64
        bagit.make_bag(str(staging), bag_info=bag_info, checksums=list(CHECKSUMS), processes=processes)
        # bagit 1.9's make_bag still declares 0.97; the bag is RFC 8493 (1.0) conformant (every payload
        # file in every manifest), so declare 1.0 and let bagit rewrite the tag manifests.
        (staging / "bagit.txt").write_text(BAGIT_TXT, encoding="utf-8")
        bagit.Bag(str(staging)).save()
        if signing_key is not None:
            sign_bag(staging, load_private_key(signing_key))
        if zip:
            part = work / (out.name + ".zip")
            _zip_dir(staging, part)
            staging = part
        else:
            _fsync_tree(staging)
        os.rename(staging, final)
        _fsync_dir(final.parent)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _zip_dir(bag_dir: Path, zip_path: Path) -> None:
    """Zip ``bag_dir`` as a top-level folder of the same name (stored: video does not compress)."""
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for path in sorted(bag_dir.rglob("*")):
            if path.is_file():
                zf.write(path, arcname=f"{bag_dir.name}/{path.relative_to(bag_dir).as_posix()}")
    with open(zip_path, "rb") as f:
        os.fsync(f.fileno())


# --- keys and signatures ---------------------------------------------------------------------


def keygen(private_path: Path, public_path: Path) -> None:
    """Write a new Ed25519 key pair as PEM (private PKCS#8, mode 0o600; public SPKI). Never overwrites."""
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private_pem)
    os.chmod(private_path, 0o600)  # in case the umask was stricter than needed, or looser
    with open(public_path, "xb") as f:
        f.write(public_pem)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(Path(path).read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 public key")
    return key


def sign_bag(bag_dir: Path, key: Ed25519PrivateKey) -> Path:
    """Write the detached base64 signature over ``tagmanifest-sha256.txt``; returns its path."""
    signature = key.sign((Path(bag_dir) / SIGNED_FILE).read_bytes())
    sig_path = Path(bag_dir) / SIGNATURE_FILE
    sig_path.write_text(base64.b64encode(signature).decode("ascii") + "\n", encoding="ascii")
    return sig_path


# --- verification ------------------------------------------------------------------------------


@contextmanager
def _opened(path: Path) -> Iterator[tuple[Path | None, list[str]]]:
    """The bag directory for ``path`` (a bag dir or its zip, extracted to a temp dir)."""
    if Path(path).is_dir():
        yield Path(path), []
        return
    if not zipfile.is_zipfile(path):
        yield None, [f"{path}: neither a bag directory nor a zip file"]
        return
    with tempfile.TemporaryDirectory(prefix="evidence-verify-") as tmp, zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        unsafe = [n for n in names if PurePosixPath(n).is_absolute() or ".." in PurePosixPath(n).parts]
        tops = {PurePosixPath(n).parts[0] for n in names if PurePosixPath(n).parts}
        if unsafe:
            yield None, [f"{path}: unsafe path in zip: {n}" for n in unsafe]
            return
        if len(tops) != 1:
            yield None, [f"{path}: zip must hold exactly one bag folder, found {sorted(tops)}"]
            return
        zf.extractall(tmp)
        yield Path(tmp) / tops.pop(), []


def _fixity_problems(details: Sequence[Any], bag_dir: Path) -> list[str]:
    problems = []
    for detail in details:
        if not isinstance(detail, bagit.ChecksumMismatch):
            problems.append(f"bagit: {detail}")
        elif not (bag_dir / detail.path).exists():
            problems.append(f"missing file: {detail.path}")
        else:
            problems.append(f"bad checksum: {detail.path} ({detail.algorithm})")
    return sorted(problems)


def _bagit_problems(bag: Any, bag_dir: Path, processes: int) -> list[str]:
    """bagit's own validation, phase by phase, so that every bad, missing or added file is named."""
    problems = [
        f"missing file: {name}"
        for alg in CHECKSUMS
        for name in (f"manifest-{alg}.txt", f"tagmanifest-{alg}.txt")
        if not (bag_dir / name).is_file()
    ]
    try:
        bag.validate(processes=processes)
        return problems
    except bagit.BagValidationError as exc:
        details = list(exc.details)
        if details and all(isinstance(d, bagit.ChecksumMismatch) for d in details):
            # Completeness passed and fixity ran over every file: the report is whole.
            return list(dict.fromkeys(problems + _fixity_problems(details, bag_dir)))
        if not details:  # Payload-Oxum or structure failed before completeness and fixity ran
            problems.append(f"bagit: {exc}")
    except bagit.BagError as exc:
        problems.append(f"bagit: {exc}")
    except ValueError as exc:  # bagit 1.9 raises a bare ValueError on a Payload-Oxum without a "."
        problems.append(f"bagit: Malformed Payload-Oxum or tag file ({exc})")
    # validate() stops at its first failing phase; run completeness and fixity anyway.
    try:
        only_in_manifest, only_on_fs = bag.compare_manifests_with_fs()
        problems += [f"missing file: {name}" for name in sorted(only_in_manifest)]
        problems += [f"unexpected file: {name}" for name in sorted(only_on_fs)]
        try:
            bag._validate_entries(processes)  # SHA-256 and SHA-512 of every manifest entry
        except bagit.BagValidationError as exc:
            problems += _fixity_problems(exc.details, bag_dir)
    except bagit.BagError as exc:
        problems.append(f"bagit: {exc}")
    return list(dict.fromkeys(problems))


def _signature_problems(bag_dir: Path, public_key: Path) -> list[str]:
    sig_path = bag_dir / SIGNATURE_FILE
    if not sig_path.is_file():
        return [f"signature missing: {SIGNATURE_FILE}"]
    try:
        signature = base64.b64decode(sig_path.read_text(encoding="ascii").strip(), validate=True)
        load_public_key(public_key).verify(signature, (bag_dir / SIGNED_FILE).read_bytes())
    except (InvalidSignature, binascii.Error, UnicodeDecodeError, ValueError):
        return [f"bad signature: {SIGNATURE_FILE} does not match {SIGNED_FILE} for this key"]
    except FileNotFoundError:
        return [f"signature cannot be checked: {SIGNED_FILE} missing"]
    return []


def _custody_problems(bag_dir: Path, bag_info: Mapping[str, Any]) -> list[str]:
    path = bag_dir / CUSTODY_FILE
    if not path.is_file():
        return [f"custody: {CUSTODY_FILE} missing"]
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return [f"custody: {CUSTODY_FILE} is not UTF-8 ({exc})"]
    entries, problems = parse_jsonl(text)
    head = bag_info.get("Custody-Head-Sha256")
    problems += verify_chain(entries, expected_head=head if isinstance(head, str) else None)
    count = bag_info.get("Custody-Entries")
    if isinstance(count, str) and count != str(len(entries)):
        problems.append(f"chain has {len(entries)} entries, bag-info.txt says {count}")
    return [f"custody: {p}" for p in problems]


def verify_bag(path: Path, public_key: Path | None = None, *, processes: int = 1) -> list[str]:
    """Every problem with a packet (bag dir or zip); an empty list means intact.

    Runs bagit's validation (structure, completeness, SHA-256 and SHA-512 fixity of payload and tag
    files), checks the custody chain in ``data/custody.jsonl`` against ``bag-info.txt``, and, when
    ``public_key`` is given, the Ed25519 signature (a missing signature is then a problem).
    """
    with _opened(Path(path)) as (bag_dir, problems):
        if bag_dir is None:
            return problems
        try:
            bag = bagit.Bag(str(bag_dir))
        except bagit.BagError as exc:
            return [f"not a valid bag: {exc}"]
        problems += _bagit_problems(bag, bag_dir, processes)
        problems += _custody_problems(bag_dir, bag.info)
        if public_key is not None:
            problems += _signature_problems(bag_dir, public_key)
        return problems
