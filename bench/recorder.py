"""Pre-roll recorder benchmark: N live 1080p RTSP streams recorded by one process.

    python bench/recorder.py                 # 8 streams, 30 s per measurement, then a t-30..t+60 clip
    python bench/recorder.py --quick         # 2 small streams, short windows, for the smoke test

The streams come from GStreamer's gst-rtsp-server (tests/rtsp_server.py, needs `make rtsp-peer`) serving
a pre-encoded 1080p H.264 file (about 4 Mbit/s, made here once with PyAV, cached in the temp directory);
the server never encodes. Figures printed (nothing is asserted), measured in this run:
  demux-only  CPU of reading the packets and nothing else (FFmpeg's RTSP demuxer, one thread a stream)
  recorder    CPU of the recorder (the same reading + segments on disk, --container), per stream-minute
  streams/core  how many such streams one core can hold (60 s / CPU seconds per stream-minute)
  ratio       demux-only CPU / recorder CPU (target >= 0.8: recording costs at most a quarter more)
  clip        time from the alarm at t to the t-30..t+60 clip being ready, beyond t+60
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/recording/rtsp_peer.py: the media maker and the server runner

import av  # noqa: E402

from recording.assemble import assemble_when_ready  # noqa: E402
from recording.live import RecordingError, open_live  # noqa: E402
from recording.recorder import RecorderSettings, SegmentRecorder  # noqa: E402
from recording.segments import CONTAINERS, SegmentStore  # noqa: E402
from tests.recording.rtsp_peer import GstRtspPeer, make_video  # noqa: E402

MEDIA_CACHE = Path(tempfile.gettempdir()) / "vmsbridge-test-media"


def cpu_seconds() -> float:
    """CPU (user + system) of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(streams: int, seconds: float, start: Callable[[threading.Event], threading.Event]) -> float:
    """CPU seconds spent while ``streams`` workers run ``seconds`` once all are receiving."""
    stop = threading.Event()
    # One after the other: gst-rtsp-server can fail (5xx) when many clients build their pipelines at once.
    for _ in range(streams):
        if not start(stop).wait(60):
            stop.set()
            raise SystemExit("a stream did not start within 60 s")
    before = cpu_seconds()
    time.sleep(seconds)
    used = cpu_seconds() - before
    stop.set()
    return used


def demux_only(url: str) -> Callable[[threading.Event], threading.Event]:
    def start(stop: threading.Event) -> threading.Event:
        receiving = threading.Event()

        def read() -> None:
            # gst-rtsp-server now and then answers 5xx to clients arriving together: try again, as the
            # recorder does.
            for attempt in range(5):
                try:
                    live = open_live(url)
                    break
                except RecordingError:
                    if attempt == 4:
                        raise
                    time.sleep(0.5)
            with live:
                for _packet in live.packets():
                    receiving.set()
                    if stop.is_set():
                        return

        threading.Thread(target=read, daemon=True).start()
        return receiving

    return start


def recording(
    url: str,
    root: Path,
    settings: RecorderSettings,
    recorders: list[tuple[SegmentRecorder, threading.Thread]],
    container: str,
) -> Callable[[threading.Event], threading.Event]:
    def start(stop: threading.Event) -> threading.Event:
        store = SegmentStore(root / f"camera-{len(recorders)}", container=container)
        recorder = SegmentRecorder(url, store, settings)
        thread = threading.Thread(target=recorder.run, daemon=True)
        recorders.append((recorder, thread))
        thread.start()
        return recorder.connected

    return start


