"""``vmsbridge clip replay``: a time window of a camera's or NVR's recording over ONVIF replay (Profile G)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from vmsbridge.cli.clip_common import (
    EXIT_FAILED,
    EXIT_OK,
    SubParsers,
    add_output_options,
    add_timeout_option,
    moment,
    report_clip,
)
from vmsbridge.cli.common import add_password_options, password_from

__all__ = ["add_replay", "run_replay"]

PASSWORD_ENV = "VMSBRIDGE_RTSP_PASSWORD"


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
    replay.add_argument("--from", dest="start", type=moment, required=True, metavar="ISO")
    replay.add_argument("--to", dest="end", type=moment, required=True, metavar="ISO")
    replay.add_argument(
        "--username",
        default=None,
        help=f"user for the RTSP server (password from --password-env, default {PASSWORD_ENV})",
    )
    add_password_options(replay, PASSWORD_ENV)
    add_timeout_option(replay)
    add_output_options(replay)
    replay.set_defaults(handler=run_replay)


def run_replay(args: argparse.Namespace) -> int:
    from recording.replay import ReplayRequest, replay_clip
    from recording.rtsp import RtspError

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
    report_clip(clip, args.json)
    return EXIT_OK
