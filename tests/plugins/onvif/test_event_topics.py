"""ONVIF event topics as devices send them → DeviceEvents (issue 13, item 11).

Topic strings, item names and values are those of real devices: the Hikvision PullMessages capture
in gBillal/ex_onvif (test/fixtures/pull_messages.xml), TP-Link Tapo messages in Home Assistant's ONVIF
parser tests (home-assistant/core tests/components/onvif/test_parsers.py), an Axis device's
ProcessorUsage notification quoted in Axis Communications' ACAP example documentation, and the
Hikvision topic set in fixtures/exonvif_get_event_properties.xml. The messages below are written
from those facts, not copied.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from aiohttp import web

from watchkeeper.core.models import DeviceEventKind as K
from watchkeeper.core.models import Endpoint
from watchkeeper.devices.safeparse import local_name, parse_xml
from watchkeeper.plugins.onvif import transport
from watchkeeper.plugins.onvif.events import kind_of, to_event
from watchkeeper.plugins.onvif.soap import envelope

VSC = [("VideoSourceConfigurationToken", "VideoSourceToken"), ("VideoAnalyticsConfigurationToken", "VideoAnalyticsToken")]
TAPO = [("VideoSourceConfigurationToken", "vsconf"), ("VideoAnalyticsConfigurationToken", "VideoAnalyticsToken")]

#: (topic, source items, data items, property operation) → (kind, active, channel, value)
CASES = [
    ("tns1:VideoSource/SignalLoss", [("Source", "VideoSource_2")], [("State", "true")], "Changed",
     (K.VIDEO_LOSS, True, 2, "")),
    ("tns1:VideoSource/SignalLoss", [("Source", "VideoSource_2")], [("State", "false")], "Changed",
     (K.VIDEO_LOSS, False, 2, "")),
    ("tns1:VideoSource/MotionAlarm", [("Source", "VideoSource_1")], [("State", "false")], "Initialized",
     (K.MOTION, False, 1, "")),
    ("tns1:RuleEngine/CellMotionDetector/Motion", VSC + [("Rule", "MyMotionDetectorRule")], [("IsMotion", "true")],
     "Changed", (K.MOTION, True, None, "")),
    ("tns1:RuleEngine/MotionRegionDetector/Motion", VSC, [("State", "1")], "Changed", (K.MOTION, True, None, "")),
    ("tns1:RuleEngine/TamperDetector/Tamper", VSC + [("Rule", "MyTamperDetectorRule")], [("IsTamper", "false")],
     "Initialized", (K.TAMPER, False, None, "")),
    ("tns1:RuleEngine/CellMotionDetector/Tamper", TAPO + [("Rule", "MyTamperDetectorRule")], [("IsTamper", "true")],
     "Changed", (K.TAMPER, True, None, "")),
    ("tns1:VideoSource/GlobalSceneChange/ImagingService", [("Source", "VideoSource_1")], [("State", "true")],
     "Changed", (K.SCENE_CHANGE, True, 1, "")),
    ("tns1:Device/HardwareFailure/StorageFailure", [("Token", "")], [("Failed", "false")], "Initialized",
     (K.DISK_ERROR, False, None, "")),
    ("tns1:Device/HardwareFailure/StorageFailure", [("Token", "SD_1")], [("Failed", "true")], "Changed",
     (K.DISK_ERROR, True, None, "")),  # a disk is not a channel
    ("tns1:Device/HardwareFailure/tnshik:HardDiskFull", [("HardDiskNo", "1")], [], "Changed",
     (K.DISK_FULL, True, None, "")),
    ("tns1:Device/HardwareFailure/tnshik:HardDiskError", [("HardDiskNo", "2")], [], "Changed",
     (K.DISK_ERROR, True, None, "")),
    ("tns1:Device/HardwareFailure/FanFailure", [("Token", "Fan_1")], [("Failed", "true")], "Changed",
     (K.HARDWARE_FAILURE, True, None, "")),
    ("tns1:Device/HardwareFailure/TemperatureCritical", [("Token", "Sensor_1")], [("Critical", "false")], "Changed",
     (K.HARDWARE_FAILURE, False, None, "")),
    ("tns1:RecordingConfig/JobState", [("RecordingJobToken", "Job_1")], [("State", "Error")], "Changed",
     (K.RECORDING_FAILURE, True, None, "")),
    ("tns1:RecordingConfig/JobState", [("RecordingJobToken", "Job_1")], [("State", "Active")], "Changed",
     (K.RECORDING_FAILURE, False, None, "")),
    ("tns1:UserAlarm/tnshik:IllegalAccess", [], [], "Changed", (K.ILLEGAL_ACCESS, True, None, "")),
    ("tns1:Monitoring/ProcessorUsage", [("Token", "Processor_Usage")], [("Value", "37")], "Initialized",
     (K.PROCESSOR_USAGE, True, None, "37")),
    ("tns1:Monitoring/ProcessorUsage", [("Token", "0")], [("Value", "100.000000")], "Initialized",
     (K.PROCESSOR_USAGE, True, None, "100.000000")),
    ("tns1:Monitoring/OperatingTime/LastReboot", [], [("Status", "2025-04-17T15:31:49Z")], "Initialized",
     (K.REBOOT, True, None, "2025-04-17T15:31:49Z")),
    ("tns1:Monitoring/OperatingTime/LastClockSynchronization", [], [("Status", "2025-04-17T15:31:49Z")],
     "Initialized", (K.OTHER, True, None, "2025-04-17T15:31:49Z")),
    ("tns1:Device/Trigger/Relay", [("RelayToken", "Relay_1")], [("LogicalState", "inactive")], "Changed",
     (K.OTHER, False, None, "")),
    ("tns1:RuleEngine/FieldDetector/ObjectsInside", VSC, [("IsInside", "false")], "Initialized", None),
    ("tns1:Device/tnsaxis:Sensor/PIR", [("sensor", "0")], [("state", "1")], "Changed", None),
]
UTC_TIME = "2025-04-18T20:34:05Z"


def _message(topic: str, source: list, data: list, operation: str) -> str:
    items = lambda pairs: "".join(f'<tt:SimpleItem Name="{n}" Value="{v}"/>' for n, v in pairs)  # noqa: E731
    return (f'<wsnt:NotificationMessage><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/'
            f'ConcreteSet" xmlns:tnshik="http://www.hikvision.com/2011/event/topics" '
            f'xmlns:tnsaxis="http://www.axis.com/2009/event/topics">{topic}</wsnt:Topic><wsnt:Message>'
            f'<tt:Message UtcTime="{UTC_TIME}" PropertyOperation="{operation}">'
            + (f"<tt:Source>{items(source)}</tt:Source>" if source else "")
            + (f"<tt:Data>{items(data)}</tt:Data>" if data else "")
            + "</tt:Message></wsnt:Message></wsnt:NotificationMessage>")


@pytest.fixture
async def pulled() -> list:
    """Every case in one PullMessagesResponse, parsed by zeep exactly as the driver's pull point does."""
    body = envelope("<tev:PullMessagesResponse><tev:CurrentTime>2025-04-18T20:34:05Z</tev:CurrentTime>"
                    "<tev:TerminationTime>2025-04-18T20:44:10Z</tev:TerminationTime>"
                    + "".join(_message(*case[:4]) for case in CASES) + "</tev:PullMessagesResponse>")

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Type": "application/soap+xml; charset=utf-8"})

    app = web.Application()
    app.router.add_post("/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        http = transport.http_client(Endpoint("onvif", "127.0.0.1", port, "admin", "secret", timeout=5))
        try:
            proxy = await transport.service_proxy("pullpoint", f"http://127.0.0.1:{port}/onvif/Subscription",
                                                  transport.BoundedTransport(http), None)
            reply = await proxy.PullMessages(Timeout="PT1S", MessageLimit=100)
        finally:
            await http.aclose()
    finally:
        await runner.cleanup()
    return list(reply.NotificationMessage)


async def test_real_topics_map_to_event_kinds(pulled: list) -> None:
    assert len(pulled) == len(CASES)
    for message, (topic, _, _, _, expected) in zip(pulled, CASES):
        event = to_event(message)
        if expected is None:
            assert event is None, topic
            continue
        kind, active, channel, value = expected
        assert (event.kind, event.active, event.channel, event.value) == (kind, active, channel, value), topic
        assert event.raw == topic
        if kind is K.REBOOT:  # when it rebooted, not when it said so
            assert event.time == datetime(2025, 4, 17, 15, 31, 49, tzinfo=timezone.utc)
        else:
            assert event.time == datetime(2025, 4, 18, 20, 34, 5, tzinfo=timezone.utc)


def _topic_paths(node, prefix: str = "") -> list[str]:
    found = []
    for child in node:
        name = local_name(child.tag)
        if name in ("MessageDescription",) or child.tag.startswith("{http://www.onvif.org/ver10/schema}"):
            continue
        path = f"{prefix}/{name}" if prefix else name
        if child.get("{http://docs.oasis-open.org/wsn/t-1}topic") == "true":
            found.append(path)
        found += _topic_paths(child, path)
    return found


def test_every_fault_topic_a_real_hikvision_device_offers_is_understood() -> None:
    root = parse_xml((Path(__file__).parent / "fixtures" / "exonvif_get_event_properties.xml").read_bytes(), "fixture")
    topic_set = next(element for element in root.iter() if local_name(element.tag) == "TopicSet")
    kinds = {path: kind_of(path) for path in _topic_paths(topic_set)}
    assert kinds["VideoSource/MotionAlarm"] is K.MOTION
    assert kinds["RuleEngine/CellMotionDetector/Motion"] is K.MOTION
    assert kinds["RuleEngine/TamperDetector/Tamper"] is K.TAMPER
    assert kinds["Device/HardwareFailure/StorageFailure"] is K.DISK_ERROR
    assert kinds["Device/HardwareFailure/HardDiskError"] is K.DISK_ERROR
    assert kinds["Device/HardwareFailure/HardDiskFull"] is K.DISK_FULL
    assert kinds["UserAlarm/IllegalAccess"] is K.ILLEGAL_ACCESS
    assert kinds["Monitoring/ProcessorUsage"] is K.PROCESSOR_USAGE
    assert kinds["Monitoring/OperatingTime/LastReboot"] is K.REBOOT
    assert kinds["RecordingConfig/JobState"] is K.RECORDING_FAILURE
    # Configuration changes and analytics without a fault meaning are left alone, not guessed.
    assert kinds["Configuration/Profile"] is None and kinds["RuleEngine/LineDetector/Crossed"] is None
