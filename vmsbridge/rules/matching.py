"""Does an event fire a rule? Selectors, time-window conditions and the per-device cooldown.

Pure and synchronous: the engine feeds it every event in order and asks about each one. The
window memory only keeps what the longest condition can still look at, so it stays small.
"""

from __future__ import annotations

__all__ = ["Decision", "Matcher"]

from collections import OrderedDict, defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from vmsbridge.config.rules import Rule
from vmsbridge.model import EventKind, StoredEvent

FIRED_EVENTS_KEPT = 10_000


@dataclass(frozen=True)
class Decision:
    fires: bool
    why: str


class Matcher:
    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        # (kind, "device"|"location", key) -> occurrence times, oldest first
        self._recent: defaultdict[tuple[EventKind, str, str], deque[datetime]] = defaultdict(deque)
        # (rule, device) -> the occurrence times it fired for: an older event arriving late is
        # checked against every firing it could fall near, not just the last one.
        self._fired_at: defaultdict[tuple[str, str], deque[datetime]] = defaultdict(deque)
        # (rule, source, native id) of recent firings: a replay of the same device event (a
        # re-sync, a reconnect) never fires again, however its time compares with other firings.
        self._fired_events: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        longest = [0.0]
        for rule in rules:
            if rule.unless is not None:
                longest.append(rule.unless.within_seconds)
            if rule.count is not None:
                longest.append(rule.count.within_seconds)
        self._keep = timedelta(seconds=max(longest))
        self._watched = {r.unless.kind for r in rules if r.unless} | {
            k for r in rules if r.count for k in r.on
        }

    def adopt_memory(self, previous: Matcher) -> None:
        """Keep what an earlier rule set saw and when its rules fired (a reload must not re-fire)."""
        for key, times in previous._recent.items():
            self._recent[key].extend(times)
        for rule_device, fired in previous._fired_at.items():
            self._fired_at[rule_device].extend(fired)
        self._fired_events.update(previous._fired_events)
        self._keep = max(self._keep, previous._keep)
        self._watched |= previous._watched

    def observe(self, event: StoredEvent) -> None:
        """Remember an event for later window conditions (call for every event, before deciding)."""
        if event.kind not in self._watched:
            return
        for scope, key in (("device", event.device_id), ("location", event.location_id)):
            times = self._recent[(event.kind, scope, key)]
            times.append(event.occurred_at)
            if len(times) > 1 and times[-2] > times[-1]:  # out of order: keep the deque sorted
                times_list = sorted(times)
                times.clear()
                times.extend(times_list)
            while times and times[0] < times[-1] - self._keep:
                times.popleft()

    def _count(self, kind: EventKind, scope: str, key: str, start: datetime, end: datetime) -> int:
        return sum(1 for t in self._recent.get((kind, scope, key), ()) if start <= t <= end)

    def _densest(self, kinds: list[EventKind], scope: str, key: str, at: datetime, window: timedelta) -> int:
        """Most events in any ``window``-long span that contains ``at`` (late arrivals count too)."""
        times = sorted(
            t
            for kind in kinds
            for t in self._recent.get((kind, scope, key), ())
            if at - window <= t <= at + window
        )
        best = 0
        for start in (t for t in times if t <= at):
            best = max(best, sum(1 for t in times if start <= t <= start + window and start + window >= at))
        return best

    def decide(
        self, rule: Rule, event: StoredEvent, *, now: datetime, open_incident_here: bool = False
    ) -> Decision:
        if event.kind not in rule.on:
            return Decision(False, "kind not in 'on'")
        if rule.devices and event.device_id not in rule.devices:
            return Decision(False, "device not selected")
        if rule.locations and event.location_id not in rule.locations:
            return Decision(False, "location not selected")
        age = (now - event.occurred_at).total_seconds()
        if age > rule.max_age_seconds:
            return Decision(False, f"event is {age:.0f} s old (max_age_seconds {rule.max_age_seconds:.0f})")
        if rule.during_open_incident and not open_incident_here:
            return Decision(False, "no open incident at the location")
        if rule.unless is not None:
            u = rule.unless
            key = event.device_id if u.same == "device" else event.location_id
            start = event.occurred_at - timedelta(seconds=u.within_seconds)
            if self._count(u.kind, u.same, key, start, event.occurred_at):
                return Decision(False, f"{u.kind.value} at the same {u.same} within {u.within_seconds:g} s")
        if rule.count is not None:
            c = rule.count
            key = event.device_id if c.same == "device" else event.location_id
            seen = self._densest(rule.on, c.same, key, event.occurred_at, timedelta(seconds=c.within_seconds))
            if seen < c.at_least:
                return Decision(False, f"{seen} of {c.at_least} within {c.within_seconds:g} s")
        if (rule.name, event.source, event.native_id) in self._fired_events:
            return Decision(False, "already fired for this device event (a replay)")
        fired = self._fired_at[(rule.name, event.device_id)]
        near = [abs((event.occurred_at - t).total_seconds()) for t in fired]
        if near and min(near) < rule.cooldown_seconds:
            return Decision(False, f"fired for this device {min(near):.0f} s from this event")
        self._remember_firing(rule, event)
        return Decision(True, "all conditions met")

    def remember(self, rule_name: str, event: StoredEvent) -> None:
        """A firing from before a restart (from the store): its cooldown and replay check hold."""
        rule = next((r for r in self.rules if r.name == rule_name), None)
        if rule is not None:
            self._remember_firing(rule, event)

    def _remember_firing(self, rule: Rule, event: StoredEvent) -> None:
        fired = self._fired_at[(rule.name, event.device_id)]
        fired.append(event.occurred_at)
        newest = max(fired)
        # An event older than max_age never fires, so firings beyond it plus the cooldown are moot.
        keep = timedelta(seconds=rule.max_age_seconds + rule.cooldown_seconds)
        while len(fired) > 1 and min(fired) < newest - keep:
            fired.remove(min(fired))
        self._fired_events[(rule.name, event.source, event.native_id)] = None
        while len(self._fired_events) > FIRED_EVENTS_KEPT:
            self._fired_events.popitem(last=False)
