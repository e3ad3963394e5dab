"""``vmsbridge clip ...``: video for investigators, straight from a camera or a recorder.

One group, one function per sub-command: a new way of getting a clip adds its ``_add_<name>`` to
``SUBCOMMANDS``. Every sub-command writes one MP4 (remuxed, never re-encoded) or nothing, and with
``--json`` prints the :class:`recording.result.ClipResult` shape.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

from recording.live import RecordingError
from recording.record import record_clip
from recording.result import ClipResult
from vmsbridge.cli.clip_replay import add_replay
from vmsbridge.cli.common import print_json

EXIT_OK, EXIT_FAILED = 0, 1

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value <= 24 * 3600:
        raise argparse.ArgumentTypeError(f"expected more than 0 and at most 86400 seconds, got {text!r}")
    return value


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, metavar="FILE", help="the MP4 to write")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: file, sha256, codec, width, height, frames, start, end, seconds, "
        "gaps, reencoded",
    )


def _report(clip: ClipResult, as_json: bool) -> None:
    if as_json:
        print_json(clip.to_json())
        return
    gaps = f", {len(clip.gaps)} gap(s)" if clip.gaps else ""
    print(
        f"{clip.file}: {clip.codec} {clip.width}x{clip.height}, {clip.frames} frames, "
        f"{clip.seconds:.1f} s from {clip.start.isoformat()}{gaps}; sha256 {clip.sha256}"
    )


def _add_record(sub: SubParsers) -> None:
    record = sub.add_parser(
        "record",
        help="record N seconds of a live RTSP stream into an MP4",
        description="Pull a live RTSP stream (over TCP; credentials in the URL, Basic or Digest) for N "
        "seconds from its first keyframe and write the packets as received into an MP4 (faststart). "
        "Exit 1 with the reason when the URL is bad, the credentials are refused, the stream does not "
        "exist or stops early; nothing is written then.",
    )
    record.add_argument("url", metavar="URL", help="rtsp://[user:password@]host[:port]/path")
    record.add_argument("--seconds", type=_positive_seconds, required=True, metavar="N")
    record.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=10.0,
        metavar="S",
        help="give up when connecting or a read takes longer (default: %(default)s s)",
    )
    _add_output_options(record)
    record.set_defaults(handler=run_record)


def run_record(args: argparse.Namespace) -> int:
    try:
        clip = record_clip(
            args.url, args.seconds, args.out, open_timeout=args.timeout, read_timeout=args.timeout
        )
    except RecordingError as exc:
        print(f"vmsbridge: {exc}", file=sys.stderr)
        return EXIT_FAILED
    _report(clip, args.json)
    return EXIT_OK


SUBCOMMANDS: tuple[Callable[[SubParsers], None], ...] = (_add_record, add_replay)


def add_parser(sub: SubParsers) -> None:
    clip = sub.add_parser(
        "clip",
        help="video clips for investigators (live RTSP, ONVIF replay)",
        description="Write a clip to a file: packets as the camera sent them, with their real times.",
    )
    clip_sub = clip.add_subparsers(dest="clip_command", required=True, metavar="CLIP_COMMAND")
    for add in SUBCOMMANDS:
        add(clip_sub)
