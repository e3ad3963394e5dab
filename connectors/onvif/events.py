"""The PullPoint lifecycle for one device: subscribe, long-poll, renew, recover, release.

States: connecting -> subscribed (pulling, renewing at half the granted lifetime) -> on a lost
subscription (ResourceUnknown: expired, or the device restarted) a new one is created at once and
SetSynchronizationPoint re-sends current property states; on any other failure the loop waits a
capped, jittered backoff and reconnects from scratch (re-measuring clock skew). A subscription
whose Renew is refused is replaced before it expires (make before break). On shutdown the live
subscription is unsubscribed, so device slots are never leaked.
"""

from __future__ import annotations

__all__ = ["PullPointLoop", "PullSettings", "PullState"]

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from connectors.onvif.client import OnvifClient, PullPoint
from connectors.onvif.errors import (
    DeviceUnreachable,
    MalformedResponse,
    NotAuthorized,
    OnvifError,
    OnvifFault,
    SubscriptionGone,
)
from connectors.onvif.messages import Notification
from vmsbridge.backoff import Backoff

log = logging.getLogger(__name__)

# Faults that end a subscription attempt; anything else is a bug and propagates to the supervisor.
RECOVERABLE = (DeviceUnreachable, MalformedResponse, OnvifFault)
RELEASE_SECONDS = 5.0
MIN_LIFETIME_SECONDS = 10.0


class PullState(StrEnum):
    STOPPED = "stopped"
    CONNECTING = "connecting"
    SUBSCRIBED = "subscribed"
    BACKING_OFF = "backing_off"


@dataclass(frozen=True)
class PullSettings:
    subscription_seconds: int = 600
    pull_timeout: float = 20.0
    message_limit: int = 100
    renew_fraction: float = 0.5  # renew when this share of the granted lifetime has passed
    backoff_initial: float = 1.0
    backoff_max: float = 60.0


@dataclass
class PullStats:
    subscriptions: int = 0
    pulls: int = 0
    notifications: int = 0
    renewals: int = 0
    renew_refusals: int = 0
    lost_subscriptions: int = 0
    unsubscribed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    retry_delays: list[float] = field(default_factory=list)  # the latest waits before reconnecting


Handler = Callable[[list[Notification]], Awaitable[None]]
GapHandler = Callable[[datetime, datetime], Awaitable[None]]


