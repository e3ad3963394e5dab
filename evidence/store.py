"""Content-addressed evidence store: one streaming pass, atomic publish, read-only blobs.

Layout under ``root``::

    sha256/ab/cd/<64-hex sha256>   published blobs, mode 0o444, never rewritten
    tmp/<host>_<pid>_<random>.part writes in progress (or leftovers of a crashed write)
    tmp/<host>_<pid>_<random>.claim  a packet being built elsewhere (see :mod:`evidence.temps`)

A blob only ever appears under its digest name through ``os.rename`` of a complete, fsynced temp
file, so a crash at any point leaves at most a file in ``tmp/``. Its writer holds a lock on it, so
:meth:`cleanup_temp` can remove what crashed writers left at any time, even while others write.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from evidence.atomic import fsync_dir
from evidence.temps import Removed, hold, name_prefix, sweep

__all__ = [
    "CHUNK_SIZE",
    "BlobNotFoundError",
    "ContentStore",
    "HashingStopped",
    "StoredBlob",
    "hash_file",
    "iter_file_chunks",
]

CHUNK_SIZE = 1 << 20  # 1 MiB: constant memory whatever the file size
_DIGEST = re.compile(r"[0-9a-f]{64}")


class BlobNotFoundError(KeyError):
    """No blob with this SHA-256 in the store."""


class HashingStopped(Exception):
    """:func:`hash_file` was asked to stop before the end of the file."""


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


def hash_file(
    path: Path,
    algorithms: Iterable[str] = ("sha256", "sha512"),
    *,
    stop: Callable[[], bool] | None = None,
) -> dict[str, str]:
    """The store's hashing loop without the copy: hex digests of ``path`` for each algorithm.

    ``stop`` is asked between chunks; when it answers True, :class:`HashingStopped` is raised (a
    long audit ends promptly when its service stops).
    """
    hashers = {name: hashlib.new(name) for name in algorithms}
    for chunk in iter_file_chunks(path):
        if stop is not None and stop():
            raise HashingStopped(str(path))
        for h in hashers.values():
            h.update(chunk)
    return {name: h.hexdigest() for name, h in hashers.items()}


def _check_digest(sha256: str) -> str:
    if not _DIGEST.fullmatch(sha256):
        raise ValueError(f"not a lowercase hex SHA-256 digest: {sha256!r}")
    return sha256


def _regular(path: Path) -> bool:
    return stat.S_ISREG(path.lstat().st_mode)


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
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp, prefix=name_prefix(), suffix=".part")
        tmp = Path(tmp_name)
        try:
            hold(fd)  # until the fd closes (or the process dies): a sweep leaves this file alone
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
                fsync_dir(final.parent)
                fsync_dir(self.tmp)
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
        fsync_dir(path.parent)
        return True

    def cleanup_temp(self) -> list[Removed]:
        """Remove what crashed writers and exports left in ``tmp/`` (see :mod:`evidence.temps`).

        Safe while other writers run: what a live writer holds stays.
        """
        return sweep(self.tmp)

    def __iter__(self) -> Iterator[str]:
        """Digests of every published blob."""
        for path in sorted(self.blobs.glob("*/*/*")):
            if _DIGEST.fullmatch(path.name) and path == self.path_for(path.name) and _regular(path):
                yield path.name

    def strays(self) -> Iterator[Path]:
        """Everything under ``sha256/`` that is not a blob at its digest's place (nothing should be)."""
        for dirpath, dirnames, filenames in os.walk(self.blobs):
            dirnames.sort()
            for name in sorted(filenames) + [d for d in dirnames if Path(dirpath, d).is_symlink()]:
                path = Path(dirpath, name)
                if not (_DIGEST.fullmatch(name) and path == self.path_for(name) and _regular(path)):
                    yield path
