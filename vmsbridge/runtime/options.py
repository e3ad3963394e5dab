"""What differs between the places that run a bridge: the database, timings, and the restart policies."""

from __future__ import annotations

__all__ = ["CORE_RESTARTS", "SOURCE_RESTARTS", "BridgeOptions", "RestartPolicy"]

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from vmsbridge.sources import EventSource


@dataclass(frozen=True)
class RestartPolicy:
    """How a supervised task that dies is restarted: after a capped, jittered backoff, and at most
    ``restarts`` times within ``within`` seconds (one more death gives it up); None: without limit."""

    restarts: int | None = 5
    within: float = 600.0
    first_delay: float = 1.0
    max_delay: float = 60.0
    healthy_after: float = 300.0  # a task that ran this long died of something new: backoff starts over


# The bridge's own stages: one that keeps dying stops the bridge (exit 1) rather than run on without it.
CORE_RESTARTS = RestartPolicy(restarts=5, within=600.0, first_delay=1.0, max_delay=60.0)
# Connectors: a device or VMS that is away is waited out for as long as it takes.
SOURCE_RESTARTS = RestartPolicy(restarts=None, first_delay=1.0, max_delay=60.0)


def _core_restarts() -> RestartPolicy:
    return CORE_RESTARTS


def _source_restarts() -> RestartPolicy:
    return SOURCE_RESTARTS


@dataclass(frozen=True)
class BridgeOptions:
    db_url: str
    migrate: bool = True  # upgrade the schema on start; else it must already be current
    work_dir: Path | None = None  # clips being fetched and derived; default <site data dir>/work
    bus_capacity: int = 10_000
    bus_drain_seconds: float = 30.0  # on stop, what was submitted gets this long to be stored
    clip_workers: int = 2  # processes analyzing and redacting clips
    rules_drain_seconds: float = 30.0  # on stop, rule actions in progress get this long to finish
    clip_clock: Callable[[], datetime] | None = None  # what clip capture takes "now" to be (tests, bench)
    # SIGHUP re-reads [rules] from this file; without one, a SIGHUP is logged and changes nothing.
    reload_from: Path | None = None
    extra_sources: tuple[EventSource, ...] = ()  # run beside the connectors (`run --scenario`)
    core_restarts: RestartPolicy = field(default_factory=_core_restarts)
    source_restarts: RestartPolicy = field(default_factory=_source_restarts)
