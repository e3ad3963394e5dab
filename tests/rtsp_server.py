"""An independent RTSP server for the tests and the recorder benchmark: GStreamer's gst-rtsp-server
(its ONVIF server, ``RTSPOnvifServer``).

Run with the system interpreter (``/usr/bin/python3``), which sees Debian's ``gi``; the project's venv does
not. Serves pre-encoded MP4 files without encoding anything (``qtdemux ! h264parse ! rtph264pay``):

  /live       the H.264 file, no authentication
  /secure     the same, behind Digest authentication (--user/--password)
  /hevc       the H.265 file (when --hevc is given), no authentication
  /replay     an ONVIF Profile G replay (when --recorded-from is given; Digest, ``Range: clock=``): a
              recording that is the H.264 file once, starting at --recorded-from (UTC, ISO 8601), with
              the 0xABAC header extension added by ``rtponviftimestamp``

Each live client gets its own pipeline from the file's start, paced in real time. Prints ``READY <port>``
on stdout once listening (``--port 0`` picks a free port).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

import gi  # type: ignore[import-not-found, unused-ignore]

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # type: ignore[import-not-found, unused-ignore]  # noqa: E402

NTP_EPOCH = datetime(1900, 1, 1, tzinfo=UTC)

# Parameter sets with every keyframe, as cameras send them, so a client may join at any keyframe.
PAY = "rtp{}pay name=pay0 pt=96 config-interval=-1"


def _launch(path: str, codec: str) -> str:
    # Played once per client from the top: GStreamer 1.22's concat (to loop a file) fails clients that
    # arrive together (5xx, stalls), so callers serve a file as long as they need instead.
    return f"( filesrc location={path} ! qtdemux ! {codec}parse ! {PAY.format(codec)} )"


def _factory(launch: str, role: str) -> Any:
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(False)
    factory.add_role_from_structure(
        Gst.Structure.new_from_string(
            f"{role}, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
        )
    )
    if role != "anonymous":
        # Anonymous clients may see the mount but not play it: the server answers 401 and a Digest challenge
        # (without access it would answer 404, hiding that credentials would help).
        factory.add_role_from_structure(
            Gst.Structure.new_from_string(
                "anonymous, media.factory.access=(boolean)true, media.factory.construct=(boolean)false"
            )
        )
    return factory


def _protected(factory: Any) -> Any:
    """Only the Digest user may play; anonymous clients see the mount, so they get 401 and a challenge."""
    for role, construct in (("user", "true"), ("anonymous", "false")):
        factory.add_role_from_structure(
            Gst.Structure.new_from_string(
                f"{role}, media.factory.access=(boolean)true, media.factory.construct=(boolean){construct}"
            )
        )
    return factory


def _token(role: str) -> Any:
    token = GstRtspServer.RTSPToken.new()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, role)
    return token


class ReplayFactory(GstRtspServer.RTSPOnvifMediaFactory):  # type: ignore[misc, unused-ignore]
    """The clip as a recording starting at ``recorded_from`` (in nanoseconds since 1900: the server's time).

    The server turns ``Range: clock=`` into a seek in that time line; a probe translates it into a seek in the
    file, and buffers and segments are moved back onto the recording's time line, so ``rtponviftimestamp``
    stamps each frame with its recording time (0xABAC) and sets the T bit on the last packet. (GStreamer's C
    example, test-onvif-server.c, does the same with pad functions; Python cannot write the SEEKING query,
    so the file's own answer is kept, which the server accepts.)
    """

    def __init__(self, clip: str, recorded_from: datetime) -> None:
        super().__init__()
        self.clip = clip
        self.offset = int((recorded_from - NTP_EPOCH).total_seconds() * Gst.SECOND)
        self.set_replay_support(True)
        self.set_media_gtype(GstRtspServer.RTSPOnvifMedia)
        self.set_shared(False)

    def do_create_element(self, url: Any) -> Any:
        top = Gst.Bin.new(None)
        source = Gst.ElementFactory.make("filesrc")
        source.set_property("location", self.clip)
        demux = Gst.ElementFactory.make("qtdemux")
        pay_bin = Gst.Bin.new("pay0")
        parse = Gst.ElementFactory.make("h264parse")
        pay = Gst.ElementFactory.make("rtph264pay")
        stamp = Gst.ElementFactory.make("rtponviftimestamp")
        stamp.set_property("ntp-offset", 0)
        stamp.set_property("set-e-bit", True)
        stamp.set_property("set-t-bit", True)
        stamp.set_property("drop-out-of-segment", False)
        for element in (source, demux):
            top.add(element)
        for element in (parse, pay, stamp):
            pay_bin.add(element)
        top.add(pay_bin)
        source.link(demux)
        parse.link(pay)
        pay.link(stamp)
        pay_bin.add_pad(Gst.GhostPad.new("sink", parse.get_static_pad("sink")))
        pay_bin.add_pad(Gst.GhostPad.new("src", stamp.get_static_pad("src")))
        offset = self.offset
        state: dict[str, Any] = {}

        def on_seek(pad: Any, info: Any) -> Any:
            # The server's clock-range seek (ns since 1900) becomes a seek in the file.
            event = info.get_event()
            if event is None or event.type != Gst.EventType.SEEK or "demux" not in state:
                return Gst.PadProbeReturn.OK
            rate, fmt, flags, _, start, _, stop = event.parse_seek()
            file_stop = stop - offset if 0 < stop != Gst.CLOCK_TIME_NONE else -1
            translated = Gst.Event.new_seek(
                rate, fmt, flags, Gst.SeekType.SET, max(start - offset, 0), Gst.SeekType.SET, file_stop
            )
            state["demux"].send_event(translated)
            return Gst.PadProbeReturn.HANDLED

        def on_buffer(pad: Any, info: Any) -> Any:
            buffer = info.get_buffer()
            if buffer.pts != Gst.CLOCK_TIME_NONE:
                buffer.pts += offset
            if buffer.dts != Gst.CLOCK_TIME_NONE:
                buffer.dts += offset
            return Gst.PadProbeReturn.OK

        def on_segment(pad: Any, info: Any) -> Any:
            event = info.get_event()
            if event.type != Gst.EventType.SEGMENT or state.get("pushing"):
                return Gst.PadProbeReturn.OK
            segment = event.parse_segment()
            shifted = Gst.Segment()
            shifted.init(Gst.Format.TIME)
            shifted.rate = segment.rate
            shifted.start = segment.start + offset
            shifted.stop = segment.stop + offset if segment.stop != Gst.CLOCK_TIME_NONE else segment.stop
            shifted.time = segment.time + offset
            shifted.position = shifted.start
            state["pushing"] = True  # the pushed event passes this probe again
            try:
                pad.push_event(Gst.Event.new_segment(shifted))
            finally:
                state["pushing"] = False
            return Gst.PadProbeReturn.HANDLED

        def on_pad(_: Any, pad: Any) -> None:
            sink = pay_bin.get_static_pad("sink")
            state["demux"] = pad
            pad.add_probe(Gst.PadProbeType.BUFFER, on_buffer)
            pad.add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, on_segment)
            pad.link(sink)

        demux.connect("pad-added", on_pad)
        pay_bin.get_static_pad("sink").add_probe(Gst.PadProbeType.EVENT_UPSTREAM, on_seek)
        return top


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--h264", required=True, help="an MP4 file holding H.264")
    parser.add_argument("--hevc", default=None, help="an MP4 file holding H.265")
    parser.add_argument("--user", default="investigator")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--recorded-from", default=None, help="serve /replay: when its recording starts")
    args = parser.parse_args()
    Gst.init(None)

    server = GstRtspServer.RTSPOnvifServer.new()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))

    auth = GstRtspServer.RTSPAuth()
    auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    auth.set_default_token(_token("anonymous"))
    auth.add_digest(args.user, args.password, _token("user"))
    server.set_auth(auth)

    h264 = _launch(args.h264, "h264")
    mounts = server.get_mount_points()
    mounts.add_factory("/live", _factory(h264, "anonymous"))
    mounts.add_factory("/secure", _factory(h264, "user"))
    if args.hevc:
        hevc = _launch(args.hevc, "h265")
        mounts.add_factory("/hevc", _factory(hevc, "anonymous"))
    if args.recorded_from:
        recorded_from = datetime.fromisoformat(args.recorded_from).astimezone(UTC)
        mounts.add_factory("/replay", _protected(ReplayFactory(args.h264, recorded_from)))

    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    print(f"READY {server.get_bound_port()}", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
