"""What an emulated ONVIF device has (:class:`DeviceSpec`, :class:`ProfileSpec`) and how it misbehaves
(:class:`Quirks`), plus the fixed pan/tilt/zoom each preset points at.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from connectors.emulation import SwitchableQuirks

__all__ = [
    "DOOR_ALARM_STATES",
    "DOOR_PHYSICAL_STATES",
    "HOSTILE_XML_KINDS",
    "HUGE_RESPONSE_BYTES",
    "DeviceSpec",
    "ProfileSpec",
    "Quirks",
    "preset_position",
]

DOOR_ALARM_STATES: Final = frozenset({"Normal", "DoorForcedOpen", "DoorOpenTooLong"})
DOOR_PHYSICAL_STATES: Final = frozenset({"Open", "Closed", "Fault", "Unknown"})
HOSTILE_XML_KINDS: Final = frozenset({"entity_expansion", "huge"})
# Strictly above the 20 MB the quirk promises, whichever way a megabyte is counted.
HUGE_RESPONSE_BYTES: Final = 21 * 1024 * 1024


@dataclass
class ProfileSpec:
    """One media profile. Profiles sharing ``video_source`` share one VideoSourceConfiguration."""

    token: str
    video_source: str
    ptz: bool = False
    presets: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.token or not self.video_source:
            raise ValueError("ProfileSpec needs a token and a video_source")


def preset_position(preset: str | None) -> tuple[float, float, float]:
    """The pan, tilt and zoom an emulated preset points at: fixed per token, home (0, 0, 0) for None."""
    if preset is None:
        return (0.0, 0.0, 0.0)
    digest = hashlib.sha256(preset.encode()).digest()
    pan, tilt, zoom = (b / 255 for b in digest[:3])
    return (round(pan * 2 - 1, 4), round(tilt * 2 - 1, 4), round(zoom, 4))


def _default_profiles() -> list[ProfileSpec]:
    return [ProfileSpec(token="Profile_1", video_source="VideoSource_1")]


@dataclass
class DeviceSpec:
    """What one emulated camera or controller has: identity, profiles, I/O and Profile C tokens."""

    id: str
    manufacturer: str = "vmsbridge"
    model: str = "EmuCam 1"
    firmware: str = "1.0"
    serial: str = ""
    profiles: list[ProfileSpec] = field(default_factory=_default_profiles)
    inputs: list[str] = field(default_factory=list)
    relays: list[str] = field(default_factory=list)
    doors: list[str] = field(default_factory=list)
    access_points: list[str] = field(default_factory=list)
    clip: Path | None = None
    #: Profile G: a recording per video source with Search, Recording and Replay services. Most cameras
    #: without an SD card have none (GetServices does not list those services).
    recordings: bool = True

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("DeviceSpec needs an id")
        if not self.profiles:
            raise ValueError(f"device {self.id!r} needs at least one profile")
        for what, tokens in (
            ("profile", [p.token for p in self.profiles]),
            ("input", self.inputs),
            ("relay", self.relays),
            ("door", self.doors),
            ("access point", self.access_points),
        ):
            if len(set(tokens)) != len(tokens):
                raise ValueError(f"device {self.id!r} has duplicate {what} tokens: {tokens}")
        if not self.serial:
            # Stable across runs so evidence and snapshots of a test device stay comparable.
            self.serial = "EMU" + hashlib.sha1(self.id.encode()).hexdigest()[:10].upper()


@dataclass
class Quirks(SwitchableQuirks):
    """Real-world misbehaviour, all off by default; tests flip fields at run time."""

    renew_fails: bool = False
    pull_always_empty: bool = False
    max_pull_points: int = 4
    require_initial_termination_time: bool = False
    delay_seconds: float = 0.0
    http_500: bool = False
    malformed_xml: bool = False
    hostile_xml: str | None = None
    reject_all_auth: bool = False
    # Many devices stamp a re-sent ("Initialized") state with the time of sending, so a re-sync
    # looks like a new event; by default the emulator keeps the time the state began.
    initialized_now: bool = False
    # An independent device implementation: DigitalInput carries its state in ``State`` (not
    # ``LogicalState``) and cell motion in ``State`` (not ``IsMotion``).
    alternate_data_items: bool = False
    # A camera CGI that reads a fractional PullMessages Timeout (``PT4.104S``) as invalid and
    # answers at once, empty, without an error.
    whole_second_timeouts: bool = False
    # Firmware that answers every PullMessages at once, empty when nothing is queued, whatever
    # Timeout was asked.
    pull_answers_at_once: bool = False
    # SetSynchronizationPoint (optional in ONVIF) answered with a fault.
    sync_point_fails: bool = False
    # CreatePullPointSubscription answered this many seconds after the subscription exists (a
    # slow camera), so a client stopping meanwhile owns a subscription it has not heard of yet.
    slow_subscribe_seconds: float = 0.0
    # The device clock counts whole seconds: event times and GetSystemDateAndTime carry no
    # fraction, and events are stamped with the second rounded to the nearest (so up to half a
    # second ahead of the real time).
    whole_second_clock: bool = False

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "max_pull_points":
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"max_pull_points must be an int >= 0, got {value!r}")
            elif f.name in ("delay_seconds", "slow_subscribe_seconds"):
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ValueError(f"{f.name} must be a number >= 0, got {value!r}")
                setattr(self, f.name, float(value))
            elif f.name == "hostile_xml":
                if value is not None and value not in HOSTILE_XML_KINDS:
                    raise ValueError(f"hostile_xml must be None or one of {sorted(HOSTILE_XML_KINDS)}")
            elif not isinstance(value, bool):
                raise ValueError(f"{f.name} must be a bool, got {value!r}")
