"""The PullPoint lifecycle for one device: subscribe, long-poll, renew, recover, release.

States: connecting -> subscribed (pulling, renewing at half the granted lifetime) -> on a lost
subscription (ResourceUnknown: expired, or the device restarted) a new one is created at once and
SetSynchronizationPoint re-sends current property states; on any other failure the loop waits a
capped, jittered backoff and reconnects from scratch (re-measuring clock skew). A subscription
whose Renew is refused is replaced before it expires (make before break).

Polls ask for whole seconds (devices read ``PT4.104S`` as invalid and answer at once), never
less than one, and are not shortened for a renewal: the poll is short enough for the
subscription to outlive it, and the renewal is made when the poll returns. A reply with messages
is followed by the next poll at once; an empty reply that comes back sooner than a second after
the poll began (a device ignoring the Timeout) makes the loop wait out that second, so such a
device is polled at most once a second.

Every subscription the device created is unsubscribed when it is no longer used: on shutdown,
on failure, and when the stop comes while CreatePullPointSubscription is still being answered.
SetSynchronizationPoint is optional in ONVIF: a device that refuses it is used without re-sync.
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
# An empty reply sooner than this after its poll began means the device did not wait: the next
# poll waits for the rest of this interval.
EMPTY_POLL_INTERVAL_SECONDS = 1.0


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
    early_empty_replies: int = 0  # empty replies sooner than EMPTY_POLL_INTERVAL_SECONDS
    sync_refusals: int = 0  # SetSynchronizationPoint faults (the subscription is used anyway)
    errors: Counter[str] = field(default_factory=Counter)
    retry_delays: list[float] = field(default_factory=list)  # the latest waits before reconnecting


# Takes a batch (hands its events on) and returns what completes once they are durable.
Handler = Callable[[list[Notification]], Awaitable[Awaitable[None]]]
ConnectHandler = Callable[[], Awaitable[None]]
GapHandler = Callable[[datetime, datetime], Awaitable[None]]


class PullPointLoop:
    def __init__(
        self,
        client: OnvifClient,
        settings: PullSettings,
        handle: Handler,
        on_connect: ConnectHandler | None = None,
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
        self._live: list[PullPoint] = []  # created on the device and not yet unsubscribed
        self._storing: asyncio.Future[None] | None = None  # the previous batch becoming durable
        self._pulled = False  # a pull has succeeded on the current subscription
        self.state = PullState.STOPPED
        self.stats = PullStats()
        self.last_error: OnvifError | None = None
        self.subscribed = asyncio.Event()  # set while a subscription is live (tests and health use it)
        self.ever_subscribed = False  # one subscription was made since run() started

    async def run(self) -> None:
        try:
            while True:
                try:
                    if not self._client.connected:
                        self.state = PullState.CONNECTING
                        await self._client.connect()
                        if self._on_connect is not None:
                            await self._on_connect()
                    await self._subscribe_and_pull()
                except SubscriptionGone as exc:
                    # Expired or the device restarted: subscribe again now; state is re-synced.
                    # Lost again before a single good pull: the device is not well; back off.
                    self._mark_lost()
                    self.stats.lost_subscriptions += 1
                    await self._release()  # whatever else is still live
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
            if self._storing is not None:
                self._storing.cancel()
                self._storing = None
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
            if time.monotonic() >= renew_at:
                if not await self._renew(pull_point):
                    pull_point = await self._replace(pull_point)
                renew_at = time.monotonic() + self._lifetime(pull_point) * settings.renew_fraction
            started = time.monotonic()
            notifications = await self._client.pull(
                pull_point, self._poll_seconds(pull_point), settings.message_limit
            )
            self.stats.pulls += 1
            # Healthy only once a pull works: a device that subscribes but fails every pull must
            # not be reconnected in a tight loop.
            self._backoff.reset()
            self._pulled = True
            if notifications:
                self.stats.notifications += len(notifications)
                await self._take(notifications)
                continue  # there may be more: ask again at once
            await self._stored()
            early = EMPTY_POLL_INTERVAL_SECONDS - (time.monotonic() - started)
            if early > 0:
                self.stats.early_empty_replies += 1
                if self.stats.early_empty_replies == 1:
                    log.warning(
                        "ONVIF device %s answers PullMessages at once when it has nothing to send; "
                        "polling it at most once a second",
                        self._client.device_id,
                    )
                await asyncio.sleep(early)

    async def _take(self, notifications: list[Notification]) -> None:
        """Hand a batch on, and poll again while it is being stored: a device event that comes
        meanwhile is taken at once instead of waiting for a commit. At most two batches are
        taken and not yet durable (backpressure: the rest stays with the device)."""
        storing = asyncio.ensure_future(await self._handle(notifications))
        try:
            await self._stored()
        except BaseException:
            storing.cancel()  # the loop ends here: nothing of it may go on waiting
            raise
        self._storing = storing

    async def _stored(self) -> None:
        """Wait until the previous batch is durable (its failure ends the loop)."""
        storing, self._storing = self._storing, None
        if storing is not None:
            await storing

    def _poll_seconds(self, pull_point: PullPoint) -> int:
        """The long-poll Timeout: whole seconds, at least one, and short enough that the
        subscription outlives a poll begun just before its renewal was due."""
        settings = self._settings
        margin = self._lifetime(pull_point) * (1 - settings.renew_fraction) / 2
        return max(1, min(int(settings.pull_timeout), int(margin)))

    def _lifetime(self, pull_point: PullPoint) -> float:
        """The granted lifetime, within sane bounds: some firmware grants 0 s or nonsense."""
        asked = float(self._settings.subscription_seconds)
        return min(max(pull_point.granted_seconds, min(MIN_LIFETIME_SECONDS, asked)), asked)

    async def _subscribe(self) -> PullPoint:
        pull_point = await self._create()
        self._pulled = False
        self.stats.subscriptions += 1
        # Ask for current property states: after a restart or a gap, this is how we learn what
        # changed while we were not listening. Optional in ONVIF: some devices fault on it.
        try:
            await self._client.synchronize(pull_point)
        except (SubscriptionGone, NotAuthorized):
            raise
        except (OnvifFault, MalformedResponse) as exc:
            self.stats.sync_refusals += 1
            if self.stats.sync_refusals == 1:
                log.warning("%s; subscribed without it (current states are not re-read after a gap)", exc)
        self.state = PullState.SUBSCRIBED
        self.subscribed.set()
        self.ever_subscribed = True
        return pull_point

    async def _create(self) -> PullPoint:
        """CreatePullPointSubscription, remembered as live before anything else can fail.

        A stop while the device is still answering would otherwise leave a subscription the
        device holds and we never heard of: the answer is awaited (briefly) and the subscription
        recorded, so that shutdown unsubscribes it.
        """
        creating = asyncio.ensure_future(self._client.create_pull_point(self._settings.subscription_seconds))
        try:
            pull_point = await asyncio.shield(creating)
        except asyncio.CancelledError:
            with contextlib.suppress(*RECOVERABLE, TimeoutError):
                self._live.append(await asyncio.wait_for(creating, RELEASE_SECONDS))
            raise
        self._live.append(pull_point)
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
                await self._take(leftovers)
        await self._unsubscribe(old)
        return new

    async def _unsubscribe(self, pull_point: PullPoint) -> None:
        if pull_point in self._live:
            self._live.remove(pull_point)
        try:
            await asyncio.wait_for(self._client.unsubscribe(pull_point), RELEASE_SECONDS)
            self.stats.unsubscribed += 1
        except (*RECOVERABLE, TimeoutError) as exc:
            log.debug("unsubscribe failed (the device will expire it): %s", exc)

    async def _release(self) -> None:
        """Unsubscribe everything still live (the device's slots are shared with other clients)."""
        self.subscribed.clear()
        live, self._live = self._live, []
        if not self._client.connected:
            return
        for pull_point in live:
            await self._unsubscribe(pull_point)
