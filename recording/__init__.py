"""Video as cameras give it: live RTSP, ONVIF replay, rolling pre-roll segments, clips assembled from them.

A standalone library (PyAV and asyncio only): it never imports :mod:`vmsbridge`. Packets are remuxed as
received, never re-encoded; every clip says where it starts, ends and where video is missing.
"""
