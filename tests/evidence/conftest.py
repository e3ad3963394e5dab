"""Fixtures for the standalone evidence library (no vmsbridge imports)."""

from __future__ import annotations

from pathlib import Path

EVIDENCE_ROOT = Path(__file__).resolve().parents[2]
