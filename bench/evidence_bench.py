"""Evidence benchmark: store hashing throughput and BagIt packet export time.

(Not named ``bench/evidence.py``: scripts run from ``bench/`` get it on ``sys.path[0]``, where a
module named ``evidence`` would shadow the ``evidence`` package for every benchmark.)

    python bench/evidence_bench.py            # 1 GiB file and a 1 GiB packet (about a minute, 4 GiB of disk)
    python bench/evidence_bench.py --quick    # 8 MiB, for the smoke test

Figures printed (nothing is asserted), measured in this run on random files generated here, each the
best of ``--repeat`` runs with the file in the page cache:
  hashlib        raw ``hashlib.sha256`` over the file (1 MiB reads)
  store-sha256   the store's own read+hash loop, SHA-256 only, and / hashlib (target >= 0.9)
  store-hash     the same loop computing SHA-256 and SHA-512 one after the other, in one thread
  put_file       ContentStore.put_file: SHA-256 + write in this thread, SHA-512 in a helper thread,
                 then fsync and rename, and / hashlib
  cp+sha256sum   ``cp`` of the packet files then ``sha256sum`` of the copies (subprocesses)
  build_bag      build_bag of the same files (copy + SHA-256 + SHA-512 + tag manifests + signature),
                 with bagit processes=1 and =2, and / cp+sha256sum
  verify_bag     verify_bag of that packet (both algorithms, custody chain, signature)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evidence.bag import PayloadFile, build_bag, keygen, verify_bag  # noqa: E402
from evidence.custody import CustodyEntry, append  # noqa: E402
from evidence.store import CHUNK_SIZE, ContentStore, hash_file  # noqa: E402

MIB = 1 << 20


def make_random_file(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, CHUNK_SIZE)
            f.write(os.urandom(n))
            left -= n
    return path


def best_of(repeat: int, run: Callable[[], object], setup: Callable[[], object] | None = None) -> float:
    best = float("inf")
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def raw_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(CHUNK_SIZE):
            h.update(chunk)
    return h.hexdigest()


def rate(size: int, seconds: float) -> str:
    return f"{size / MIB / seconds:8.0f} MiB/s  ({seconds:6.2f} s)"


def bench_store(work: Path, size: int, repeat: int) -> None:
    path = make_random_file(work / "clip.bin", size)
    raw_sha256(path)  # warm the page cache
    raw = best_of(repeat, lambda: raw_sha256(path))
    only256 = best_of(repeat, lambda: hash_file(path, ("sha256",)))
    both = best_of(repeat, lambda: hash_file(path))
    store_root = work / "store"

    def fresh_store() -> None:
        shutil.rmtree(store_root, ignore_errors=True)

    put = best_of(repeat, lambda: ContentStore(store_root).put_file(path), setup=fresh_store)
    fresh_store()
    print(f"store throughput on a {size / MIB:.0f} MiB file (best of {repeat})")
    print(f"hashlib       sha256            {rate(size, raw)}")
    print(f"store-sha256  sha256            {rate(size, only256)}  ratio {raw / only256:.2f} of hashlib")
    print(f"store-hash    sha256+sha512     {rate(size, both)}  ratio {raw / both:.2f} of hashlib")
    print(f"put_file      sha256+sha512+copy{rate(size, put)}  ratio {raw / put:.2f} of hashlib")
    path.unlink()


def bench_export(work: Path, size: int, repeat: int) -> None:
    parts = 4
    src = work / "packet-src"
    src.mkdir()
    paths = [make_random_file(src / f"cam-{i}.mp4", size // parts) for i in range(parts)]
    # As in an export from the store: the digests recorded at acquisition come with each file.
    files = [PayloadFile(p, sha256=d["sha256"], sha512=d["sha512"]) for p in paths for d in [hash_file(p)]]
    custody: list[CustodyEntry] = []
    for file in files:
        custody.append(
            append(
                custody,
                at=datetime.now(UTC),
                actor="bench",
                action="acquired",
                item=file.sha256,
                purpose="benchmark",
                details={"file": file.source.name, "sha512": file.sha512},
            )
        )
    keygen(work / "key.pem", work / "key.pub")
    info = {"External-Identifier": "BENCH-1", "Source-Organization": "bench"}
    for f in paths:
        raw_sha256(f)  # warm the page cache

    copy_dir = work / "copy"

    def cp_and_sha256sum() -> None:
        shutil.rmtree(copy_dir, ignore_errors=True)
        copy_dir.mkdir()
        subprocess.run(["cp", *map(str, paths), str(copy_dir)], check=True)
        subprocess.run(
            ["sha256sum", *sorted(map(str, copy_dir.iterdir()))], check=True, stdout=subprocess.DEVNULL
        )

    baseline = best_of(repeat, cp_and_sha256sum)
    shutil.rmtree(copy_dir, ignore_errors=True)
    out = work / "bag"

    def clear() -> None:
        shutil.rmtree(out, ignore_errors=True)

    def export(processes: int) -> Callable[[], object]:
        return lambda: build_bag(
            out,
            originals=files[:-1],
            derived=files[-1:],
            incident={"id": "BENCH-1"},
            custody=custody,
            info=info,
            signing_key=work / "key.pem",
            processes=processes,
        )

    built1 = best_of(repeat, export(1), setup=clear)
    clear()
    built2 = best_of(repeat, export(2), setup=clear)
    problems: list[str] = []
    verified = best_of(repeat, lambda: problems.extend(verify_bag(out, work / "key.pub")))
    clear()
    print(f"export of a {size / MIB:.0f} MiB packet ({parts} files, best of {repeat})")
    print(f"cp+sha256sum  {baseline:6.2f} s")
    print(f"build_bag     {built1:6.2f} s  processes=1  ratio {built1 / baseline:.2f} of cp+sha256sum")
    print(f"build_bag     {built2:6.2f} s  processes=2  ratio {built2 / baseline:.2f} of cp+sha256sum")
    print(f"verify_bag    {verified:6.2f} s  problems found: {len(problems)}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="8 MiB instead of 1 GiB (smoke test)")
    parser.add_argument("--size-mib", type=int, default=None, help="file and packet size in MiB")
    parser.add_argument("--repeat", type=int, default=None, help="runs per figure (best is printed)")
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: a temp dir)")
    args = parser.parse_args()
    size = (args.size_mib or (8 if args.quick else 1024)) * MIB
    repeat = args.repeat or (1 if args.quick else 2)
    with tempfile.TemporaryDirectory(prefix="bench-evidence-", dir=args.dir) as tmp:
        bench_store(Path(tmp), size, repeat)
        bench_export(Path(tmp), size, repeat)


if __name__ == "__main__":
    main()
