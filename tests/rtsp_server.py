"""An independent RTSP server for the recorder's tests and benchmark: GStreamer's gst-rtsp-server.

Run with the system interpreter (``/usr/bin/python3``), which sees Debian's ``gi``; the project's venv does
not. Serves pre-encoded MP4 files without encoding anything (``qtdemux ! h264parse ! rtph264pay``):

  /live       the H.264 file, no authentication
  /secure     the same, behind Digest authentication (--user/--password)
  /hevc       the H.265 file (when --hevc is given)

Each client gets its own pipeline from the file's start, paced in real time. Prints ``READY <port>`` on
stdout once listening (``--port 0`` picks a free port).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import gi  # type: ignore[import-not-found, unused-ignore]

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # type: ignore[import-not-found, unused-ignore]  # noqa: E402

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


def _token(role: str) -> Any:
    token = GstRtspServer.RTSPToken.new()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, role)
    return token


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--h264", required=True, help="an MP4 file holding H.264")
    parser.add_argument("--hevc", default=None, help="an MP4 file holding H.265")
    parser.add_argument("--user", default="investigator")
    parser.add_argument("--password", default="secret")
    args = parser.parse_args()
    Gst.init(None)

    server = GstRtspServer.RTSPServer()
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

    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    print(f"READY {server.get_bound_port()}", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
