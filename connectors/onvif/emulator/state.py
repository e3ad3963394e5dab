"""The state of one emulated ONVIF device, shared by the service modules: identity, credentials,
clock, quirks, counters, pull points and PTZ positions.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from connectors.emulation import LoopbackServer
from connectors.onvif.emulator.soap import _Call, _invalid_arg, _SoapFault, _text
from connectors.onvif.emulator.spec import DeviceSpec, ProfileSpec, Quirks
from connectors.onvif.emulator.topics import _Notification

__all__ = ["DeviceState"]


@dataclass(eq=False)
class _PullPoint:
    id: int
    termination: datetime  # real UTC, deliberately unaffected by the device clock offset
    queue: deque[_Notification] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False

    def close(self) -> None:
        self.closed = True
        self.wakeup.set()


class DeviceState:
    """What one emulated device holds (spec, credentials, clock, quirks, pull points, PTZ state)
    and the operations on that state the services share."""

    #: WS-Security ``Created`` must be within this many seconds of the device clock.
    auth_window_seconds: float = 60.0
    #: How long a simulated GotoPreset keeps the PTZ status at MOVING.
    ptz_move_seconds: float = 0.2
    #: Subscription length when CreatePullPointSubscription has no InitialTerminationTime.
    default_subscription_seconds: float = 60.0
    #: Per pull point; beyond it the oldest queued message is dropped, as a full camera buffer does.
    max_queued_messages: int = 10_000

    def __init__(self, spec: DeviceSpec, *, host: str, port: int, username: str, password: str) -> None:
        self.spec = spec
        self.username = username
        self.password = password
        self.quirks = Quirks()
        self.clock_offset = timedelta(0)
        self.counters: dict[str, int] = {}
        self.pull_timeouts: list[str] = []  # the latest PullMessages Timeout values, as sent
        self.ptz_status: dict[str, str] = {p.token: "IDLE" for p in spec.profiles if p.ptz}
        self.goto_calls: list[tuple[str, str]] = []
        self.goto_received_at: list[datetime] = []  # our clock, when each GotoPreset arrived
        # Where each PTZ profile points: the preset it last reached (None: home position).
        self.ptz_preset: dict[str, str | None] = {p.token: None for p in spec.profiles if p.ptz}
        self._server = LoopbackServer(host, port, f"ONVIF device {spec.id!r}")
        self._pull_points: dict[int, _PullPoint] = {}
        self._next_pull_point_id = 1
        self._states: dict[tuple[str, tuple[tuple[str, str], ...]], _Notification] = {}
        self._ptz_timers: dict[str, asyncio.TimerHandle] = {}
        self._parked_pulls = 0
        self._pull_parked = asyncio.Event()
        self._snapshots: dict[str, bytes] = {}
        self._profiles = {p.token: p for p in spec.profiles}
        self._video_sources = list(dict.fromkeys(p.video_source for p in spec.profiles))

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        return self._server.url

    def device_now(self) -> datetime:
        """The device clock: real UTC now plus ``clock_offset``."""
        return datetime.now(UTC) + self.clock_offset

    @property
    def live_subscriptions(self) -> int:
        """Pull points neither unsubscribed nor expired."""
        self._expire_pull_points()
        return len(self._pull_points)

    async def wait_for_pull(self) -> None:
        """Return once at least one PullMessages call is parked waiting for an event.

        Lets a test fire an event strictly after a long-poll began, without sleeping.
        """
        await self._pull_parked.wait()

    def vsc_token(self, video_source: str) -> str:
        """The VideoSourceConfiguration token GetProfiles reports for ``video_source``."""
        try:
            return f"VSC_{self._video_sources.index(video_source) + 1}"
        except ValueError:
            raise ValueError(
                f"device {self.spec.id!r} has no video source {video_source!r}; it has {self._video_sources}"
            ) from None

    def restart(self) -> None:
        """A reboot: every pull point vanishes (its address now faults); property states survive."""
        for pull_point in self._pull_points.values():
            pull_point.close()
        self._pull_points.clear()
        self._cancel_ptz_moves()

    def _expire_pull_points(self) -> None:
        now = datetime.now(UTC)
        for key, pull_point in list(self._pull_points.items()):
            if now >= pull_point.termination:
                pull_point.close()
                del self._pull_points[key]

    def _cancel_ptz_moves(self) -> None:
        for handle in self._ptz_timers.values():
            handle.cancel()
        self._ptz_timers.clear()
        for token in self.ptz_status:
            self.ptz_status[token] = "IDLE"

    def _profile(self, call: _Call, *, ptz: bool = False) -> ProfileSpec:
        token = _text(call.body, "ProfileToken") or ""
        profile = self._profiles.get(token)
        if profile is None:
            raise _invalid_arg("ter:NoProfile", f"no media profile {token!r}")
        if ptz and not profile.ptz:
            raise _SoapFault(
                "s:Receiver",
                ("ter:ActionNotSupported", "ter:PTZNotSupported"),
                f"profile {token!r} has no PTZ",
            )
        return profile
