"""CPU-bound clip work (motion analysis, redaction) in a process pool, off the event loop.

Decoding, analysis and encoding hold the GIL for long stretches; running them in worker processes
keeps the event loop (ingest, connectors) responsive and uses every core.
"""

from __future__ import annotations

__all__ = ["ClipJobs"]

import asyncio
import contextlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from analytics.clip import ClipReport, analyze_clip
from analytics.geometry import Polygon
from privacy.redact import RedactOptions, RedactReport, redact_clip

# Clip work is batch work: on a small machine it must not take the CPU from the event loop,
# where a PTZ command for the next phone call is waiting.
WORKER_NICENESS = 10


def _lower_priority() -> None:
    with contextlib.suppress(OSError, AttributeError):  # not permitted, or not on this OS
        os.nice(WORKER_NICENESS)


def _analyze(path: Path, masks: list[Polygon]) -> ClipReport:
    return analyze_clip(path, masks=masks)


def _redact(source: Path, output: Path, options: RedactOptions) -> RedactReport:
    return redact_clip(source, output, options)


class ClipJobs:
    """``async with ClipJobs(workers=2) as jobs: report = await jobs.analyze(path)``."""

    def __init__(self, workers: int = 2) -> None:
        # spawn, not fork: the parent runs an event loop and database connections that a forked
        # child must not inherit.
        self._pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_lower_priority
        )
        self.workers = workers

    async def analyze(self, path: Path, masks: list[Polygon] | None = None) -> ClipReport:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, _analyze, path, masks or [])

    async def redact(self, source: Path, output: Path, options: RedactOptions) -> RedactReport:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, _redact, source, output, options)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    async def __aenter__(self) -> ClipJobs:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close)
