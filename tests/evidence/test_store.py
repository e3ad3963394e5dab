"""ContentStore: layout, hashes, dedup, read-only blobs, verify, and a SIGKILL mid-write."""

from __future__ import annotations

import hashlib
import io
import os
import select
import signal
import stat
import subprocess
import sys
import textwrap
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from evidence.store import (
    CHUNK_SIZE,
    BlobNotFoundError,
    ContentStore,
    NotRegularFileError,
    hash_file,
    hash_regular_file,
)
from evidence.temps import name_prefix
from tests.evidence.conftest import EVIDENCE_ROOT


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_put_file_layout_hashes_and_mode(tmp_path: Path) -> None:
    data = os.urandom(3 * CHUNK_SIZE + 17)
    store = ContentStore(tmp_path / "store")
    blob = store.put_file(_write(tmp_path / "clip.mp4", data))
    digest = hashlib.sha256(data).hexdigest()
    assert blob.sha256 == digest
    assert blob.sha512 == hashlib.sha512(data).hexdigest()
    assert blob.size == len(data)
    assert blob.path == tmp_path / "store" / "sha256" / digest[:2] / digest[2:4] / digest
    assert blob.path.read_bytes() == data
    assert stat.S_IMODE(blob.path.stat().st_mode) == 0o444
    assert list(store) == [digest]
    assert digest in store
    assert not any((tmp_path / "store" / "tmp").iterdir())


def test_put_stream_matches_put_file_and_deduplicates(tmp_path: Path) -> None:
    data = os.urandom(CHUNK_SIZE + 5)
    store = ContentStore(tmp_path / "store")
    first = store.put_file(_write(tmp_path / "a", data))
    inode = first.path.stat().st_ino
    second = store.put_stream([data[:10], b"", data[10:]])
    assert second == first
    assert first.path.stat().st_ino == inode  # not rewritten
    assert not any((tmp_path / "store" / "tmp").iterdir())


def test_empty_blob(tmp_path: Path) -> None:
    blob = ContentStore(tmp_path).put_stream([])
    assert blob.sha256 == hashlib.sha256(b"").hexdigest()
    assert blob.size == 0


def test_put_stream_constant_memory(tmp_path: Path) -> None:
    def chunks() -> Iterator[bytes]:
        block = b"\x5a" * CHUNK_SIZE
        for _ in range(48):
            yield block

    store = ContentStore(tmp_path)
    tracemalloc.start()
    try:
        blob = store.put_stream(chunks())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert blob.size == 48 * CHUNK_SIZE
    assert peak < 8 * CHUNK_SIZE


