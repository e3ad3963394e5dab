"""BagIt (RFC 8493) evidence packets: build, sign (Ed25519), verify.

Layout of a packet::

    bagit.txt  bag-info.txt  manifest-sha256.txt  manifest-sha512.txt
    tagmanifest-sha256.txt  tagmanifest-sha512.txt  [tagmanifest-sha256.txt.sig]
    data/originals/...  data/derived/...  data/incident.json  data/custody.jsonl

``bag-info.txt`` also records ``Custody-Entries`` and ``Custody-Head-Sha256`` (the last custody
entry's hash). It is covered by the tag manifests, and the signature covers
``tagmanifest-sha256.txt``, so with a signature a truncated or extended custody chain is caught too.

``data/incident.json`` lists every payload file under ``"evidence"`` with its SHA-256 and SHA-512,
and the custody chain has an ``acquired`` or ``derived`` entry for each (its ``item`` the SHA-256,
its details the SHA-512 and size): a build refuses bytes that differ from the digests it was
given, and verification compares the manifests with that record and with the chain. Nothing else
may be in a packet: every file is in a manifest or tag manifest, or is a tag manifest, or the
signature.

Note: ``bagit.make_bag`` changes the process working directory while it runs; do not build bags
from several threads of one process at once (use a process pool).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import shutil
import stat
import tempfile
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import bagit
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from evidence.atomic import fsync_dir
from evidence.custody import CustodyEntry, parse_jsonl, to_jsonl, verify_chain
from evidence.store import hash_file
from evidence.temps import claim, hold, name_prefix, sweep

__all__ = [
    "CHECKSUMS",
    "CUSTODY_FILE",
    "INCIDENT_FILE",
    "MAX_ZIP_ENTRIES",
    "MAX_ZIP_RATIO",
    "SIGNATURE_FILE",
    "BagBuildError",
    "DigestMismatch",
    "PayloadDigestError",
    "PayloadFile",
    "build_bag",
    "keygen",
    "load_private_key",
    "load_public_key",
    "safe_name",
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
PAYLOAD_FOLDERS = ("originals", "derived")
ACQUISITIONS = frozenset({"acquired", "derived"})  # custody actions that bring an item in

# A zip is unpacked to be verified; these bound what a hostile one can make us write. Packets are
# stored uncompressed (video does not compress), so a packet unpacks to about its own size.
MAX_ZIP_ENTRIES = 10_000
MAX_ZIP_RATIO = 20  # unpacked bytes per byte of zip ...
ZIP_RATIO_SLACK = 64 << 20  # ... plus this much, for small packets of well-compressed text
VERIFY_TEMP_PREFIX = "evidence-verify-"

_WINDOWS_RESERVED = re.compile(r"(?i)^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\.|$)")
_NAME_FORBIDDEN = set('<>:"/\\|?*')
_NAME_MAX_BYTES = 200  # well under the 255 of common filesystems, leaving room for a prefix


class BagBuildError(ValueError):
    """The inputs cannot make a packet (duplicate names, reserved bag-info labels, ...)."""


@dataclass(frozen=True, slots=True)
class DigestMismatch:
    file: str  # path in the packet, e.g. data/originals/clip.mp4
    algorithm: str
    expected: str
    found: str

    def __str__(self) -> str:
        return f"{self.file}: {self.algorithm} {self.found}, expected {self.expected}"


class PayloadDigestError(BagBuildError):
    """Bytes copied into a packet do not have the digests the caller recorded for them."""

    def __init__(self, mismatches: list[DigestMismatch]) -> None:
        super().__init__("payload differs from its recorded digests: " + "; ".join(map(str, mismatches)))
        self.mismatches = mismatches


@dataclass(frozen=True, slots=True)
class PayloadFile:
    """A payload file: its bytes at ``source``, its name in the packet (default: ``source.name``)
    and the digests recorded when it was acquired (when known; the build checks the copy against
    them and refuses a difference)."""

    source: Path
    name: str | None = None
    sha256: str | None = None
    sha512: str | None = None


def safe_name(name: str) -> str:
    """``name`` made safe as one file name on any system: no path separators, ``..``, control or
    format characters, characters Windows forbids, leading or trailing dots and spaces; NFC;
    at most 200 UTF-8 bytes (the extension kept). Never empty."""
    text = unicodedata.normalize("NFC", name)
    text = "".join(
        "_"
        if c in _NAME_FORBIDDEN or unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
        else c
        for c in text
    )
    text = re.sub(r"\.{2,}", ".", text).strip(" .")
    if _WINDOWS_RESERVED.match(text):
        text = "_" + text
    if len(text.encode("utf-8")) > _NAME_MAX_BYTES:
        _, dot, ext = text.rpartition(".")
        ext = dot + ext if dot and 0 < len(ext) <= 16 else ""
        stem = text[: len(text) - len(ext)]
        room = _NAME_MAX_BYTES - len(ext.encode("utf-8"))
        stem = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore").rstrip(" .")
        text = stem + ext
    return text or "file"


def _name_key(name: str) -> str:
    """Names equal under this key collide on a case-insensitive or normalizing filesystem."""
    return unicodedata.normalize("NFC", name).casefold()


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def incident_json(incident: Mapping[str, Any]) -> str:
    """Stable JSON for ``data/incident.json`` (sorted keys, datetimes as ISO 8601)."""
    text = json.dumps(dict(incident), sort_keys=True, indent=2, ensure_ascii=False, default=_json_default)
    return text + "\n"


def _payload(files: Sequence[Path | PayloadFile], folder: str) -> list[tuple[str, PayloadFile]]:
    """``(path in the packet, file)`` with digests known; refuses unsafe and colliding names."""
    out: list[tuple[str, PayloadFile]] = []
    seen: dict[str, str] = {}
    for given in files:
        item = given if isinstance(given, PayloadFile) else PayloadFile(Path(given))
        name = item.name if item.name is not None else Path(item.source).name
        if safe_name(name) != name:
            raise BagBuildError(f"unsafe payload file name {name!r} in {folder}/ (safe: {safe_name(name)!r})")
        if (other := seen.get(_name_key(name))) is not None:
            raise BagBuildError(f"two payload files named {other!r} and {name!r} in {folder}/")
        seen[_name_key(name)] = name
        if item.sha256 is None or item.sha512 is None:
            # Digests not recorded elsewhere: what the source holds now is what the packet records.
            digests = hash_file(Path(item.source), CHECKSUMS)
            item = PayloadFile(Path(item.source), name, digests["sha256"], digests["sha512"])
        out.append((f"data/{folder}/{name}", PayloadFile(Path(item.source), name, item.sha256, item.sha512)))
    return out


def _copy_payload(files: list[tuple[str, PayloadFile]], into: Path) -> None:
    into.mkdir()
    for _, item in files:
        assert item.name is not None
        shutil.copyfile(item.source, into / item.name)  # content only: blobs are 0o444, copies need not be


def _evidence_record(
    incident: Mapping[str, Any], payload: list[tuple[str, PayloadFile]], custody: Sequence[CustodyEntry]
) -> dict[str, Any]:
    """The incident record with its ``"evidence"`` list: the caller's, checked, or one made here."""
    record = dict(incident)
    given = record.get("evidence")
    if given is None:
        record["evidence"] = [
            {
                "file": path,
                "sha256": item.sha256,
                "sha512": item.sha512,
                "size": Path(item.source).stat().st_size,
            }
            for path, item in payload
        ]
    else:
        listed = (
            {e.get("file"): e for e in given if isinstance(e, Mapping)} if isinstance(given, list) else {}
        )
        if not isinstance(given, list) or len(listed) != len(given) or set(listed) != {p for p, _ in payload}:
            raise BagBuildError("the incident record's evidence list does not name exactly the payload files")
        for path, item in payload:
            entry = listed[path]
            if (entry.get("sha256"), entry.get("sha512")) != (item.sha256, item.sha512):
                raise BagBuildError(f"the incident record's digests of {path} differ from the payload's")
    acquired = {e.item: e for e in custody if e.action in ACQUISITIONS}
    if unrecorded := [path for path, item in payload if item.sha256 not in acquired]:
        raise BagBuildError(f"no custody entry acquires {', '.join(unrecorded)}")
    if differing := [
        p for p, i in payload if acquired[i.sha256].details.get("sha512") not in (None, i.sha512)
    ]:
        raise BagBuildError(f"the custody chain records another SHA-512 for {', '.join(differing)}")
    return record


