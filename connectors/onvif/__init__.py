"""ONVIF connector (PullPoint events, PTZ, device I/O, Profile C) and its device emulator.

Arrives with issue #3; the package exists so the distribution layout is fixed from the start.
"""