def test_open_is_read_only_and_verify_detects_corruption(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    blob = store.put_stream([b"evidence bytes"])
    with store.open(blob.sha256) as f:
        assert f.read() == b"evidence bytes"
        with pytest.raises(io.UnsupportedOperation):
            f.write(b"x")
    assert store.verify(blob.sha256)
    os.chmod(blob.path, 0o644)
    blob.path.write_bytes(b"evidence bytez")
    assert not store.verify(blob.sha256)


def test_unknown_and_malformed_digests(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    with pytest.raises(BlobNotFoundError):
        store.open("0" * 64)
    with pytest.raises(BlobNotFoundError):
        store.verify("0" * 64)
    with pytest.raises(ValueError, match="SHA-256"):
        store.open("../../etc/passwd")
    assert "nope" not in store


def test_hash_file_matches_hashlib(tmp_path: Path) -> None:
    data = os.urandom(2 * CHUNK_SIZE + 1)
    digests = hash_file(_write(tmp_path / "f", data))
    assert digests == {"sha256": hashlib.sha256(data).hexdigest(), "sha512": hashlib.sha512(data).hexdigest()}


def test_hash_regular_file_refuses_anything_else_without_reading_or_blocking(tmp_path: Path) -> None:
    data = b"x" * (CHUNK_SIZE + 5)
    clip = _write(tmp_path / "clip.mp4", data)
    assert hash_regular_file(clip, ("sha256",)) == ({"sha256": hashlib.sha256(data).hexdigest()}, len(data))
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "pipe")  # opening it to read would wait for a writer forever
    (tmp_path / "link").symlink_to(clip)
    (tmp_path / "dangling").symlink_to(tmp_path / "absent")
    for name, kind in (
        ("folder", "a folder"),
        ("pipe", "a named pipe"),
        ("link", "a symbolic link"),
        ("dangling", "a symbolic link"),
    ):
        with pytest.raises(NotRegularFileError, match=f"{tmp_path / name}: {kind}, not a regular file"):
            hash_regular_file(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        hash_regular_file(tmp_path / "absent")


def test_cleanup_leaves_a_write_in_progress_alone(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    seen: list[object] = []

    def chunks() -> Iterator[bytes]:
        yield b"first half, "
        [part] = list(store.tmp.iterdir())
        seen.append((part.name.startswith(name_prefix()), store.cleanup_temp(), part.exists()))
        yield b"second half"

    blob = store.put_stream(chunks())
    assert seen == [(True, [], True)]
    assert blob.path.read_bytes() == b"first half, second half"


def test_strays_under_the_blob_tree_are_named(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    blob = store.put_stream([b"kept"])
    misplaced = store.blobs / "00" / "00" / blob.sha256
    misplaced.parent.mkdir(parents=True)
    misplaced.write_bytes(b"kept")
    (store.blobs / "notes.txt").write_text("x")
    link = store.blobs / "ff" / "ff" / ("f" * 64)
    link.parent.mkdir(parents=True)
    link.symlink_to(blob.path)
    assert list(store) == [blob.sha256]
    assert sorted(store.strays()) == sorted([misplaced, store.blobs / "notes.txt", link])


# --- crash safety ---------------------------------------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    import evidence.store as store_mod

    root, source, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]

    def announce_and_block() -> None:
        print("writing", flush=True)
        sys.stdin.read()  # the parent kills us while we wait

    if mode == "mid_stream":  # killed after a few MiB were written to the temp file
        original = store_mod.iter_file_chunks
        def chunks(path, chunk_size=store_mod.CHUNK_SIZE):
            for n, chunk in enumerate(original(path, chunk_size)):
                if n == 4:
                    announce_and_block()
                yield chunk
        store_mod.iter_file_chunks = chunks
    elif mode == "before_rename":  # killed with a complete, fsynced temp file not yet renamed
        real_rename = os.rename
        def rename(src, dst):
            announce_and_block()
            real_rename(src, dst)
        os.rename = rename
    store = store_mod.ContentStore(root)
    if mode == "free_running":  # killed wherever the write happens to be
        print("writing", flush=True)
    store.put_file(source)
    print("done", flush=True)
    """
)


@pytest.fixture(scope="module")
def large_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 256 MiB sparse file with random blocks spread through it."""
    path = tmp_path_factory.mktemp("large") / "camera-7.mp4"
    size = 256 * CHUNK_SIZE
    with open(path, "wb") as f:
        f.truncate(size)
        for offset in range(0, size, 32 * CHUNK_SIZE):
            f.seek(offset)
            f.write(os.urandom(CHUNK_SIZE // 4))
    return path, hash_file(path, ("sha256",))["sha256"]


@pytest.mark.parametrize("mode", ["mid_stream", "before_rename", "free_running"])
def test_sigkill_mid_put_file_leaves_no_blob(tmp_path: Path, large_file: tuple[Path, str], mode: str) -> None:
    source, digest = large_file
    root = tmp_path / "store"
    env = {**os.environ, "PYTHONPATH": str(EVIDENCE_ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(root), str(source), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=EVIDENCE_ROOT,
        env=env,
    )
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], 60)
        assert ready, "child never started writing"
        assert child.stdout.readline() == b"writing\n"
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
        for pipe in (child.stdin, child.stdout, child.stderr):
            if pipe is not None:
                pipe.close()

    store = ContentStore(root)
    published = list(store)
    if mode == "free_running":
        # The kill may land after the rename; whatever is published must then be complete.
        assert published in ([], [digest])
        assert all(store.verify(d) for d in published)
        assert len(store.cleanup_temp()) in (0, 1)
    else:
        assert published == []
        assert not any(p.is_file() for p in (root / "sha256").rglob("*"))
        [removed] = store.cleanup_temp()
        assert removed.reason == f"process {child.pid} no longer runs on this host"
    assert store.cleanup_temp() == []

    blob = store.put_file(source)
    assert blob.sha256 == digest
    assert store.verify(digest)
    assert list(store) == [digest]