def _check_manifests(bag_dir: Path, payload: list[tuple[str, PayloadFile]]) -> None:
    """The copies' digests (bagit's manifests, about to be signed) against the recorded ones."""
    entries = bagit.Bag(str(bag_dir)).entries
    mismatches = [
        DigestMismatch(path, alg, expected, entries.get(path, {}).get(alg, "missing"))
        for path, item in payload
        for alg, expected in (("sha256", item.sha256), ("sha512", item.sha512))
        if expected is not None and entries.get(path, {}).get(alg) != expected
    ]
    if mismatches:
        raise PayloadDigestError(mismatches)


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
    originals: Sequence[Path | PayloadFile],
    derived: Sequence[Path | PayloadFile],
    incident: Mapping[str, Any],
    custody: Sequence[CustodyEntry],
    info: Mapping[str, str],
    signing_key: Path | None = None,
    zip: bool = False,
    processes: int = 1,
    claims: Path | None = None,
) -> Path:
    """Build a BagIt packet at ``out`` (or ``<out>.zip`` when ``zip``) and return its path.

    The bag is assembled in a temp directory beside ``out`` and renamed into place only when
    complete (and signed, when ``signing_key`` is given), so ``out`` never holds half a bag.
    ``info`` becomes bag-info.txt (``External-Identifier``, ``Source-Organization``, ...); bagit adds
    ``Bagging-Date`` (unless given), ``Bag-Software-Agent`` and ``Payload-Oxum``.

    Payload files given with their recorded digests are checked against bagit's manifests of the
    copies before anything is signed: :class:`PayloadDigestError` names every difference. The
    incident record gets an ``"evidence"`` list of the payload files unless it has one, which must
    then agree; every payload file needs an ``acquired`` or ``derived`` entry in ``custody``.

    ``claims`` (e.g. a content store's ``tmp/``) holds a claim on the temp directory while the build
    runs, so a sweep of that directory removes what a killed build left beside ``out``; stale temp
    directories of earlier builds of ``out`` are removed first either way.
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
    payload = _payload(originals, "originals") + _payload(derived, "derived")
    record = _evidence_record(incident, payload, custody)
    out.parent.mkdir(parents=True, exist_ok=True)
    sweep(out.parent, lambda name: name.startswith(f".{out.name}.") and name.endswith(".part"))
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.{name_prefix()}", suffix=".part", dir=out.parent))
    lock = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
    try:
        hold(lock)  # a sweep leaves the work directory alone while this build runs
        with ExitStack() as claimed:
            if claims is not None:
                claimed.enter_context(claim(claims, work))
            staging = work / out.name
            staging.mkdir()
            _copy_payload([p for p in payload if p[0].startswith("data/originals/")], staging / "originals")
            _copy_payload([p for p in payload if p[0].startswith("data/derived/")], staging / "derived")
            (staging / "incident.json").write_text(incident_json(record), encoding="utf-8")
            (staging / "custody.jsonl").write_text(to_jsonl(custody), encoding="utf-8")
            bag_info = dict(info)
            bag_info["Custody-Entries"] = str(len(custody))
            bag_info["Custody-Head-Sha256"] = custody[-1].hash if custody else "0" * 64
            bagit.make_bag(str(staging), bag_info=bag_info, checksums=list(CHECKSUMS), processes=processes)
            # bagit 1.9's make_bag still declares 0.97; the bag is RFC 8493 (1.0) conformant (every
            # payload file in every manifest), so declare 1.0 and let bagit rewrite the tag manifests.
            (staging / "bagit.txt").write_text(BAGIT_TXT, encoding="utf-8")
            bagit.Bag(str(staging)).save()
            _check_manifests(staging, payload)
            if signing_key is not None:
                sign_bag(staging, load_private_key(signing_key))
            if zip:
                part = work / (out.name + ".zip")
                _zip_dir(staging, part)
                staging = part
            else:
                _fsync_tree(staging)
            os.rename(staging, final)
            fsync_dir(final.parent)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        os.close(lock)
    return final


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


def _zip_name_problems(name: str) -> list[str]:
    parts = PurePosixPath(name).parts
    if (
        name.startswith("/")
        or ".." in parts
        or "\\" in name
        or re.match(r"^[A-Za-z]:", name)
        or any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name)
    ):
        return [f"unsafe path in zip: {name if name.isprintable() else repr(name)}"]
    return []


def _collisions(names: Iterable[str]) -> list[str]:
    """Names that a case-insensitive or normalizing filesystem (or unzip tool) would make one."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(_name_key(name.rstrip("/")), []).append(name)
    return [
        "names differ only in case or Unicode form: " + ", ".join(sorted(group))
        for group in groups.values()
        if len(set(group)) > 1
    ]


