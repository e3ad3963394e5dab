"""Tamper found by clip analytics becomes camera.tamper events, and so degraded time in camera health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analytics.tamper import TamperInterval
from vmsbridge.config import SiteConfig
from vmsbridge.health.clip_tamper import clip_tamper_events, publish_clip_tamper
from vmsbridge.health.intervals import Interval, State
from vmsbridge.health.timeline import camera_timeline, health_kinds
from vmsbridge.model import EventKind, StoredEvent
from vmsbridge.runtime import running_services

CLIP_START = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
CAMERA = "cam-maple-entry"
# A 40 s clip: the lens covered 5-17.5 s, a lighting change 20-22 s, defocused 30-40 s (to its end).
TAMPER = [
    TamperInterval("covered", 5.0, 17.5),
    TamperInterval("lights", 20.0, 22.0),
    TamperInterval("defocus", 30.0, 40.0),
]


class Report:
    def __init__(self, tamper: list[TamperInterval]) -> None:
        self.tamper = tamper


def at(seconds: float) -> datetime:
    return CLIP_START + timedelta(seconds=seconds)


def trigger(source: str = "onvif:onvif-north") -> StoredEvent:
    return StoredEvent(
        7, source, "t1", EventKind.DOOR_FORCED, "door-maple-main", "maple-hall", at(30), at(30)
    )


def test_each_tamper_interval_but_lights_is_one_event_at_its_wall_time() -> None:
    events = clip_tamper_events(CAMERA, CLIP_START, TAMPER, clip_sha256="ab" * 32, received_at=at(100))
    assert [(e.kind, e.device_id, e.occurred_at, e.attributes["tamper"]) for e in events] == [
        (EventKind.CAMERA_TAMPER, CAMERA, at(5), "covered"),
        (EventKind.CAMERA_TAMPER, CAMERA, at(30), "defocus"),
    ]
    assert [e.attributes["seconds"] for e in events] == [12.5, 10.0]
    assert events[0].attributes["until"] == at(17.5).isoformat()
    assert {e.source for e in events} == {f"analytics:{CAMERA}"}


def test_the_events_give_degraded_spans_of_exactly_the_tampered_time() -> None:
    events = clip_tamper_events(CAMERA, CLIP_START, TAMPER, clip_sha256="ab" * 32, received_at=at(100))
    stored = [
        StoredEvent(
            n,
            e.source,
            e.native_id,
            e.kind,
            e.device_id,
            "maple-hall",
            e.occurred_at,
            e.received_at,
            e.attributes,
        )
        for n, e in enumerate(events, 1)
    ]
    timeline = camera_timeline(CAMERA, stored, Interval(at(0), at(600)))
    assert [(s.start, s.end, s.state, sorted(s.causes)) for s in timeline.spans] == [
        (at(5), at(17.5), State.DEGRADED, ["tamper:covered"]),
        (at(30), at(40), State.DEGRADED, ["tamper:defocused"]),
    ]


async def test_published_once_through_the_bus_and_never_for_an_analytics_trigger(
    site: SiteConfig, db_url: str
) -> None:
    async with running_services(site, db_url) as services:

        async def publish(source: str, tamper: list[TamperInterval] = TAMPER) -> list[str]:
            return await publish_clip_tamper(
                services.bus, trigger(source), CAMERA, CLIP_START, Report(tamper), "ab" * 32
            )

        [note] = await publish("onvif:onvif-north")
        assert "2 interval(s) (covered, defocus)" in note
        await publish("onvif:onvif-north")  # the same clip analysed again: the same events
        # A clip captured for an analytics tamper event is not analysed into more tamper events.
        assert await publish(f"analytics:{CAMERA}") == []
        assert await publish("onvif:onvif-north", [TAMPER[1]]) == []  # only a lighting change

        kept = await services.stores.health.events_between(at(0), at(600), health_kinds())
        assert [(e.occurred_at, e.location_id, e.attributes["tamper"]) for e in kept] == [
            (at(5), "maple-hall", "covered"),
            (at(30), "maple-hall", "defocus"),
        ]
