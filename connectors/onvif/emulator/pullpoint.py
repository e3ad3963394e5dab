"""The ONVIF Events service of an emulated device: event properties, PullPoint subscriptions
(create, pull, renew, unsubscribe, synchronise) and the hostile-XML pull responses.
"""

from __future__ import annotations

import asyncio
import contextlib
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Final

from connectors.onvif.emulator.events import EventTriggers
from connectors.onvif.emulator.soap import (
    _RESPONSE_ACTIONS,
    CONCRETE_SET_DIALECT,
    SUBSCRIPTION_PATH,
    _Call,
    _el,
    _envelope,
    _format_time,
    _invalid_arg,
    _parse_datetime,
    _resource_unknown,
    _serialize,
    _SoapFault,
    _text,
    parse_duration,
)
from connectors.onvif.emulator.spec import HUGE_RESPONSE_BYTES
from connectors.onvif.emulator.state import _PullPoint
from connectors.onvif.emulator.topics import _TOPIC_CATALOG, _Notification, _topic_set

__all__ = ["PullPointService"]

_PLACEHOLDER: Final = "__vmsbridge_emulator_placeholder__"


def _hostile_pull_response(kind: str, response: ET.Element) -> bytes:
    """Wrap a PullMessages response carrying ``_PLACEHOLDER`` into a hostile document."""
    text = _serialize(response)
    if kind == "entity_expansion":
        # Billion laughs: ten levels of tenfold expansion, 10**9 copies of "lol" once resolved.
        entities = ['<!ENTITY lol0 "lol">'] + [
            f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
        ]
        doctype = "<!DOCTYPE s:Envelope [\n" + "\n".join(entities) + "\n]>\n"
        declaration, _, rest = text.partition("\n")
        return (declaration + "\n" + doctype + rest.replace(_PLACEHOLDER, "&lol9;")).encode()
    head, _, tail = text.partition(_PLACEHOLDER)
    padding = HUGE_RESPONSE_BYTES - len(head) - len(tail)
    return head.encode() + b"A" * max(padding, 0) + tail.encode()


