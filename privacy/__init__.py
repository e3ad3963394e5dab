"""Privacy masks and people/face anonymization. Standalone: never imports ``vmsbridge``.

- :mod:`privacy.masks`: static polygon masks per camera, permanent or liftable, and time-bounded
  lifts that carry who, why and until (the service layer writes the audit record).
- :mod:`privacy.people`: where people are, from the moving foreground with a temporal hold and a
  look-ahead; pixelate / blur / solid on yuv420p planes; solid fill for static masks.
- :mod:`privacy.faces`: optional YuNet face detection (``cv2.FaceDetectorYN``) with a short hold.
- :mod:`privacy.redact`: ``redact_clip`` writes a browser-playable H.264 MP4 derivative with the
  source's frame count and timestamps; the original is only read, and its SHA-256 is reported.
"""
