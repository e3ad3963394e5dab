"""ONVIF connector (PullPoint events, PTZ, device I/O, Profile C) and its device emulator."""
