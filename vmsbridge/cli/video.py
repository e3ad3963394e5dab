"""``vmsbridge motion`` and ``vmsbridge redact``: clip analytics and privacy redaction."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vmsbridge.cli.common import Progress, add_common_options, db_url_for, load_site, print_json
from vmsbridge.errors import ConfigError, ConfigProblem

POLYGON_HELP = 'a polygon "x1,y1 x2,y2 x3,y3 ..." in pixels of the source frame (repeatable)'


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    motion = sub.add_parser(
        "motion",
        help="motion segments, boxes and camera-tamper signals of a clip",
        description="Analyze a clip on its luma plane at reduced resolution: motion boxes (in source "
        "pixels), motion segments, a per-second activity timeline, and tamper signals (covered lens, "
        "defocus, camera moved, frozen video, lights switching). A truncated clip is analyzed as far "
        "as it decodes; the exit code is non-zero only if nothing decodes.",
    )
    motion.add_argument("clip", type=Path, metavar="CLIP")
    motion.add_argument(
        "--mask", action="append", default=[], metavar="POLYGON", help="ignore zone: " + POLYGON_HELP
    )
    motion.add_argument(
        "--json", action="store_true", help="one JSON object (frames, fps, duration_s, segments, tamper)"
    )
    motion.add_argument(
        "--boxes-csv", type=Path, default=None, metavar="OUT.csv", help="write boxes as frame,x,y,w,h"
    )
    motion.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    motion.set_defaults(handler=run_motion)

    redact = sub.add_parser(
        "redact",
        help="write a privacy-masked copy of a clip (the original is never touched)",
        description="Write a browser-playable H.264 MP4 (yuv420p) with the same resolution, frame count "
        "and timestamps, with static masks filled, moving people anonymized (held for a while after they "
        "stop) and, with --faces, faces found by a YuNet model covered. Prints the source's SHA-256.",
    )
    redact.add_argument("clip", type=Path, metavar="CLIP")
    redact.add_argument("output", type=Path, metavar="OUT.mp4")
    redact.add_argument(
        "--mask", action="append", default=[], metavar="POLYGON", help="static mask: " + POLYGON_HELP
    )
    redact.add_argument(
        "--people",
        choices=["pixelate", "blur", "solid", "off"],
        default="pixelate",
        help="how moving people are anonymized (default: %(default)s)",
    )
    redact.add_argument(
        "--faces",
        type=Path,
        default=None,
        metavar="MODEL",
        help="YuNet face model (.onnx) for cv2.FaceDetectorYN; off if not given",
    )
    redact.add_argument(
        "--camera",
        default=None,
        metavar="ID",
        help="also apply this site camera's privacy masks (lifts in force now respected), "
        "and record the redaction in the audit log",
    )
    redact.add_argument("--actor", default=None, help="who is redacting (default: the login name)")
    redact.add_argument(
        "--json", action="store_true", help="one JSON object: parameters, frames, source SHA-256"
    )
    add_common_options(redact)
    redact.set_defaults(handler=run_redact)


def _polygons(texts: list[str]) -> list[Any]:
    from analytics.geometry import parse_pixel_polygon

    polygons, problems = [], []
    for i, text in enumerate(texts):
        try:
            polygons.append(parse_pixel_polygon(text))
        except ValueError as exc:
            problems.append(ConfigProblem(f"--mask[{i}]", f"{text!r}: {exc}"))
    if problems:
        raise ConfigError("--mask", problems)
    return polygons


def run_motion(args: argparse.Namespace) -> int:
    from analytics.clip import analyze_clip, write_boxes_csv
    from analytics.decode import DecodeError

    masks = _polygons(args.mask)
    progress = Progress(args.clip.name)
    try:
        report = analyze_clip(args.clip, masks=masks, progress=progress)
    except DecodeError as exc:
        print(f"vmsbridge: {exc}", file=sys.stderr)
        return 1
    finally:
        progress.finish()
    if args.boxes_csv is not None:
        write_boxes_csv(report, args.boxes_csv)
    if report.error:
        print(f"vmsbridge: {args.clip}: {report.error} (analyzed {report.frames} frames)", file=sys.stderr)
    if args.json:
        print_json(report.to_json())
        return 0
    print(
        f"{args.clip}: {report.width}x{report.height}, {report.fps:.2f} fps, {report.frames} frames "
        f"({report.duration_s:.1f} s)"
    )
    print(f"  motion segments ({len(report.segments)}):")
    for seg in report.segments:
        print(f"    {seg.start_s:7.2f} - {seg.end_s:7.2f} s   peak {seg.peak_area_ratio:6.1%} of the frame")
    print(f"  tamper signals ({len(report.tamper)}):")
    for item in report.tamper:
        print(f"    {item.kind:<8} {item.start_s:7.2f} - {item.end_s:7.2f} s")
    rates = ", ".join(f"{stage} {fps:.0f} fps" for stage, fps in report.stage_fps.items())
    print(f"  speed: {rates}")
    return 0


async def _camera_polygons(args: argparse.Namespace) -> list[Any]:
    from vmsbridge.masking import effective_polygons
    from vmsbridge.store.stores import open_store

    site = load_site(args)
    async with open_store(db_url_for(args, site)) as stores:
        return await effective_polygons(stores, site, args.camera, datetime.now(UTC))


async def _audit_redaction(args: argparse.Namespace, report: dict[str, Any]) -> None:
    from vmsbridge.store.audit import record
    from vmsbridge.store.stores import open_store

    site = load_site(args)
    async with open_store(db_url_for(args, site)) as stores, stores.db.transaction() as session:
        record(
            session,
            actor=str(args.actor or getpass.getuser()),
            action="footage.redacted",
            subject_type="camera",
            subject_id=args.camera,
            details={
                k: report.get(k) for k in ("source", "source_sha256", "output", "frames_written", "options")
            },
        )


def run_redact(args: argparse.Namespace) -> int:
    import asyncio

    from analytics.decode import DecodeError
    from privacy.redact import RedactOptions, redact_clip

    masks = _polygons(args.mask)
    if args.camera is not None:
        masks += asyncio.run(_camera_polygons(args))
    if args.output.resolve() == args.clip.resolve():
        raise ConfigError(
            "OUT.mp4", [ConfigProblem("OUT.mp4", "must not be the source: originals are never modified")]
        )
    if args.output.exists():
        raise ConfigError(
            "OUT.mp4", [ConfigProblem("OUT.mp4", f"{args.output} exists; choose a new file name")]
        )
    if args.faces is not None and not args.faces.is_file():
        raise ConfigError("--faces", [ConfigProblem("--faces", f"{args.faces} is not a file")])
    options = RedactOptions(masks=masks, people=args.people, faces_model=args.faces)
    progress = Progress(args.clip.name)
    try:
        report = redact_clip(args.clip, args.output, options, progress=progress)
    except DecodeError as exc:
        print(f"vmsbridge: {exc}", file=sys.stderr)
        return 1
    finally:
        progress.finish()
    if report.error:
        written = report.frames_written
        print(f"vmsbridge: {args.clip}: {report.error} (wrote {written} frames)", file=sys.stderr)
    if args.camera is not None:
        asyncio.run(_audit_redaction(args, report.to_json()))
    if args.json:
        print_json(report.to_json())
        return 0 if report.frames_written else 1
    print(
        f"{args.output}: {report.frames_written} frames, {report.width}x{report.height} H.264 "
        f"(source {args.clip}, sha256 {report.source_sha256})"
    )
    return 0 if report.frames_written else 1
