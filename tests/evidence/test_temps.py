"""Stale temporaries: this host's crashed writers, anyone's day-old leftovers; never a held one."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from pathlib import Path

import pytest

from evidence.store import ContentStore
from evidence.temps import STALE_AFTER, claim, hold, host_tag, maker, name_prefix, sweep
from tests.evidence.conftest import dead_pid


def _make(path: Path, data: bytes = b"leftover", *, age: float = 0.0) -> Path:
    path.write_bytes(data)
    if age:
        then = time.time() - age
        os.utime(path, (then, then))
    return path


def test_names_carry_their_maker() -> None:
    prefix = name_prefix()
    assert prefix == f"+{host_tag()}+{os.getpid()}+"
    assert maker(prefix + "a_1_b.part") == (host_tag(), os.getpid())
    assert maker(f".out+1+2.{prefix}x.part") == (host_tag(), os.getpid())  # the last tag is the maker
    assert maker("tmpabc.part") is None


def test_sweep_removes_only_stale_unheld_temporaries(tmp_path: Path) -> None:
    here, gone = host_tag(), dead_pid()
    crashed = _make(tmp_path / f"+{here}+{gone}+a.part", b"x" * 1000)
    running = _make(tmp_path / f"+{here}+{os.getpid()}+b.part")  # a live process of this host
    elsewhere_young = _make(tmp_path / f"+other-node+{gone}+c.part", age=3600)
    elsewhere_old = _make(tmp_path / f"+other-node+{gone}+d.part", age=STALE_AFTER + 60)
    unnamed_old = _make(tmp_path / "tmpold.part", age=STALE_AFTER + 60)
    unnamed_young = _make(tmp_path / "tmpyoung.part")
    held_old = _make(tmp_path / f"+other-node+{gone}+e.part", age=STALE_AFTER + 60)
    fd = os.open(held_old, os.O_RDONLY)
    try:
        hold(fd)  # a writer on another node still works on it
        removed = sweep(tmp_path)
    finally:
        os.close(fd)
    assert {(r.path.name, r.size) for r in removed} == {
        (crashed.name, 1000),
        (elsewhere_old.name, 8),
        (unnamed_old.name, 8),
    }
    assert (
        next(r for r in removed if r.path == crashed).reason == f"process {gone} no longer runs on this host"
    )
    assert next(r for r in removed if r.path == unnamed_old).reason == "unlocked and 24 h old"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (running, elsewhere_young, unnamed_young, held_old)
    )


def test_a_held_temporary_of_a_dead_pid_stays(tmp_path: Path) -> None:
    """The pid in a name can be wrong (reused, copied); the lock decides."""
    path = _make(tmp_path / f"+{host_tag()}+{dead_pid()}+a.part")
    fd = os.open(path, os.O_RDONLY)
    try:
        hold(fd)
        assert sweep(tmp_path) == []
    finally:
        os.close(fd)
    assert [r.path for r in sweep(tmp_path)] == [path]


def test_a_stale_claim_takes_its_target_and_only_a_temporary(tmp_path: Path) -> None:
    swept, elsewhere = tmp_path / "tmp", tmp_path / "out"
    swept.mkdir()
    elsewhere.mkdir()
    gone = dead_pid()
    target = elsewhere / f".packet.+{host_tag()}+{gone}+x.part"
    (target / "packet" / "data").mkdir(parents=True)
    (target / "packet" / "data" / "clip.mp4").write_bytes(b"c" * 500)
    _make(swept / f"+{host_tag()}+{gone}+a.claim", json.dumps({"path": str(target)}).encode())
    precious = elsewhere / "precious"
    precious.mkdir()
    _make(swept / f"+{host_tag()}+{gone}+b.claim", json.dumps({"path": str(precious)}).encode())
    removed = sweep(swept)
    assert [(r.path, r.size) for r in removed if r.path.parent == elsewhere] == [(target, 500)]
    assert not target.exists()
    assert precious.is_dir()  # a claim naming something that is not a temporary removes only itself
    assert list(swept.iterdir()) == []


def test_a_claim_is_held_while_its_block_runs(tmp_path: Path) -> None:
    target = tmp_path / f".packet.{name_prefix()}x.part"
    target.mkdir()
    with claim(tmp_path, target) as path:
        assert json.loads(path.read_text()) == {"path": str(target)}
        assert sweep(tmp_path, lambda name: name.endswith(".claim")) == []
    assert not path.exists()


def test_a_stale_link_is_removed_without_following_it(tmp_path: Path) -> None:
    victim = _make(tmp_path / "victim.txt")
    link = tmp_path / "swept" / f"+{host_tag()}+{dead_pid()}+x.part"
    link.parent.mkdir()
    link.symlink_to(victim)
    assert [r.path for r in sweep(link.parent)] == [link]
    assert victim.read_bytes() == b"leftover"


@pytest.mark.parametrize("pid", ["0", "99999999"])
def test_impossible_pids_of_this_host_are_not_running(tmp_path: Path, pid: str) -> None:
    path = _make(tmp_path / f"+{host_tag()}+{pid}+x.part")
    assert [r.path for r in sweep(tmp_path)] == [path]


def test_without_file_locks_names_and_ages_still_decide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    store = ContentStore(tmp_path / "store")
    assert store.put_stream([b"written without a lock"]).size == 22
    crashed = _make(store.tmp / f"+{host_tag()}+{dead_pid()}+a.part")
    running = _make(store.tmp / f"{name_prefix()}b.part")
    assert [r.path for r in store.cleanup_temp()] == [crashed]
    assert running.exists()
