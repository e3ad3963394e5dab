"""Motion analytics on decoded luma frames. Standalone: never imports ``vmsbridge``.

- :mod:`analytics.decode` -- threaded PyAV decode; ``Frame.luma`` is the decoder's Y plane (no BGR);
  truncated clips yield what decodes and record the error; ``DecodeError`` names the file.
- :mod:`analytics.motion` -- ``MotionDetector``: downscaled luma, running-average background,
  threshold, dilation, ignore zones, global-change suppression; boxes in original pixels.
- :mod:`analytics.tamper` -- ``TamperDetector``: covered, defocus, moved, frozen, lights intervals.
- :mod:`analytics.clip` -- ``analyze_clip``: the whole pipeline over one file, with per-stage rates.
- :mod:`analytics.geometry` -- ``"x1,y1 x2,y2 ..."`` polygons and their masks.
"""
