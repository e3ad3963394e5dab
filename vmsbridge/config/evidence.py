"""``[evidence]``: where evidence is kept, who may see originals, how long it is kept and how often
a running bridge re-hashes it.
"""

from __future__ import annotations

__all__ = [
    "AUDIT_MIB_PER_SECOND",
    "MAX_EVERY",
    "MIN_EVERY",
    "EvidenceConfig",
    "RetentionConfig",
    "parse_every",
]

import re
from datetime import timedelta
from pathlib import Path

from pydantic import Field, field_validator

from vmsbridge.config.base import ConfigModel

_EVERY = re.compile(r"^(?P<n>[1-9][0-9]{0,5})\s*(?P<unit>[smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}
MIN_EVERY = timedelta(minutes=10)
MAX_EVERY = timedelta(days=366)


def parse_every(text: str) -> timedelta | None:
    """``"24h"`` -> 24 hours (units s, m, h, d); ``""``/``"off"`` -> None; else a ValueError saying why."""
    value = text.strip().lower()
    if value in ("", "off"):
        return None
    match = _EVERY.match(value)
    if match is None:
        raise ValueError("expected a duration such as '24h', '90m' or '7d', or 'off'")
    every = timedelta(seconds=int(match["n"]) * _UNITS[match["unit"]])
    if not MIN_EVERY <= every <= MAX_EVERY:
        raise ValueError("expected between 10m (a store takes a while to re-hash) and 366d")
    return every


# The scheduled audit's reading rate: a 500 GB store in about 7 hours, leaving the disk to
# recordings and the database.
AUDIT_MIB_PER_SECOND = 20.0


class RetentionConfig(ConfigModel):
    """How long evidence of closed incidents (not on legal hold) is kept before it may be disposed of."""

    original_days: int = Field(1095, ge=1, le=36_500)
    derived_days: int = Field(365, ge=1, le=36_500)


class EvidenceConfig(ConfigModel):
    store_dir: Path | None = Field(
        None, description="content-addressed evidence store (default: <data dir>/evidence)"
    )
    signing_key: Path | None = Field(
        None, description="Ed25519 private key (PEM) that signs exported packets"
    )
    originals_for: list[str] = Field(
        default_factory=list, description="actors whose role allows originals of victim-sensitive incidents"
    )
    retention: RetentionConfig = RetentionConfig()
    audit_every: str = Field(
        "24h",
        description="how often a running bridge re-hashes the whole evidence store ('24h', '90m', "
        "'7d'; at least 10m), counted from the last audit; 'off' turns it off",
    )

    audit_mib_per_second: float = Field(
        AUDIT_MIB_PER_SECOND,
        gt=0,
        le=100_000,
        description="how fast the scheduled audit may read the store, in MiB/s: it runs while the "
        "bridge serves alarms and cameras record",
    )

    @field_validator("audit_every")
    @classmethod
    def _audit_every(cls, value: str) -> str:
        parse_every(value)  # ValueError says what is expected
        return value