class PullPointLoop:
    def __init__(
        self,
        client: OnvifClient,
        settings: PullSettings,
        handle: Handler,
        on_connect: Handler | None = None,
        on_gap: GapHandler | None = None,
    ) -> None:
        """``on_gap(lost_at, found_at)``: a live subscription was lost and a new one is listening;
        what happened in between is known only as the current states the re-sync reports."""
        self._client = client
        self._on_gap = on_gap
        self._lost_at: datetime | None = None
        self._settings = settings
        self._handle = handle
        self._on_connect = on_connect
        self._backoff = Backoff(settings.backoff_initial, settings.backoff_max)
        self._live: PullPoint | None = None
        self._pulled = False  # a pull has succeeded on the current subscription
        self.state = PullState.STOPPED
        self.stats = PullStats()
        self.last_error: OnvifError | None = None
        self.subscribed = asyncio.Event()  # set while a subscription is live (tests and health use it)

    async def run(self) -> None:
        try:
            while True:
                try:
                    if not self._client.connected:
                        self.state = PullState.CONNECTING
                        await self._client.connect()
                        if self._on_connect is not None:
                            await self._on_connect([])
                    await self._subscribe_and_pull()
                except SubscriptionGone as exc:
                    # Expired or the device restarted: subscribe again now; state is re-synced.
                    # Lost again before a single good pull: the device is not well; back off.
                    self._mark_lost()
                    self.stats.lost_subscriptions += 1
                    self._forget_live()
                    if self._pulled:
                        log.info("%s; subscribing again", exc)
                    else:
                        await self._fail(exc, "subscriptions keep disappearing", logging.WARNING)
                except NotAuthorized as exc:
                    self._mark_lost()
                    await self._fail(
                        exc, "check the user name and password (or the device clock)", logging.ERROR
                    )
                except RECOVERABLE as exc:
                    self._mark_lost()
                    await self._fail(exc, "", logging.WARNING)
        finally:
            self.state = PullState.STOPPED
            await self._release()

    def _mark_lost(self) -> None:
        """Remember when we stopped hearing the device (the first loss of a run of failures)."""
        if self._lost_at is None and self.subscribed.is_set():
            self._lost_at = datetime.now(UTC)

    async def _fail(self, exc: OnvifError, advice: str, level: int) -> None:
        delay = self._backoff.next()
        self.last_error = exc
        self.stats.errors[type(exc).__name__] += 1
        self.stats.retry_delays.append(delay)
        del self.stats.retry_delays[:-20]
        self.state = PullState.BACKING_OFF
        await self._release()
        await self._client.disconnect()  # reconnect from scratch: new skew, new service addresses
        log.log(level, "%s%s; retrying in %.1f s", exc, f" ({advice})" if advice else "", delay)
        await asyncio.sleep(delay)

    async def _subscribe_and_pull(self) -> None:
        settings = self._settings
        pull_point = await self._subscribe()
        if self._lost_at is not None:
            lost_at, self._lost_at = self._lost_at, None
            if self._on_gap is not None:
                await self._on_gap(lost_at, datetime.now(UTC))
        renew_at = time.monotonic() + self._lifetime(pull_point) * settings.renew_fraction
        while True:
            now = time.monotonic()
            if now >= renew_at:
                if not await self._renew(pull_point):
                    pull_point = await self._replace(pull_point)
                renew_at = time.monotonic() + self._lifetime(pull_point) * settings.renew_fraction
            # Never long-poll past the renewal time.
            wait = max(0.0, min(settings.pull_timeout, renew_at - now))
            notifications = await self._client.pull(pull_point, round(wait, 3), settings.message_limit)
            self.stats.pulls += 1
            # Healthy only once a pull works: a device that subscribes but fails every pull must
            # not be reconnected in a tight loop.
            self._backoff.reset()
            self._pulled = True
            if notifications:
                self.stats.notifications += len(notifications)
                await self._handle(notifications)

    def _lifetime(self, pull_point: PullPoint) -> float:
        """The granted lifetime, within sane bounds: some firmware grants 0 s or nonsense."""
        asked = float(self._settings.subscription_seconds)
        return min(max(pull_point.granted_seconds, min(MIN_LIFETIME_SECONDS, asked)), asked)

    async def _subscribe(self) -> PullPoint:
        pull_point = await self._client.create_pull_point(self._settings.subscription_seconds)
        self._live = pull_point
        self._pulled = False
        self.stats.subscriptions += 1
        # Ask for current property states: after a restart or a gap, this is how we learn what
        # changed while we were not listening.
        await self._client.synchronize(pull_point)
        self.state = PullState.SUBSCRIBED
        self.subscribed.set()
        return pull_point

    async def _renew(self, pull_point: PullPoint) -> bool:
        try:
            await self._client.renew(pull_point, self._settings.subscription_seconds)
        except SubscriptionGone:
            raise
        except OnvifFault as exc:
            self.stats.renew_refusals += 1
            log.warning("%s; replacing the subscription before it expires", exc)
            return False
        self.stats.renewals += 1
        return True

    async def _replace(self, old: PullPoint) -> PullPoint:
        """A subscription that cannot be renewed: make the next one, drain the old, then drop it."""
        new = await self._subscribe()
        with contextlib.suppress(*RECOVERABLE):
            leftovers = await self._client.pull(old, 0, self._settings.message_limit)
            if leftovers:
                await self._handle(leftovers)
        await self._unsubscribe(old)
        return new

    def _forget_live(self) -> None:
        self._live = None
        self.subscribed.clear()

    async def _unsubscribe(self, pull_point: PullPoint) -> None:
        try:
            await asyncio.wait_for(self._client.unsubscribe(pull_point), RELEASE_SECONDS)
            self.stats.unsubscribed += 1
        except (*RECOVERABLE, TimeoutError) as exc:
            log.debug("unsubscribe failed (the device will expire it): %s", exc)

    async def _release(self) -> None:
        live, self._live = self._live, None
        self.subscribed.clear()
        if live is not None and self._client.connected:
            await self._unsubscribe(live)
