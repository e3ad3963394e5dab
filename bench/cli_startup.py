"""How long ``vmsbridge --help`` takes: the cost of starting the command line at all.

    python bench/cli_startup.py                 # 10 runs
    python bench/cli_startup.py --runs 30

Each run is a fresh interpreter (``python -m vmsbridge --help``), timed from start to exit, with
``python -c pass`` as the floor. Figures only: nothing here passes or fails on a number.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def timed(command: list[str], runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10, help="runs of each command (default: %(default)s)")
    args = parser.parse_args()
    for label, command in (
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("vmsbridge --help", [sys.executable, "-m", "vmsbridge", "--help"]),
    ):
        seconds = timed(command, args.runs)
        print(
            f"{label:<18} best {min(seconds):.3f} s  median {statistics.median(seconds):.3f} s  "
            f"worst {max(seconds):.3f} s  ({args.runs} runs)"
        )


if __name__ == "__main__":
    main()
