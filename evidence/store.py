"""Content-addressed evidence store: one streaming pass, atomic publish, read-only blobs.

Layout under ``root``::

    sha256/ab/cd/<64-hex sha256>   published blobs, mode 0o444, never rewritten
    tmp/<random>.part              writes in progress (or leftovers of a crashed write)

A blob only ever appears under its digest name through ``os.rename`` of a complete, fsynced temp
file, so a crash at any point leaves at most a file in ``tmp/`` (removed by :meth:`cleanup_temp`).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "CHUNK_SIZE",
    "BlobNotFoundError",
    "ContentStore",
    "StoredBlob",
    "hash_file",
    "iter_file_chunks",
]

CHUNK_SIZE = 1 << 20  # 1 MiB: constant memory whatever the file size
_DIGEST = re.compile(r"[0-9a-f]{64}")


class BlobNotFoundError(KeyError):
    """No blob with this SHA-256 in the store."""


@dataclass(frozen=True, slots=True)
class StoredBlob:
    sha256: str
    sha512: str
    size: int
    path: Path


def iter_file_chunks(path: Path, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield a file's bytes in ``chunk_size`` pieces."""
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(chunk_size):
            yield chunk


def hash_file(path: Path, algorithms: Iterable[str] = ("sha256", "sha512")) -> dict[str, str]:
    """The store's hashing loop without the copy: hex digests of ``path`` for each algorithm."""
    hashers = {name: hashlib.new(name) for name in algorithms}
    for chunk in iter_file_chunks(path):
        for h in hashers.values():
            h.update(chunk)
    return {name: h.hexdigest() for name, h in hashers.items()}


def _check_digest(sha256: str) -> str:
    if not _DIGEST.fullmatch(sha256):
        raise ValueError(f"not a lowercase hex SHA-256 digest: {sha256!r}")
    return sha256


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ContentStore:
    """Blobs addressed by SHA-256 under ``root`` (created if missing)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blobs = self.root / "sha256"
        self.tmp = self.root / "tmp"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        """Where the blob with this digest lives (whether or not it exists)."""
        d = _check_digest(sha256)
        return self.blobs / d[:2] / d[2:4] / d

    def __contains__(self, sha256: object) -> bool:
        return isinstance(sha256, str) and bool(_DIGEST.fullmatch(sha256)) and self.path_for(sha256).is_file()

    def put_file(self, path: Path) -> StoredBlob:
        """Copy ``path`` into the store (hashing SHA-256 and SHA-512 on the way)."""
        return self.put_stream(iter_file_chunks(Path(path)))

    def put_stream(self, chunks: Iterable[bytes]) -> StoredBlob:
        """Store the concatenation of ``chunks`` in one pass; an existing digest is not rewritten."""
        h256 = hashlib.sha256()
        h512 = hashlib.sha512()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp, suffix=".part")
        tmp = Path(tmp_name)
        try:
            # SHA-512 runs in a helper thread (hashlib releases the GIL on large buffers) while this
            # thread does SHA-256 and the write: one chunk in flight, so memory stays constant.
            with os.fdopen(fd, "wb", buffering=0) as out, ThreadPoolExecutor(1) as helper:
                for chunk in chunks:
                    pending = helper.submit(h512.update, chunk)
                    h256.update(chunk)
                    view = memoryview(chunk)
                    while view:
                        written = out.write(view)
                        assert written is not None  # unbuffered raw file: never None for regular files
                        view = view[written:]
                    size += len(chunk)
                    pending.result()
                out.flush()
                os.fsync(out.fileno())
            sha256 = h256.hexdigest()
            final = self.path_for(sha256)
            if final.exists():
                tmp.unlink()
            else:
                os.chmod(tmp, 0o444)
                final.parent.mkdir(parents=True, exist_ok=True)
                os.rename(tmp, final)
                _fsync_dir(final.parent)
                _fsync_dir(self.tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return StoredBlob(sha256=sha256, sha512=h512.hexdigest(), size=size, path=final)

    def open(self, sha256: str) -> BinaryIO:
        """Open a blob read-only; raises :class:`BlobNotFoundError`."""
        path = self.path_for(sha256)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise BlobNotFoundError(sha256) from None

    def verify(self, sha256: str) -> bool:
        """Re-hash a blob: True when its content still matches its name."""
        path = self.path_for(sha256)
        if not path.is_file():
            raise BlobNotFoundError(sha256)
        return hash_file(path, ("sha256",))["sha256"] == sha256

    def discard(self, sha256: str) -> bool:
        """Remove a blob (disposal under a retention rule); False if it was not there.

        Blobs are shared by identical content: the caller checks that nothing still needs it.
        """
        path = self.path_for(sha256)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(path.parent)
        return True

    def cleanup_temp(self) -> int:
        """Remove leftovers of crashed writes; returns how many. Call when no writer is running."""
        removed = 0
        for leftover in self.tmp.iterdir():
            if leftover.is_file() or leftover.is_symlink():
                leftover.unlink()
                removed += 1
        return removed

    def __iter__(self) -> Iterator[str]:
        """Digests of every published blob."""
        for path in sorted(self.blobs.glob("*/*/*")):
            if _DIGEST.fullmatch(path.name):
                yield path.name