def _zip_problems(path: Path, infos: list[zipfile.ZipInfo], room: Path) -> list[str]:
    """Everything that makes a zip unsafe or ambiguous to unpack, checked before anything is written."""
    if len(infos) > MAX_ZIP_ENTRIES:
        return [f"{path}: {len(infos)} entries in zip, more than {MAX_ZIP_ENTRIES}: refused"]
    names = [info.filename for info in infos]
    problems = [f"{path}: {p}" for name in names for p in _zip_name_problems(name)]
    problems += [
        f"{path}: duplicate entry in zip: {name} ({count} times)"
        for name, count in sorted(Counter(names).items())
        if count > 1
    ]
    problems += [f"{path}: {p}" for p in _collisions(set(names))]
    problems += [
        f"{path}: link or special file in zip: {info.filename}"
        for info in infos
        if info.create_system == 3  # Unix: the high bits are st_mode, whose type 0 means unset
        and stat.S_IFMT(info.external_attr >> 16) not in (0, stat.S_IFREG, stat.S_IFDIR)
    ]
    problems += [f"{path}: encrypted entry in zip: {info.filename}" for info in infos if info.flag_bits & 0x1]
    tops = {PurePosixPath(n).parts[0] for n in names if PurePosixPath(n).parts}
    if len(tops) != 1:
        problems.append(f"{path}: zip must hold exactly one bag folder, found {sorted(tops)}")
    unpacked = sum(info.file_size for info in infos)
    allowed = MAX_ZIP_RATIO * path.stat().st_size + ZIP_RATIO_SLACK
    if unpacked > allowed:
        problems.append(
            f"{path}: would unpack to {unpacked} bytes from a {path.stat().st_size}-byte zip "
            f"(more than {MAX_ZIP_RATIO} times its size): refused"
        )
    elif unpacked > (free := shutil.disk_usage(room).free):
        problems.append(f"{path}: needs {unpacked} bytes of temporary space to verify, {room} has {free}")
    return problems


