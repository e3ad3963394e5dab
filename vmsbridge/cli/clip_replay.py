"""``vmsbridge clip replay``: a time window of a camera's or NVR's recording over ONVIF replay (Profile G)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime
from pathlib import Path
from typing import TypeAlias

from recording.replay import ReplayRequest, replay_clip
from recording.result import ClipResult
from recording.rtsp import RtspError
from vmsbridge.cli.common import add_password_options, password_from, print_json

__all__ = ["add_replay", "run_replay"]

EXIT_OK, EXIT_FAILED = 0, 1
PASSWORD_ENV = "VMSBRIDGE_RTSP_PASSWORD"

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _moment(text: str) -> datetime:
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


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError(f"expected more than 0 and at most 600 seconds, got {text!r}")
    return value


def add_replay(sub: SubParsers) -> None:
    replay = sub.add_parser(
        "replay",
        help="replay a time window of a recording (ONVIF Profile G) into an MP4",
        description="Play [--from, --to) of a recording from its ONVIF replay URI (GetReplayUri; "
        "`vmsbridge onvif` lists devices) with `Require: onvif-replay` and `Range: clock=`, place each "
        "frame by the NTP time the recorder sends with it, and write the packets as received into an MP4 "
        "(faststart). The clip starts at the keyframe at or before --from; where the recording has no "
        "video inside the window, the gap is reported. Exit 1 with the reason when the URL is bad, the "
        "credentials are refused, there is no such recording, the server does not replay, or the stream "
        "stops; nothing is written then.",
    )
    replay.add_argument("url", metavar="URL", help="rtsp://[user:password@]host[:port]/path (the replay URI)")
    replay.add_argument("--from", dest="start", type=_moment, required=True, metavar="ISO")
    replay.add_argument("--to", dest="end", type=_moment, required=True, metavar="ISO")
    replay.add_argument("--out", type=Path, required=True, metavar="FILE", help="the MP4 to write")
    replay.add_argument(
        "--username",
        default=None,
        help=f"user for the RTSP server (password from --password-env, default {PASSWORD_ENV})",
    )
    add_password_options(replay, PASSWORD_ENV)
    replay.add_argument(
        "--timeout",
        type=_seconds,
        default=10.0,
        metavar="S",
        help="give up when connecting or a read takes longer (default: %(default)s s)",
    )
    replay.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: file, sha256, codec, width, height, frames, start, end, seconds, "
        "gaps, reencoded",
    )
    replay.set_defaults(handler=run_replay)


def _report(clip: ClipResult, as_json: bool) -> None:
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


def run_replay(args: argparse.Namespace) -> int:
    if args.end <= args.start:
        print(
            f"vmsbridge: --to ({args.end.isoformat()}) must be after --from ({args.start.isoformat()})",
            file=sys.stderr,
        )
        return 2
    password = password_from(args) if args.username is not None else None
    request = ReplayRequest(args.url, args.start, args.end, args.username, password, timeout=args.timeout)
    try:
        clip = asyncio.run(replay_clip(request, args.out))
    except RtspError as exc:
        print(f"vmsbridge: {exc}", file=sys.stderr)
        return EXIT_FAILED
    _report(clip, args.json)
    return EXIT_OK
