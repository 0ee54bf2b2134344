"""The key=value and event-stream parsers refuse what is not Dahua CGI, with PROTOCOL_ERROR."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchkeeper.devices.drivers import DeviceError
from watchkeeper.core.findings import FindingKind
from watchkeeper.core.models import DeviceEventKind
from watchkeeper.plugins.dahua import cgi
from watchkeeper.plugins.dahua.events import PartReader, encode_part, event_body, parse_event


def test_key_value_reply_with_arrays() -> None:
    reply = cgi.parse_kv(b"found=1\r\nitems[0].Events[0]=VideoMotion\r\nitems[0].Summary.X=\r\n", "t")
    assert reply == {"found": "1", "items[0].Events[0]": "VideoMotion", "items[0].Summary.X": ""}


@pytest.mark.parametrize("body", [
    b"<html><body>Login</body></html>",
    b'<?xml version="1.0"?><deviceInfo/>',
    b"Error\r\nBad Request!\r\n",
    b"found=1\r\nthis line has no equals sign\r\n",
    b"=value\r\n",
    b"key=\xff\xfe\r\n",
])
def test_malformed_replies_are_protocol_errors(body: bytes) -> None:
    with pytest.raises(DeviceError) as caught:
        cgi.parse_kv(body, "test")
    assert caught.value.kind is FindingKind.PROTOCOL_ERROR


def test_log_detail_continuation_lines_stay_with_their_item() -> None:
    reply = cgi.parse_kv("found=1\r\nitems[0].Detail=Event Type:IPC Offline\r\nChannel:10\r\n", "log", continuation=True)
    assert reply["items[0].Detail"] == "Event Type:IPC Offline\nChannel:10"


@given(st.binary(max_size=300))
@settings(max_examples=200, deadline=None)
def test_arbitrary_bytes_parse_or_fail_cleanly(body: bytes) -> None:
    try:
        cgi.parse_kv(body, "fuzz")
    except DeviceError as error:
        assert error.kind is FindingKind.PROTOCOL_ERROR


def test_time_zone_table_and_local_times() -> None:
    assert cgi.zone_name(cgi.BEIJING) == "UTC+08:00"
    assert cgi.zone_index(timedelta(hours=-5)) == 25 and cgi.zone_index(timedelta(hours=5, minutes=45)) == 9
    when = cgi.parse_device_time("2020-01-06 06:05:00", cgi.zone(cgi.BEIJING), "t")
    assert when.tzinfo is timezone.utc and when.hour == 22 and when.day == 5


def test_event_parts_split_across_reads_are_reassembled() -> None:
    stream = encode_part(event_body("VideoLoss", "Start", 2)) + encode_part("Heartbeat") + encode_part(
        event_body("StorageLowSpace", "Stop", 0, {"UTC": 1578290700}))
    reader, bodies = PartReader(), []
    for i in range(0, len(stream), 7):
        bodies += reader.feed(stream[i:i + 7])
    events = [parse_event(body) for body in bodies]
    assert events[1] is None  # heartbeat
    assert events[0].kind is DeviceEventKind.VIDEO_LOSS and events[0].channel == 3 and events[0].active
    assert events[2].kind is DeviceEventKind.DISK_FULL and not events[2].active
    assert events[2].time.timestamp() == 1578290700


@pytest.mark.parametrize("stream", [
    b"--myboundary\r\nContent-Type: text/plain\r\nContent-Length: x\r\n\r\n",
    b"--myboundary\r\nContent-Type: text/plain\r\n\r\nCode=VideoLoss\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nGarbage: yes\r\n\r\n",
    b"--myboundary\r\nContent-Length: 999999\r\n\r\n",
    b"A" * 70_000,
])
def test_broken_event_framing_is_protocol_error(stream: bytes) -> None:
    with pytest.raises(DeviceError) as caught:
        PartReader().feed(stream)
    assert caught.value.kind is FindingKind.PROTOCOL_ERROR


def test_event_without_code_is_protocol_error() -> None:
    with pytest.raises(DeviceError):
        parse_event("action=Start;index=0")
