"""Evidence items, the audits that re-hash them, and lifts of privacy masks."""

from __future__ import annotations

__all__ = ["EvidenceAudit", "EvidenceItem", "MaskLiftRecord"]

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class EvidenceItem:
    incident_id: int
    sha256: str
    sha512: str
    size: int
    media_type: str
    role: str  # "original" | "derived"
    derived_from: str | None
    file_name: str
    camera_id: str | None
    how: str
    acquired_at: datetime
    acquired_by: str
    disposed_at: datetime | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None


@dataclass(frozen=True)
class EvidenceAudit:
    """One re-hash of evidence: a store audit (``kind="audit"``) or an export's check of its items."""

    kind: str
    incident_id: int | None  # None: the whole store
    node: str
    actor: str
    started_at: datetime
    finished_at: datetime
    items_checked: int
    blobs_checked: int
    bytes_hashed: int
    items: list[str] | None  # the SHA-256s checked; None: every live item in scope
    problems: list[dict[str, Any]]
    temporaries_removed: list[dict[str, Any]]
    id: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class MaskLiftRecord:
    camera_id: str
    mask_label: str
    actor: str
    reason: str
    granted_at: datetime
    until: datetime
    id: int | None = None
