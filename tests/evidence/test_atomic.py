"""Whole-or-absent files: written beside the target and renamed over it; the one place that does it."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from evidence.atomic import atomic_output, write_atomically
from tests.conftest import ROOT


def test_text_and_bytes_replace_the_file_whole_and_leave_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "report.csv"
    target.write_text("old\n", encoding="utf-8")
    assert write_atomically(target, "new\r\nä\n") is True
    assert target.read_bytes() == "new\r\nä\n".encode()  # newlines as given
    assert write_atomically(target, b"\x00bytes") is True
    assert target.read_bytes() == b"\x00bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]


def test_unless_same_leaves_an_identical_file_alone(tmp_path: Path) -> None:
    target = tmp_path / "alert.xml"
    assert write_atomically(target, b"<alert/>", unless_same=True) is True
    before = target.stat()
    assert write_atomically(target, b"<alert/>", unless_same=True) is False
    assert target.stat().st_ino == before.st_ino  # not even rewritten
    assert write_atomically(target, b"<alert>2</alert>", unless_same=True) is True
    assert target.read_bytes() == b"<alert>2</alert>"


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "clip.mp4"
    target.write_bytes(b"complete")

    def half_written() -> None:
        with atomic_output(target) as temp:
            temp.write_bytes(b"half")
            raise RuntimeError("encoder failed")

    with pytest.raises(RuntimeError, match="encoder failed"):
        half_written()
    assert target.read_bytes() == b"complete"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_mode_is_applied_before_the_file_appears(tmp_path: Path) -> None:
    target = tmp_path / "redacted.mp4"
    with atomic_output(target, mode=0o644, fsync=False) as temp:
        temp.write_bytes(b"frames")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_no_other_module_renames_a_temporary_over_its_target() -> None:
    """One helper, not copies: ``os.replace`` appears in evidence/atomic.py only."""
    packages = ("vmsbridge", "connectors", "analytics", "privacy", "evidence", "recording")
    users = sorted(
        str(path.relative_to(ROOT))
        for package in packages
        for path in (ROOT / package).rglob("*.py")
        if re.search(r"\bos\.replace\(|\bos\.replace\b,", path.read_text(encoding="utf-8"))
    )
    assert users == ["evidence/atomic.py"]