async def clip_ready(
    stores: list[SegmentStore], out: Path, pre: float, post: float, wait: float
) -> list[float]:
    """Seconds beyond t+post until each camera's t-pre..t+post clip is written (all cameras at once)."""
    alarm = datetime.now(UTC)
    started = time.monotonic()

    async def one(index: int, store: SegmentStore) -> float:
        window = (alarm - timedelta(seconds=pre), alarm + timedelta(seconds=post))
        clip = await assemble_when_ready(store, *window, out / f"clip-{index}.mp4", wait=wait)
        if clip.gaps or clip.start > window[0] or clip.end < window[1] - timedelta(seconds=1):
            print(f"  camera-{index}: clip {clip.start}..{clip.end} gaps {clip.gaps}", file=sys.stderr)
        return time.monotonic() - started - post

    return await asyncio.gather(*(one(i, s) for i, s in enumerate(stores)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0, help="each CPU measurement's window")
    parser.add_argument("--segment-seconds", type=float, default=4.0)
    parser.add_argument("--quick", action="store_true", help="2 small streams, short windows (smoke test)")
    parser.add_argument("--container", choices=sorted(CONTAINERS), default="mpegts", help="segment container")
    args = parser.parse_args()
    MEDIA_CACHE.mkdir(exist_ok=True)
    if args.quick:
        streams, seconds, pre, post = 2, 3.0, 3.0, 3.0
        media = make_video(
            MEDIA_CACHE / "h264-320x240-25fps-gop25-30s.mp4", seconds=30, width=320, height=240
        )
    else:
        streams, seconds, pre, post = args.streams, args.seconds, 30.0, 60.0
        media = make_video(
            MEDIA_CACHE / "h264-1920x1080-25fps-gop50-4M-200s.mp4",
            seconds=200,  # each stream plays it once from the top: longer than its whole run
            width=1920,
            height=1080,
            gop=50,
            bitrate=4_000_000,
            noise=16,
        )
    with av.open(str(media)) as probe:
        mbits = media.stat().st_size * 8 / ((probe.duration or 1) / 1e6) / 1e6
        size = f"{probe.streams.video[0].width}x{probe.streams.video[0].height}"
    print(
        f"source      {size} H.264 {mbits:.1f} Mbit/s, {streams} streams, {seconds:g} s windows, "
        f"{args.container} segments"
    )

    peer = GstRtspPeer(h264=media)
    peer.start()
    try:
        url = peer.url("live")
        demux_cpu = measure(streams, seconds, demux_only(url))
        with tempfile.TemporaryDirectory(prefix="vmsbridge-bench-recorder-") as tmp:
            root = Path(tmp)
            settings = RecorderSettings(
                segment_seconds=args.segment_seconds, max_seconds=max(120.0, pre + post)
            )
            recorders: list[tuple[SegmentRecorder, threading.Thread]] = []
            record_cpu = measure(streams, seconds, recording(url, root, settings, recorders, args.container))
            # measure() stopped only its own waiting; the recorders run on to hold the pre-roll.
            filled = max(0.0, pre + 2 * args.segment_seconds - seconds)
            time.sleep(filled)
            stores = [recorder.store for recorder, _ in recorders]
            waits = asyncio.run(clip_ready(stores, root, pre, post, wait=post + 4 * args.segment_seconds))
            for recorder, _ in recorders:
                recorder.stop()
            for _, thread in recorders:  # each closes its last segment before the directory goes
                thread.join(timeout=60)
    finally:
        peer.stop()

    stream_minutes = streams * seconds / 60
    per_demux, per_record = demux_cpu / stream_minutes, record_cpu / stream_minutes
    print(f"demux-only  {per_demux:.2f} CPU s per stream-minute")
    print(f"recorder    {per_record:.2f} CPU s per stream-minute")
    print(f"streams/core  {60 / per_record:.0f} recorded streams on one core")
    print(f"ratio       demux-only / recorder = {per_demux / per_record:.2f} (target >= 0.8)")
    print(
        f"clip        t-{pre:g}..t+{post:g} ready at t+{post:g} + {statistics.median(waits):.1f} s median, "
        f"{max(waits):.1f} s worst of {len(waits)} (segments {args.segment_seconds:g} s)"
    )


if __name__ == "__main__":
    main()