@contextmanager
def _opened(path: Path) -> Iterator[tuple[Path | None, list[str]]]:
    """The bag directory for ``path`` (a bag dir or its zip, unpacked to a temp dir when safe)."""
    if Path(path).is_dir():
        yield Path(path), []
        return
    if not zipfile.is_zipfile(path):
        yield None, [f"{path}: neither a bag directory nor a zip file"]
        return
    room = Path(tempfile.gettempdir())
    sweep(room, lambda name: name.startswith(VERIFY_TEMP_PREFIX))  # what killed verifications left
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        if problems := _zip_problems(Path(path), infos, room):
            yield None, problems
            return
        with tempfile.TemporaryDirectory(prefix=VERIFY_TEMP_PREFIX + name_prefix()) as tmp:
            lock = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)
            try:
                hold(lock)
                zf.extractall(tmp)  # every size declared above bounds what is written
                yield Path(tmp) / PurePosixPath(infos[0].filename).parts[0], []
            finally:
                os.close(lock)


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


def _layout_problems(bag_dir: Path) -> list[str]:
    """Links, special files, and names that collide on other filesystems."""
    problems: list[str] = []
    names: list[str] = []
    for dirpath, dirnames, filenames in os.walk(bag_dir):
        for name in sorted(dirnames + filenames):
            full = Path(dirpath, name)
            rel = full.relative_to(bag_dir).as_posix()
            names.append(rel)
            mode = full.lstat().st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                problems.append(f"not a regular file: {rel}")
    return problems + _collisions(names)


def _coverage_problems(bag: Any, bag_dir: Path) -> list[str]:
    """Files no manifest, tag manifest or signature accounts for, and folders holding none of them."""
    covered = {PurePosixPath(Path(p).as_posix()).as_posix() for p in bag.entries}
    covered |= {f"tagmanifest-{alg}.txt" for alg in CHECKSUMS} | {SIGNATURE_FILE}
    folders = {"data"} | {f"data/{f}" for f in PAYLOAD_FOLDERS}
    folders |= {parent.as_posix() for p in covered for parent in PurePosixPath(p).parents}
    problems: list[str] = []
    for dirpath, dirnames, filenames in os.walk(bag_dir):
        for name in dirnames:
            rel = Path(dirpath, name).relative_to(bag_dir).as_posix()
            if rel not in folders:
                problems.append(f"unexpected folder: {rel}/")
        for name in filenames:
            rel = Path(dirpath, name).relative_to(bag_dir).as_posix()
            if rel not in covered:
                problems.append(f"unexpected file: {rel}")
    return sorted(problems)


