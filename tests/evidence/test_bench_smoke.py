"""The evidence benchmark runs (figures are printed, never checked)."""

from __future__ import annotations

import subprocess
import sys

from tests.evidence.conftest import EVIDENCE_ROOT


def test_evidence_benchmark_runs_quick() -> None:
    done = subprocess.run(
        [sys.executable, "bench/evidence_bench.py", "--quick"],
        cwd=EVIDENCE_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for label in (
        "hashlib",
        "store-sha256",
        "store-hash",
        "put_file",
        "cp+sha256sum",
        "build_bag",
        "verify_bag",
    ):
        assert any(line.startswith(label) for line in lines), done.stdout
    assert "problems found: 0" in done.stdout
