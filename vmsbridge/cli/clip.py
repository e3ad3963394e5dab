"""``vmsbridge clip ...``: video for investigators, straight from a camera or a recorder.

One group, one function per sub-command: a new way of getting a clip adds its ``_add_<name>`` to
``SUBCOMMANDS``. Every sub-command writes one MP4 (remuxed, never re-encoded) or nothing, and with
``--json`` prints the :class:`recording.result.ClipResult` shape.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from vmsbridge.cli.clip_common import (
    EXIT_FAILED,
    EXIT_OK,
    SubParsers,
    add_output_options,
    add_timeout_option,
    report_clip,
    seconds_up_to,
)
from vmsbridge.cli.clip_fetch import add_fetch
from vmsbridge.cli.clip_replay import add_replay


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
    record.add_argument("--seconds", type=seconds_up_to(24 * 3600), required=True, metavar="N")
    add_timeout_option(record)
    add_output_options(record)
    record.set_defaults(handler=run_record)


def run_record(args: argparse.Namespace) -> int:
    from recording.live import RecordingError
    from recording.record import record_clip

    try:
        clip = record_clip(
            args.url, args.seconds, args.out, open_timeout=args.timeout, read_timeout=args.timeout
        )
    except RecordingError as exc:
        print(f"vmsbridge: {exc}", file=sys.stderr)
        return EXIT_FAILED
    report_clip(clip, args.json)
    return EXIT_OK


SUBCOMMANDS: tuple[Callable[[SubParsers], None], ...] = (_add_record, add_replay, add_fetch)


def add_parser(sub: SubParsers) -> None:
    clip = sub.add_parser(
        "clip",
        help="video clips for investigators (live RTSP, ONVIF replay, a site camera's window)",
        description="Write a clip to a file: packets as the camera sent them, with their real times.",
    )
    clip_sub = clip.add_subparsers(dest="clip_command", required=True, metavar="CLIP_COMMAND")
    for add in SUBCOMMANDS:
        add(clip_sub)