class PullPointService(EventTriggers):
    """GetEventProperties and the PullPoint subscription operations."""

    async def _get_event_properties(self, call: _Call) -> ET.Element:
        features = {
            "video": True,
            "inputs": bool(self.spec.inputs),
            "relays": bool(self.spec.relays),
            "doors": bool(self.spec.doors),
            "access_points": bool(self.spec.access_points),
        }
        topics = [info for info in _TOPIC_CATALOG if features[info.needs]]
        return _el(
            "tev:GetEventPropertiesResponse",
            _el("tev:TopicNamespaceLocation", "http://www.onvif.org/onvif/ver10/topics/topicns.xml"),
            _el("wsnt:FixedTopicSet", "true"),
            _topic_set(topics),
            _el("wsnt:TopicExpressionDialect", CONCRETE_SET_DIALECT),
            _el("wsnt:TopicExpressionDialect", "http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete"),
            _el(
                "tev:MessageContentFilterDialect",
                "http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter",
            ),
            _el("tev:MessageContentSchemaLocation", "http://www.onvif.org/onvif/ver10/schema/onvif.xsd"),
        )

    def _termination_from(self, value: str, *, initial: bool) -> datetime:
        """Real-clock termination for a relative duration or an absolute device-clock time."""
        fault = "UnacceptableInitialTerminationTimeFault" if initial else "UnacceptableTerminationTimeFault"
        subcode = f"wsntw:{fault}"
        now = datetime.now(UTC)
        try:
            if value.startswith("P"):
                termination = now + parse_duration(value)
            else:
                # Absolute times are on the device clock; keep expiry on the real one.
                termination = _parse_datetime(value) - self.clock_offset
        except ValueError as exc:
            raise _SoapFault("s:Sender", (subcode,), f"invalid termination time {value!r}: {exc}") from exc
        if termination <= now:
            raise _SoapFault("s:Sender", (subcode,), f"termination time {value!r} is not in the future")
        return termination

    async def _create_pull_point_subscription(self, call: _Call) -> ET.Element:
        requested = _text(call.body, "InitialTerminationTime")
        if not requested:
            if self.quirks.require_initial_termination_time:
                raise _SoapFault(
                    "s:Receiver",
                    (),
                    "CreatePullPointSubscription without InitialTerminationTime (emulated Tapo quirk)",
                    status=500,
                )
            termination = datetime.now(UTC) + timedelta(seconds=self.default_subscription_seconds)
        else:
            termination = self._termination_from(requested, initial=True)
        if self.live_subscriptions >= self.quirks.max_pull_points:
            raise _SoapFault(
                "s:Receiver",
                ("ter:Action", "ter:MaxPullPointsReached"),
                f"maximum number of pull points ({self.quirks.max_pull_points}) reached",
            )
        pull_point = _PullPoint(id=self._next_pull_point_id, termination=termination)
        self._next_pull_point_id += 1
        self._pull_points[pull_point.id] = pull_point
        self._enqueue(pull_point, self._initialized_states())
        address = f"{call.base_url}{SUBSCRIPTION_PATH}?id={pull_point.id}"
        if self.quirks.slow_subscribe_seconds:
            await asyncio.sleep(self.quirks.slow_subscribe_seconds)
        return _el(
            "tev:CreatePullPointSubscriptionResponse",
            _el("tev:SubscriptionReference", _el("wsa:Address", address)),
            _el("wsnt:CurrentTime", _format_time(self.device_now())),
            _el("wsnt:TerminationTime", _format_time(termination + self.clock_offset)),
        )

    def _pull_point(self, call: _Call) -> _PullPoint:
        self._expire_pull_points()
        raw_id = call.query.get("id", "")
        pull_point = self._pull_points.get(int(raw_id)) if raw_id.isdigit() else None
        if pull_point is None:
            raise _resource_unknown(f"no subscription {raw_id!r} (unsubscribed, expired or lost in a reboot)")
        return pull_point

    async def _pull_messages(self, call: _Call) -> ET.Element | bytes:
        pull_point = self._pull_point(call)
        timeout_text = _text(call.body, "Timeout") or ""
        try:
            timeout = parse_duration(timeout_text)
            limit = max(1, int(_text(call.body, "MessageLimit") or "1"))
        except ValueError as exc:
            raise _invalid_arg("ter:InvalidArgs", f"bad PullMessages arguments: {exc}") from exc
        self.pull_timeouts.append(timeout_text)
        del self.pull_timeouts[:-100]
        if self.quirks.pull_answers_at_once or (self.quirks.whole_second_timeouts and timeout.microseconds):
            timeout = timedelta(0)
        now = datetime.now(UTC)
        # Pulling keeps a pull point alive for at least the requested timeout (ONVIF Core).
        pull_point.termination = max(pull_point.termination, now + timeout)
        hostile = self.quirks.hostile_xml
        if hostile is not None:
            note = _Notification(
                "tns1:VideoSource/MotionAlarm",
                (("Source", self._video_sources[0]),),
                (("State", _PLACEHOLDER),),
                self.device_now(),
                "Changed",
            )
            response = self._pull_response(pull_point, [note])
            action = _RESPONSE_ACTIONS[("subscription", "PullMessages")]
            return _hostile_pull_response(hostile, _envelope(response, action=action))
        messages = await self._wait_for_messages(pull_point, timeout.total_seconds(), limit)
        return self._pull_response(pull_point, messages)

    async def _wait_for_messages(
        self, pull_point: _PullPoint, wait_seconds: float, limit: int
    ) -> list[_Notification]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while True:
            if pull_point.closed:
                raise _resource_unknown("the subscription ended while PullMessages was waiting")
            if pull_point.queue and not self.quirks.pull_always_empty:
                count = min(limit, len(pull_point.queue))
                return [pull_point.queue.popleft() for _ in range(count)]
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            pull_point.wakeup.clear()
            self._parked_pulls += 1
            self._pull_parked.set()
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(pull_point.wakeup.wait(), remaining)
            finally:
                self._parked_pulls -= 1
                if not self._parked_pulls:
                    self._pull_parked.clear()

    def _pull_response(self, pull_point: _PullPoint, messages: list[_Notification]) -> ET.Element:
        return _el(
            "tev:PullMessagesResponse",
            _el("tev:CurrentTime", _format_time(self.device_now())),
            _el("tev:TerminationTime", _format_time(pull_point.termination + self.clock_offset)),
            *(note.element() for note in messages),
        )

    async def _set_synchronization_point(self, call: _Call) -> ET.Element:
        pull_point = self._pull_point(call)
        if self.quirks.sync_point_fails:
            raise _SoapFault(
                "s:Receiver",
                ("ter:ActionNotSupported",),
                "SetSynchronizationPoint failed (emulated sync_point_fails quirk)",
            )
        self._enqueue(pull_point, self._initialized_states())
        return _el("tev:SetSynchronizationPointResponse")

    async def _renew(self, call: _Call) -> ET.Element:
        pull_point = self._pull_point(call)
        if self.quirks.renew_fails:
            raise _SoapFault(
                "s:Receiver", ("ter:ActionNotSupported",), "Renew failed (emulated renew_fails quirk)"
            )
        requested = _text(call.body, "TerminationTime")
        if not requested:
            raise _SoapFault(
                "s:Sender", ("wsntw:UnacceptableTerminationTimeFault",), "Renew needs a TerminationTime"
            )
        pull_point.termination = self._termination_from(requested, initial=False)
        return _el(
            "wsnt:RenewResponse",
            _el("wsnt:TerminationTime", _format_time(pull_point.termination + self.clock_offset)),
            _el("wsnt:CurrentTime", _format_time(self.device_now())),
        )

    async def _unsubscribe(self, call: _Call) -> ET.Element:
        pull_point = self._pull_point(call)
        pull_point.close()
        del self._pull_points[pull_point.id]
        return _el("wsnt:UnsubscribeResponse")
