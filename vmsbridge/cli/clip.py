"""``vmsbridge clip ...``: video for investigators, straight from a camera or a recorder.

One group, one function per sub-command (``SUBCOMMANDS``); each writes one MP4 (remuxed, never
re-encoded) or nothing, and with ``--json`` prints the :class:`recording.result.ClipResult` shape.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeAlias

from vmsbridge.cli.clip_replay import add_replay

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

SUBCOMMANDS: tuple[Callable[[SubParsers], None], ...] = (add_replay,)


def add_parser(sub: SubParsers) -> None:
    clip = sub.add_parser(
        "clip",
        help="video clips for investigators (ONVIF replay)",
        description="Write a clip to a file: packets as the camera sent them, with their real times.",
    )
    clip_sub = clip.add_subparsers(dest="clip_command", required=True, metavar="CLIP_COMMAND")
    for add in SUBCOMMANDS:
        add(clip_sub)
