"""What every ``vmsbridge clip ...`` sub-command shares: its argument types, ``--out``/``--json``, the report.

Nothing here imports PyAV or the recording library: building the command line stays quick, and each
sub-command imports what it needs when it runs.
"""

from __future__ import annotations

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "SubParsers",
    "add_output_options",
    "add_timeout_option",
    "moment",
    "report_clip",
    "seconds_up_to",
]

import argparse
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from vmsbridge.cli.common import print_json

if TYPE_CHECKING:
    from recording.result import ClipResult

EXIT_OK, EXIT_FAILED = 0, 1

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def seconds_up_to(limit: float) -> Callable[[str], float]:
    """An argparse type: a number of seconds above 0 and at most ``limit``."""

    def seconds(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
        if not 0 < value <= limit:
            raise argparse.ArgumentTypeError(
                f"expected more than 0 and at most {limit:g} seconds, got {text!r}"
            )
        return value

    return seconds


def moment(text: str) -> datetime:
    """An argparse type: an ISO 8601 time with its offset (recordings are stamped in UTC)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 time such as 2024-05-01T12:00:00Z, got {text!r}"
        ) from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"the time {text!r} needs an offset (Z or +hh:mm): recordings are stamped in UTC"
        )
    return value


def add_timeout_option(parser: argparse.ArgumentParser) -> None:
    """``--timeout``, for the sub-commands that talk to an RTSP server themselves."""
    parser.add_argument(
        "--timeout",
        type=seconds_up_to(600),
        default=10.0,
        metavar="S",
        help="give up when connecting or a read takes longer (default: %(default)s s)",
    )


def add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, metavar="FILE", help="the MP4 to write")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: file, sha256, codec, width, height, frames, start, end, seconds, "
        "gaps, reencoded",
    )


def report_clip(clip: ClipResult, as_json: bool) -> None:
    """One line per clip (and one per gap inside it), or the ClipResult JSON shape."""
    if as_json:
        print_json(clip.to_json())
        return
    gaps = "".join(
        f"\n  gap: {g.start.isoformat()} .. {g.end.isoformat()} ({g.seconds:.1f} s)" for g in clip.gaps
    )
    print(
        f"{clip.file}: {clip.codec} {clip.width}x{clip.height}, {clip.frames} frames, "
        f"{clip.seconds:.1f} s from {clip.start.isoformat()}; sha256 {clip.sha256}{gaps}"
    )
