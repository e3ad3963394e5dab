"""Fixtures for the standalone evidence library (no vmsbridge imports)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EVIDENCE_ROOT = Path(__file__).resolve().parents[2]


def dead_pid() -> int:
    """The pid of a process that has ended (so a temporary naming it is a crashed writer's)."""
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait(timeout=60)
    return child.pid
