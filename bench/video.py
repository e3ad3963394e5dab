"""Video path benchmark: decode, motion, redaction, and the process pool.

    python bench/video.py              # 720p and 1080p, 15 fps, 30 s clips (a few minutes)
    python bench/video.py --quick      # tiny clips, for the smoke test

Figures printed (nothing is asserted), all measured in this run on clips generated here:
  decode      decode-only fps (PyAV, threaded, luma plane)
  motion      full motion analysis fps, and motion / decode (target >= 0.8)
  transcode   decode + H.264 encode with nothing masked
  redact      people anonymization + static masks, and redact / transcode (target >= 0.8)
  peak memory of each stage (each runs in a fresh worker process, so peaks do not mix)
  pool        clips/minute for motion analysis with 2 worker processes
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # fixtures/ is not an installed package

from analytics.clip import analyze_clip  # noqa: E402
from analytics.decode import FrameReader  # noqa: E402
from fixtures.video.generate import generate  # noqa: E402
from privacy.redact import RedactOptions, redact_clip  # noqa: E402
from vmsbridge.jobs import ClipJobs  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage_decode(path: Path) -> tuple[int, float, float]:
    start = time.perf_counter()
    with FrameReader(path) as reader:
        count = sum(1 for _ in reader)
    return count, time.perf_counter() - start, peak_mb()


def stage_motion(path: Path) -> tuple[int, float, float]:
    start = time.perf_counter()
    report = analyze_clip(path)
    return report.frames, time.perf_counter() - start, peak_mb()


def stage_redact(path: Path, out: Path, people: str, masked: bool) -> tuple[int, float, float]:
    masks = [[(0, 0), (200, 0), (200, 120), (0, 120)]] if masked else []
    options = RedactOptions(masks=masks, people=people)  # type: ignore[arg-type]
    start = time.perf_counter()
    report = redact_clip(path, out, options)
    return report.frames_written, time.perf_counter() - start, peak_mb()


def fresh(function: object, *args: object) -> tuple[int, float, float]:
    """Run one stage in a new process, so its peak memory is its own."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()  # type: ignore[arg-type]


def line(label: str, frames: int, seconds: float, memory: float, extra: str = "") -> float:
    fps = frames / seconds
    print(f"{label:<22} {frames:>6} frames  {fps:8.1f} fps  peak {memory:7.0f} MB  {extra}")
    return fps


async def pool_rate(clips: list[Path]) -> None:
    async with ClipJobs(workers=2) as jobs:
        await jobs.analyze(clips[0])  # start the workers before timing
        start = time.perf_counter()
        await asyncio.gather(*(jobs.analyze(c) for c in clips))
        elapsed = time.perf_counter() - start
    print(
        f"{'pool (2 workers)':<22} {len(clips):>6} clips   {len(clips) / elapsed * 60:8.1f} clips/minute "
        f"(motion analysis, {elapsed:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny clips (smoke test)")
    args = parser.parse_args()
    sizes = [("small", 320, 240, 3)] if args.quick else [("720p", 1280, 720, 30), ("1080p", 1920, 1080, 30)]
    print(f"vmsbridge video benchmark: Python {sys.version.split()[0]}, 15 fps H.264 clips generated here")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, width, height, seconds in sizes:
            clip = work / f"{name}.mp4"
            generate(clip, width, height, 15, seconds, tamper=False, preset="veryfast", threads=2)
            print(f"-- {name}: {width}x{height}, {seconds} s, {clip.stat().st_size / 1e6:.1f} MB")
            decode_fps = line("decode", *fresh(stage_decode, clip))
            motion_fps = line("motion", *fresh(stage_motion, clip))
            print(f"{'':<22} motion / decode = {motion_fps / decode_fps:.2f}")
            plain_fps = line(
                "transcode (no masks)", *fresh(stage_redact, clip, work / f"{name}-plain.mp4", "off", False)
            )
            redact_fps = line(
                "redact (people+masks)",
                *fresh(stage_redact, clip, work / f"{name}-redacted.mp4", "pixelate", True),
            )
            print(f"{'':<22} redact / transcode = {redact_fps / plain_fps:.2f}")
        first = work / f"{sizes[0][0]}.mp4"
        asyncio.run(pool_rate([first] * (2 if args.quick else 4)))


if __name__ == "__main__":
    main()
