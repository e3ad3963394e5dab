"""Temporaries a crash may leave behind, and which of them are stale.

A temporary's name carries the host and process that made it (``+<host>+<pid>+<random>``), and its
maker holds an exclusive ``flock`` on it while it works (the kernel drops the lock when the process
dies, however it dies). A temporary nobody holds is stale when

- this host made it and its process no longer runs here, or
- it is older than :data:`STALE_AFTER` (made elsewhere, by a process that may run on another node
  sharing the directory, or named before names carried their maker).

A held temporary is never removed, so a sweep is safe while writers run, in this process or another.

A *claim* is a small temporary in a swept directory that names a temporary elsewhere (a packet
being built beside its destination): a stale claim takes its target with it.
"""

from __future__ import annotations

__all__ = [
    "STALE_AFTER",
    "Removed",
    "claim",
    "hold",
    "host_tag",
    "maker",
    "name_prefix",
    "sweep",
]

import errno
import fcntl
import json
import logging
import os
import re
import shutil
import socket
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

STALE_AFTER = 86_400.0  # seconds: a day, far beyond any write or export a node does
CLAIM_SUFFIX = ".claim"
# "+" is in no host tag and in no random part tempfile makes: the last match is the maker's.
_MAKER = re.compile(r"\+(?P<host>[A-Za-z0-9.-]+)\+(?P<pid>[0-9]{1,9})\+")
_PID_MAX = 1 << 22  # Linux's largest pid_max
_NO_LOCKS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP})


@dataclass(frozen=True, slots=True)
class Removed:
    """One stale temporary that a sweep removed."""

    path: Path
    size: int  # bytes freed (a folder: the files in it)
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "size": self.size, "reason": self.reason}


def host_tag() -> str:
    """This host's name as it appears in temporary names (letters, digits, dots and dashes)."""
    return re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "host"


def name_prefix() -> str:
    """The start of every temporary name this process makes."""
    return f"+{host_tag()}+{os.getpid()}+"


def maker(name: str) -> tuple[str, int] | None:
    """The host and pid a temporary's name records, if it records them."""
    matches = _MAKER.findall(name)
    return (matches[-1][0], int(matches[-1][1])) if matches else None


def hold(fd: int) -> bool:
    """Take the lock a temporary's maker keeps while it works (released on close or death).

    False on a filesystem without locks: there only the name and the age tell a stale temporary.
    Raises :class:`BlockingIOError` when someone else holds it.
    """
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in _NO_LOCKS:
            return False
        raise
    return True


def _running_here(pid: int) -> bool:
    if pid <= 0 or pid > _PID_MAX:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _stale_reason(name: str, mtime: float, now: float) -> str | None:
    made_by = maker(name)
    if made_by is not None and made_by[0] == host_tag() and not _running_here(made_by[1]):
        return f"process {made_by[1]} no longer runs on this host"
    if now - mtime > STALE_AFTER:
        return f"unlocked and {(now - mtime) / 3600:.0f} h old"
    return None


def _size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except FileNotFoundError:
                continue
    return total


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _open_unlocked(path: Path) -> int | None:
    """An fd holding ``path``'s lock, or None when its maker still holds it (or it vanished)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | (os.O_DIRECTORY if path.is_dir() else 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    try:
        hold(fd)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    return fd


def _claimed_target(claim_path: Path) -> Path | None:
    try:
        target = Path(json.loads(claim_path.read_text(encoding="utf-8"))["path"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    # Only ever a temporary named like one: a damaged claim must not remove anything else.
    if not target.is_absolute() or maker(target.name) is None or not target.name.endswith(".part"):
        return None
    return target


def _sweep_one(path: Path, now: float) -> list[Removed]:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return []
    if stat.S_ISLNK(info.st_mode):  # never followed; only a planted link can be here
        reason = _stale_reason(path.name, info.st_mtime, now)
        if reason is None:
            return []
        path.unlink(missing_ok=True)
        return [Removed(path, 0, reason)]
    fd = _open_unlocked(path)
    if fd is None:
        return []
    try:
        reason = _stale_reason(path.name, info.st_mtime, now)
        if reason is None:
            return []
        removed: list[Removed] = []
        target = _claimed_target(path) if path.name.endswith(CLAIM_SUFFIX) else None
        if target is not None and target.exists():
            target_fd = _open_unlocked(target)
            if target_fd is None:
                return []  # someone works in it after all: keep the claim that leads to it
            try:
                removed.append(Removed(target, _size(target), f"claimed by {path.name}: {reason}"))
                _remove(target)
            finally:
                os.close(target_fd)
        removed.append(Removed(path, _size(path), reason))
        _remove(path)
        return removed
    finally:
        os.close(fd)


def sweep(directory: Path, match: Callable[[str], bool] = lambda _name: True) -> list[Removed]:
    """Remove the stale temporaries in ``directory`` whose names ``match``; what went, and why."""
    removed: list[Removed] = []
    now = time.time()
    try:
        entries = sorted(Path(directory).iterdir())
    except FileNotFoundError:
        return removed
    for path in entries:
        if not match(path.name):
            continue
        try:
            removed += _sweep_one(path, now)
        except OSError as exc:  # one unremovable leftover must not stop the command that sweeps
            log.warning("could not remove stale temporary %s: %s", path, exc)
    return removed


@contextmanager
def claim(directory: Path, target: Path) -> Iterator[Path]:
    """While the block runs, a held claim in ``directory`` names ``target`` (a temporary elsewhere)."""
    fd, name = tempfile.mkstemp(dir=directory, prefix=name_prefix(), suffix=CLAIM_SUFFIX)
    path = Path(name)
    try:
        hold(fd)
        os.write(fd, json.dumps({"path": str(Path(target).absolute())}).encode("utf-8"))
        os.fsync(fd)
        yield path
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)
