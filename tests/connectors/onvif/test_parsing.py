"""ONVIF reply parsing and topic mapping: pure functions, real payload shapes, hostile input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.onvif.errors import MalformedResponse, NotAuthorized, SubscriptionGone
from connectors.onvif.mapping import PropertyStates, native_id
from connectors.onvif.messages import PERSONAL_ITEMS, REDACTED, Notification, parse_pull_messages
from connectors.onvif.topics import TOPICS, Subject, read_notification
from vmsbridge.model import EventKind

ENVELOPE = """<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tev="http://www.onvif.org/ver10/events/wsdl"
  xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:tt="http://www.onvif.org/ver10/schema"
  xmlns:{prefix}="http://www.onvif.org/ver10/topics" xmlns:wsa="http://www.w3.org/2005/08/addressing">
 <s:Body><tev:PullMessagesResponse>
  <tev:CurrentTime>2026-01-05T10:00:07Z</tev:CurrentTime>
  <tev:TerminationTime>2026-01-05T10:10:07Z</tev:TerminationTime>
  {messages}
 </tev:PullMessagesResponse></s:Body></s:Envelope>"""

MESSAGE = """<wsnt:NotificationMessage>
   <wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">{topic}</wsnt:Topic>
   <wsnt:Message><tt:Message UtcTime="{time}" PropertyOperation="{op}">
     <tt:Source>{source}</tt:Source>
     <tt:Data>{data}</tt:Data>
   </tt:Message></wsnt:Message>
  </wsnt:NotificationMessage>"""


def message(
    topic: str,
    source: dict[str, str],
    data: dict[str, str],
    op: str = "Changed",
    time: str = "2026-01-05T10:00:06Z",
) -> str:
    def items(d: dict[str, str]) -> str:
        return "".join(f'<tt:SimpleItem Name="{k}" Value="{v}"/>' for k, v in d.items())

    return MESSAGE.format(topic=topic, source=items(source), data=items(data), op=op, time=time)


def reply(*messages: str, prefix: str = "tns1") -> bytes:
    return ENVELOPE.format(prefix=prefix, messages="".join(messages)).encode()


def test_a_digital_input_message_is_parsed_with_items_time_and_raw_xml() -> None:
    body = reply(message("tns1:Device/Trigger/DigitalInput", {"InputToken": "DI1"}, {"LogicalState": "true"}))
    [n], termination = parse_pull_messages("dev", body)
    assert n.topic == "tns1:Device/Trigger/DigitalInput"
    assert (n.source, n.data, n.operation) == ({"InputToken": "DI1"}, {"LogicalState": "true"}, "Changed")
    assert n.utc_time == datetime(2026, 1, 5, 10, 0, 6, tzinfo=UTC)
    assert termination == datetime(2026, 1, 5, 10, 10, 7, tzinfo=UTC)
    assert n.raw.startswith("<wsnt:NotificationMessage")
    assert "DigitalInput" in n.raw


def test_a_device_using_another_prefix_for_the_onvif_topic_namespace() -> None:
    body = reply(
        message("tns:VideoSource/MotionAlarm//.", {"Source": "VS1"}, {"State": "true"}), prefix="tns"
    )
    [n], _ = parse_pull_messages("dev", body)
    assert n.topic == "tns1:VideoSource/MotionAlarm"


@pytest.mark.parametrize(
    ("topic", "source", "data", "kind", "subject"),
    [
        (
            "tns1:Device/Trigger/DigitalInput",
            {"InputToken": "DI1"},
            {"LogicalState": "true"},
            EventKind.INPUT_ACTIVE,
            Subject("input", "DI1"),
        ),
        (
            "tns1:Device/Trigger/DigitalInput",
            {"InputToken": "DI1"},
            {"LogicalState": "false"},
            EventKind.INPUT_INACTIVE,
            Subject("input", "DI1"),
        ),
        (
            "tns1:Device/Trigger/Relay",
            {"RelayToken": "RO1"},
            {"LogicalState": "active"},
            EventKind.RELAY_ACTIVE,
            Subject("relay", "RO1"),
        ),
        (
            "tns1:VideoSource/MotionAlarm",
            {"Source": "VS1"},
            {"State": "true"},
            EventKind.MOTION_START,
            Subject("video_source", "VS1"),
        ),
        (
            "tns1:RuleEngine/CellMotionDetector/Motion",
            {
                "VideoSourceConfigurationToken": "VSC1",
                "VideoAnalyticsConfigurationToken": "VAC1",
                "Rule": "R",
            },
            {"IsMotion": "false"},
            EventKind.MOTION_STOP,
            Subject("video_source_config", "VSC1"),
        ),
        (
            "tns1:VideoSource/SignalLoss",
            {"Source": "VS2"},
            {"State": "true"},
            EventKind.CAMERA_SIGNAL_LOSS,
            Subject("video_source", "VS2"),
        ),
        (
            "tns1:VideoSource/SignalLoss",
            {"Source": "VS2"},
            {"State": "false"},
            EventKind.CAMERA_SIGNAL_RESTORED,
            Subject("video_source", "VS2"),
        ),
        (
            "tns1:VideoSource/GlobalSceneChange/ImagingService",
            {"Source": "VS1"},
            {"State": "true"},
            EventKind.CAMERA_TAMPER,
            Subject("video_source", "VS1"),
        ),
        (
            "tns1:RuleEngine/TamperDetector/Tamper",
            {"VideoSourceConfigurationToken": "VSC1"},
            {"IsTamper": "true"},
            EventKind.CAMERA_TAMPER,
            Subject("video_source_config", "VSC1"),
        ),
        (
            "tns1:AccessControl/AccessGranted/Credential",
            {"AccessPointToken": "AP1"},
            {"CredentialToken": "C9", "CredentialHolderName": "Jane Roe"},
            EventKind.ACCESS_GRANTED,
            Subject("access_point", "AP1"),
        ),
        (
            "tns1:AccessControl/Denied/CredentialNotFound/Card",
            {"AccessPointToken": "AP1"},
            {"Card": "123"},
            EventKind.ACCESS_DENIED,
            Subject("access_point", "AP1"),
        ),
        (
            "tns1:Door/State/DoorAlarm",
            {"DoorToken": "D1"},
            {"State": "DoorForcedOpen"},
            EventKind.DOOR_FORCED,
            Subject("door", "D1"),
        ),
        (
            "tns1:Door/State/DoorAlarm",
            {"DoorToken": "D1"},
            {"State": "DoorOpenTooLong"},
            EventKind.DOOR_HELD_OPEN,
            Subject("door", "D1"),
        ),
        (
            "tns1:Door/State/DoorPhysicalState",
            {"DoorToken": "D1"},
            {"State": "Open"},
            EventKind.DOOR_OPENED,
            Subject("door", "D1"),
        ),
    ],
)
def test_topic_table(
    topic: str, source: dict[str, str], data: dict[str, str], kind: EventKind, subject: Subject
) -> None:
    reading = read_notification(Notification(topic, None, "Changed", source, data))
    assert (reading.kind, reading.subject) == (kind, subject)


def test_holder_names_never_reach_the_event() -> None:
    n = Notification(
        "tns1:AccessControl/AccessGranted/Credential",
        None,
        None,
        {"AccessPointToken": "AP1"},
        {"CredentialToken": "C9", "CredentialHolderName": "Jane Roe"},
    )
    assert "Jane Roe" not in repr(read_notification(n))


def test_a_cleared_alarm_is_tracked_but_not_reported() -> None:
    reading = read_notification(
        Notification("tns1:Door/State/DoorAlarm", None, "Changed", {"DoorToken": "D1"}, {"State": "Normal"})
    )
    assert reading.kind is None
    assert reading.state == "Normal"


@pytest.mark.parametrize(
    ("topic", "source", "item", "detector"),
    [
        ("tns1:VideoSource/GlobalSceneChange/ImagingService", {"Source": "VS1"}, "State", "ImagingService"),
        (
            "tns1:RuleEngine/TamperDetector/Tamper",
            {"VideoSourceConfigurationToken": "VSC1"},
            "IsTamper",
            "tns1:RuleEngine/TamperDetector/Tamper",
        ),
    ],
)
def test_a_tamper_alarm_going_off_is_reported_as_cleared(
    topic: str, source: dict[str, str], item: str, detector: str
) -> None:
    # Camera health closes the tampered interval on the clear, so the clear must be reported: a
    # view is not counted as tampered for a guessed time.
    on = read_notification(Notification(topic, None, "Changed", source, {item: "true"}))
    off = read_notification(Notification(topic, None, "Changed", source, {item: "false"}))
    assert (on.kind, on.attributes["state"], on.attributes["detector"]) == (
        EventKind.CAMERA_TAMPER,
        True,
        detector,
    )
    assert (off.kind, off.attributes["state"], off.attributes["detector"]) == (
        EventKind.CAMERA_TAMPER_CLEARED,
        False,
        detector,
    )
    assert off.subject == on.subject


@pytest.mark.parametrize(
    ("topic", "source", "data", "why"),
    [
        ("tns1:Vendor/Thing", {"X": "1"}, {"Y": "2"}, "no parser"),
        ("tns1:Device/Trigger/DigitalInput", {}, {"LogicalState": "true"}, "parser failed"),
        (
            "tns1:Device/Trigger/DigitalInput",
            {"InputToken": "DI1"},
            {"LogicalState": "maybe"},
            "no boolean state",
        ),
        ("tns1:Door/State/DoorAlarm", {"DoorToken": "D1"}, {"State": "Exploded"}, "door alarm state"),
    ],
)
def test_what_cannot_be_read_becomes_unknown_with_the_reason(
    topic: str, source: dict[str, str], data: dict[str, str], why: str
) -> None:
    reading = read_notification(Notification(topic, None, None, source, data))
    assert reading.kind is EventKind.ONVIF_UNKNOWN
    assert why in reading.attributes["why"]
    assert reading.attributes["source"] == source


names = st.text(alphabet=st.characters(codec="utf-8", categories=["L", "N"]), min_size=1, max_size=12)
topics = st.one_of(
    st.sampled_from(TOPICS.topics).map(lambda t: t.replace("*", "Credential")),
    st.lists(names, min_size=1, max_size=4).map(lambda p: "tns1:" + "/".join(p)),
)
items = st.dictionaries(
    st.sampled_from(
        [
            "InputToken",
            "RelayToken",
            "Source",
            "DoorToken",
            "AccessPointToken",
            "VideoSourceConfigurationToken",
            "State",
            "LogicalState",
            "IsMotion",
            "Reason",
            "CredentialToken",
        ]
    )
    | names,
    st.sampled_from(["true", "false", "active", "DoorForcedOpen", "Open", "", "0"]) | names,
    max_size=4,
)


@given(
    topic=topics, source=items, data=items, op=st.sampled_from(["Initialized", "Changed", "Deleted", None])
)
def test_any_message_reads_to_a_known_kind_without_raising(
    topic: str, source: dict[str, str], data: dict[str, str], op: str | None
) -> None:
    reading = read_notification(Notification(topic, None, op, source, data))
    assert reading.kind is None or isinstance(reading.kind, EventKind)
    if TOPICS.parser_for(topic) is None:
        assert reading.kind is EventKind.ONVIF_UNKNOWN
    if reading.kind is EventKind.ONVIF_UNKNOWN:
        assert reading.attributes["topic"] == topic


@given(source=items, data=items)
def test_generated_xml_round_trips_through_the_parser(source: dict[str, str], data: dict[str, str]) -> None:
    safe = {k: v for k, v in source.items() if '"' not in k + v and "<" not in k + v and "&" not in k + v}
    body = reply(message("tns1:Device/Trigger/DigitalInput", safe, data))
    [n], _ = parse_pull_messages("dev", body)

    def as_kept(items: dict[str, str]) -> dict[str, str]:  # names of people are redacted on purpose
        return {k: REDACTED if k in PERSONAL_ITEMS else v for k, v in items.items()}

    assert n.source == as_kept(safe)
    assert n.data == as_kept(data)


def test_resync_of_a_known_state_is_not_news_but_a_change_is() -> None:
    states = PropertyStates()
    off = read_notification(
        Notification(
            "tns1:Device/Trigger/DigitalInput", None, None, {"InputToken": "DI1"}, {"LogicalState": "false"}
        )
    )
    on = read_notification(
        Notification(
            "tns1:Device/Trigger/DigitalInput", None, None, {"InputToken": "DI1"}, {"LogicalState": "true"}
        )
    )
    topic = "tns1:Device/Trigger/DigitalInput"
    assert not states.is_news(
        topic, off, "Initialized", alarm=False
    )  # a resting state at connect: a baseline
    assert states.is_news(topic, on, "Changed", alarm=True)  # the pickup
    assert not states.is_news(
        topic, on, "Initialized", alarm=True
    )  # a re-sync repeats it: not a second pickup
    assert not states.is_news(topic, on, "Changed", alarm=True)  # a re-delivered change: no news either
    assert states.is_news(topic, off, "Initialized", alarm=False)  # hung up while we were away: news


def test_an_alarm_state_seen_first_at_connect_is_reported() -> None:
    states = PropertyStates()
    on = read_notification(
        Notification(
            "tns1:Device/Trigger/DigitalInput", None, None, {"InputToken": "DI1"}, {"LogicalState": "true"}
        )
    )
    assert states.is_news("tns1:Device/Trigger/DigitalInput", on, "Initialized", alarm=True)
    assert not states.is_news("tns1:Device/Trigger/DigitalInput", on, "Initialized", alarm=True)


def test_native_id_is_stable_for_a_redelivery_and_differs_for_a_new_message() -> None:
    when = datetime(2026, 1, 5, 10, 0, 6, tzinfo=UTC)
    a = Notification("tns1:X", when, "Changed", {"A": "1"}, {"B": "2"}, raw="<a/>")
    again = Notification("tns1:X", when, "Changed", {"A": "1"}, {"B": "2"}, raw="<a />")
    later = Notification("tns1:X", when.replace(second=7), "Changed", {"A": "1"}, {"B": "2"})
    assert native_id(a) == native_id(again)
    assert native_id(a) != native_id(later)


FAULT = """<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error"
 xmlns:rw="http://docs.oasis-open.org/wsrf/rw-2"><s:Body><s:Fault>
 <s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>{sub}</s:Value></s:Subcode></s:Code>
 <s:Reason><s:Text xml:lang="en">{reason}</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>"""


def test_faults_become_typed_errors() -> None:
    with pytest.raises(NotAuthorized, match="Sender not Authorized"):
        parse_pull_messages(
            "cam-1", FAULT.format(sub="ter:NotAuthorized", reason="Sender not Authorized").encode()
        )
    with pytest.raises(SubscriptionGone):
        parse_pull_messages("cam-1", FAULT.format(sub="rw:ResourceUnknownFault", reason="gone").encode())


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (
            b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Body><tev:Pull",
            "not well-formed",
        ),
        (b"", "not well-formed"),
        (b"<html>502 Bad Gateway</html>", "no SOAP Body"),
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
            b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Body>&lol2;</s:Body></s:Envelope>",
            "DTD or entity",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><x>&xxe;</x>',
            "DTD or entity",
        ),
        (b"<x>" + b"a" * (9 * 1024 * 1024) + b"</x>", "larger than"),
    ],
    ids=["truncated", "empty", "html", "billion-laughs", "xxe", "huge"],
)
def test_hostile_or_broken_replies_are_refused_with_a_clear_error(body: bytes, match: str) -> None:
    with pytest.raises(MalformedResponse, match=match) as info:
        parse_pull_messages("cam-7", body)
    assert "cam-7" in str(info.value)
    assert "root:" not in str(info.value)  # nothing from /etc/passwd leaks into the message


def test_a_state_whose_event_was_not_stored_is_not_remembered() -> None:
    states = PropertyStates()
    topic = "tns1:Device/Trigger/DigitalInput"
    on = read_notification(Notification(topic, None, None, {"InputToken": "DI1"}, {"LogicalState": "true"}))
    assert states.is_news(topic, on, "Changed", alarm=True)
    states.rollback()  # publishing failed
    assert states.is_news(topic, on, "Initialized", alarm=True)  # so the re-sync still reports it
    states.commit()
    assert not states.is_news(topic, on, "Initialized", alarm=True)


def test_only_the_batches_stored_so_far_are_remembered() -> None:
    states = PropertyStates()
    topic = "tns1:Device/Trigger/DigitalInput"
    source = {"InputToken": "DI1"}
    on = read_notification(Notification(topic, None, None, source, {"LogicalState": "true"}))
    off = read_notification(Notification(topic, None, None, source, {"LogicalState": "false"}))
    assert states.is_news(topic, on, "Changed", alarm=True)  # batch 1: the pickup
    first = states.mark()
    assert states.is_news(topic, off, "Changed", alarm=False)  # batch 2, read before 1 is stored
    states.commit(first)  # batch 1 stored
    states.rollback()  # batch 2 was not
    assert states.is_news(topic, off, "Initialized", alarm=False), "the hang-up is still news"
    states.rollback()
    assert not states.is_news(topic, on, "Initialized", alarm=True), "the pickup is known"


DIGITAL_INPUT = "tns1:Device/Trigger/DigitalInput"


@pytest.mark.parametrize(
    ("topic", "source", "data", "kind"),
    [
        (
            "tns1:Device/Trigger/DigitalInput",
            {"InputToken": "DI1"},
            {"State": "true"},
            EventKind.INPUT_ACTIVE,
        ),
        (
            "tns1:Device/Trigger/DigitalInput",
            {"InputToken": "DI1"},
            {"Value": "HIGH"},
            EventKind.INPUT_ACTIVE,
        ),
        (
            "tns1:Device/Trigger/DigitalInput",
            {"InputToken": "DI1"},
            {"state": "Low"},
            EventKind.INPUT_INACTIVE,
        ),
        ("tns1:Device/Trigger/DigitalInput", {"InputToken": "DI1"}, {"active": "1"}, EventKind.INPUT_ACTIVE),
        ("tns1:Device/Trigger/Relay", {"RelayToken": "R1"}, {"State": "On"}, EventKind.RELAY_ACTIVE),
        (
            "tns1:RuleEngine/CellMotionDetector/Motion",
            {"VideoSourceConfigurationToken": "VSC1"},
            {"State": "true"},
            EventKind.MOTION_START,
        ),
        ("tns1:VideoSource/MotionAlarm", {"Source": "VS1"}, {"IsMotion": "0"}, EventKind.MOTION_STOP),
        (
            "tns1:RuleEngine/TamperDetector/Tamper",
            {"VideoSourceConfigurationToken": "VSC1"},
            {"IsTamper": "Active"},
            EventKind.CAMERA_TAMPER,
        ),
        (
            "tns1:VideoSource/GlobalSceneChange/ImagingService",
            {"Source": "VS1"},
            {"State": "inactive"},
            EventKind.CAMERA_TAMPER_CLEARED,
        ),
    ],
)
def test_state_items_and_value_spellings_devices_use(
    topic: str, source: dict[str, str], data: dict[str, str], kind: EventKind
) -> None:
    assert read_notification(Notification(topic, None, "Changed", source, data)).kind is kind


def test_messages_without_a_device_time_are_not_merged_into_one() -> None:
    a = Notification("tns1:X", None, "Changed", {"A": "1"}, {"B": "2"})
    assert native_id(a, "2026-11-25T10:00:00+00:00#1") != native_id(a, "2026-11-25T10:00:00+00:00#2")


def test_names_of_people_are_redacted_from_items_and_raw_xml() -> None:
    body = reply(
        message(
            "tns1:AccessControl/Duress",
            {"AccessPointToken": "AP1"},
            {"CredentialHolderName": "Jane Roe", "CredentialToken": "C9"},
        )
    )
    [n], _ = parse_pull_messages("dev", body)
    assert n.data == {"CredentialHolderName": "[redacted]", "CredentialToken": "C9"}
    assert "Jane Roe" not in n.raw


@pytest.mark.parametrize(
    "utc_time",
    ["9999-12-31T23:00:00-14:00", "0001-01-01T00:00:00+14:00", "0000-00-00T00:00:00Z"],
)
def test_a_device_time_that_is_no_utc_time_keeps_its_text_and_spares_the_other_messages(
    utc_time: str,
) -> None:
    body = reply(
        message(
            "tns1:Device/Trigger/DigitalInput", {"InputToken": "DI1"}, {"LogicalState": "true"}, time=utc_time
        ),
        message("tns1:Device/Trigger/DigitalInput", {"InputToken": "DI2"}, {"LogicalState": "true"}),
    )
    odd, good = parse_pull_messages("dev", body)[0]
    assert (odd.utc_time, odd.bad_time) == (None, utc_time)
    assert good.utc_time == datetime(2026, 1, 5, 10, 0, 6, tzinfo=UTC)
    assert good.bad_time is None
