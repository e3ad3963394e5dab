"""Files that are whole or absent: written beside their target under a temporary name, flushed
to disk and renamed over it, so a reader (or a crash) sees the old file or the complete new one.

Standalone: the standard library only, so the other standalone packages may use it too.
"""

from __future__ import annotations

__all__ = ["atomic_output", "fsync_dir", "write_atomically"]

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries (a rename into it) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_output(path: Path, *, mode: int | None = None, fsync: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; a clean exit renames it over ``path``.

    On an exception the temporary is removed and ``path`` is left as it was. ``mode`` sets the
    file's permissions (the temporary is created 0o600). ``fsync=False`` skips flushing the file
    and directory to disk, for a file that is copied elsewhere durably right afterwards.
    """
    directory = path.parent
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=directory)
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
        if fsync:
            with open(temp, "rb") as written:
                os.fsync(written.fileno())
        if mode is not None:
            os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if fsync:
        fsync_dir(directory)


def write_atomically(path: Path, data: str | bytes, *, unless_same: bool = False) -> bool:
    """Write ``data`` (text as UTF-8, newlines as given) to ``path`` whole, fsynced.

    ``unless_same``: a file already holding exactly these bytes is left alone. Returns whether
    the file was written.
    """
    content = data.encode("utf-8") if isinstance(data, str) else data
    if unless_same:
        try:
            if path.read_bytes() == content:
                return False
        except FileNotFoundError:
            pass
    with atomic_output(path) as temp:
        temp.write_bytes(content)
    return True