def _record_problems(bag: Any, bag_dir: Path) -> list[str]:
    """The payload's manifest digests against the incident record and the custody chain."""
    try:
        record = json.loads((bag_dir / INCIDENT_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [f"incident record: {INCIDENT_FILE} missing"]
    except (UnicodeDecodeError, ValueError) as exc:
        return [f"incident record: {INCIDENT_FILE} is not JSON ({exc})"]
    listed = record.get("evidence") if isinstance(record, dict) else None
    if not isinstance(listed, list) or not all(
        isinstance(e, dict) and all(isinstance(e.get(k), str) for k in ("file", *CHECKSUMS)) for e in listed
    ):
        return [f"incident record: {INCIDENT_FILE} has no evidence list of files and their digests"]
    recorded = {e["file"]: e for e in listed}
    payload = {
        Path(p).as_posix()
        for p in bag.entries
        if any(Path(p).as_posix().startswith(f"data/{f}/") for f in PAYLOAD_FOLDERS)
    }
    problems = [f"not in the incident record: {p}" for p in sorted(payload - set(recorded))]
    problems += [
        f"in the incident record, not in the manifests: {p}" for p in sorted(set(recorded) - payload)
    ]
    try:
        chain, _ = parse_jsonl((bag_dir / CUSTODY_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        chain = []  # named by the custody check
    acquired = {e.item: e for e in chain if e.action in ACQUISITIONS and e.item is not None}
    for file in sorted(payload & set(recorded)):
        entry, digests = recorded[file], bag.entries.get(file, {})
        for alg in CHECKSUMS:
            if digests.get(alg) != entry[alg]:
                problems.append(
                    f"digest differs from the incident record: {file} ({alg}): manifest "
                    f"{digests.get(alg)}, incident record {entry[alg]}"
                )
        size = entry.get("size")
        if isinstance(size, int) and (bag_dir / file).is_file() and (bag_dir / file).stat().st_size != size:
            problems.append(
                f"size differs from the incident record: {file}: {(bag_dir / file).stat().st_size} bytes, "
                f"incident record {size}"
            )
        acquisition = acquired.get(entry["sha256"])
        if acquisition is None:
            problems.append(f"no custody entry acquires {file} (sha256 {entry['sha256']})")
            continue
        for key in ("sha512", "size"):
            was = acquisition.details.get(key)
            if was is not None and key in entry and was != entry[key]:
                problems.append(
                    f"differs from the custody chain: {file} ({key}): incident record {entry[key]}, "
                    f"custody entry {acquisition.seq} {was}"
                )
    return problems


def verify_bag(path: Path, public_key: Path | None = None, *, processes: int = 1) -> list[str]:
    """Every problem with a packet (bag dir or zip); an empty list means intact.

    Runs bagit's validation (structure, completeness, SHA-256 and SHA-512 fixity of payload and tag
    files); refuses any file or folder not accounted for by the manifests, the tag manifests or the
    signature, links, and names that differ only in case or Unicode form; compares the payload's
    digests with the incident record and the custody chain's acquisitions; checks the custody chain
    in ``data/custody.jsonl`` against ``bag-info.txt``; and, when ``public_key`` is given, the
    Ed25519 signature (a missing signature is then a problem).

    A zip is checked before it is unpacked (one bag folder, safe and unique names, at most
    :data:`MAX_ZIP_ENTRIES` entries, at most :data:`MAX_ZIP_RATIO` times its size unpacked, room in
    the temp dir) and unpacked only when nothing is wrong with it.
    """
    with _opened(Path(path)) as (bag_dir, problems):
        if bag_dir is None:
            return problems
        problems += _layout_problems(bag_dir)
        try:
            bag = bagit.Bag(str(bag_dir))
        except bagit.BagError as exc:
            return [*problems, f"not a valid bag: {exc}"]
        problems += _bagit_problems(bag, bag_dir, processes)
        problems += _coverage_problems(bag, bag_dir)
        problems += _record_problems(bag, bag_dir)
        problems += _custody_problems(bag_dir, bag.info)
        if public_key is not None:
            problems += _signature_problems(bag_dir, public_key)
        return list(dict.fromkeys(problems))
