"""Run-time switchable misbehaviour for the emulators, shared by ONVIF and XProtect."""

from __future__ import annotations

__all__ = ["SwitchableQuirks"]

import dataclasses
from collections.abc import Mapping
from typing import Any


class SwitchableQuirks:
    """Mixin for a quirks dataclass whose ``__post_init__`` validates every field."""

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply ``changes`` in place, all or nothing, after validating every field."""
        known = {f.name for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown quirk(s) {unknown}; known: {sorted(known)}")
        checked = dataclasses.replace(self, **changes)  # type: ignore[type-var]
        # In place, so code holding a reference to this object sees the change.
        for name in known:
            setattr(self, name, getattr(checked, name))
