"""The SOAP operations of the simulated ONVIF device: device, media, search, replay and pull-point events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import Element

import isodate

from . import simreplies as replies
from .simstate import EPOCH, EVENT_PAGE, RECORDING_PAGE, SUBSCRIPTION_SECONDS
from .soap import NAMESPACES, fault, find, find_all, find_text, parse_xml_time

if TYPE_CHECKING:
    from .simulator import OnvifSimDevice

MANUFACTURER, MODEL, FIRMWARE = "Watchkeeper Sim", "WK-ONVIF-NVR", "2.42.0-sim"
#: The longest a PullMessages call is held open, whatever Timeout the client asks for.
MAX_PULL_WAIT = 10.0
#: The longest subscription the device grants, however long a client asks for (devices cap it too).
MAX_SUBSCRIPTION_SECONDS = 3600.0


class SoapFault(Exception):
    def __init__(self, code: str, subcode: str, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.body, self.status = fault(code, subcode, reason), status


# --- operations ---------------------------------------------------------------------------

Handler = Callable[["OnvifSimDevice", Element], Any]
OPERATIONS: dict[tuple[str, str], Handler] = {}


def operation(prefix: str, name: str) -> Callable[[Handler], Handler]:
    def decorate(function: Handler) -> Handler:
        OPERATIONS[(NAMESPACES[prefix], name)] = function
        return function
    return decorate


def _channel_of(device: OnvifSimDevice, token: str) -> int:
    digits = "".join(ch for ch in token.split("_")[1] if ch.isdigit()) if "_" in token else ""
    channel = int(digits) if digits else 0
    if not 1 <= channel <= device.state.channels:
        raise SoapFault("Sender", "ter:InvalidArgVal", f"no such token {token!r}")
    return channel


def _duration(text: str, default: float) -> float:
    try:
        return isodate.parse_duration(text).total_seconds() if text else default
    except (isodate.ISO8601Error, ValueError, AttributeError):
        raise SoapFault("Sender", "ter:InvalidArgVal", f"bad duration {text!r}") from None


@operation("tds", "GetSystemDateAndTime")
def _get_date_time(device: OnvifSimDevice, _: Element) -> str:
    state = device.state
    return replies.date_time(state.now(), state.reported_time_zone(), state.ntp_enabled)


@operation("tds", "SetSystemDateAndTime")
def _set_date_time(device: OnvifSimDevice, request: Element) -> str:
    state = device.state
    state.ntp_enabled = find_text(request, "DateTimeType") == "NTP"
    tz = find_text(request, "TimeZone", "TZ")
    if tz:
        state.time_zone = tz
    utc = find(request, "UTCDateTime")
    if utc is not None and not state.ntp_enabled:
        parts = [int(find_text(utc, *path) or 0) for path in (("Date", "Year"), ("Date", "Month"), ("Date", "Day"),
                                                               ("Time", "Hour"), ("Time", "Minute"), ("Time", "Second"))]
        year, month, day, hour, minute, second = parts
        state.set_clock(datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc))
    return "<tds:SetSystemDateAndTimeResponse/>"


@operation("tds", "GetNTP")
def _get_ntp(device: OnvifSimDevice, _: Element) -> str:
    return replies.ntp(device.state.ntp_servers)


@operation("tds", "SetNTP")
def _set_ntp(device: OnvifSimDevice, request: Element) -> str:
    servers = [find_text(item, "DNSname") or find_text(item, "IPv4Address") for item in find_all(request, "NTPManual")]
    device.state.ntp_servers = [s for s in servers if s]
    device.state.ntp_enabled = bool(device.state.ntp_servers)
    return "<tds:SetNTPResponse/>"


OPERATIONS[(NAMESPACES["tds"], "GetDeviceInformation")] = lambda device, _: replies.device_information(
    MANUFACTURER, MODEL, FIRMWARE, f"WK{device.endpoint.port:05d}{device.index:04d}")


@operation("tds", "GetServices")
def _get_services(device: OnvifSimDevice, _: Element) -> str:
    if not device.get_services:
        raise SoapFault("Receiver", "ter:ActionNotSupported", "GetServices is not supported", 500)
    return replies.services(device.base_url, device.missing_services)


OPERATIONS[(NAMESPACES["tds"], "GetCapabilities")] = lambda device, _: replies.capabilities(
    device.base_url, device.missing_services)
OPERATIONS[(NAMESPACES["tds"], "GetScopes")] = lambda device, _: replies.scopes(f"wk-sim-{device.index}", MODEL)
OPERATIONS[(NAMESPACES["tds"], "GetHostname")] = lambda device, _: replies.hostname(f"wk-sim-{device.index}")
OPERATIONS[(NAMESPACES["trt"], "GetProfiles")] = lambda device, _: replies.profiles(device.state.channels)
OPERATIONS[(NAMESPACES["trt"], "GetVideoSources")] = lambda device, _: replies.video_sources(device.state.channels)
OPERATIONS[(NAMESPACES["trt"], "GetServiceCapabilities")] = lambda device, _: replies.service_capabilities(
    "trt", 'SnapshotUri="true" Rotation="false" VideoSourceMode="false" OSD="false"')
OPERATIONS[(NAMESPACES["tse"], "GetServiceCapabilities")] = lambda device, _: replies.service_capabilities(
    "tse", 'MetadataSearch="false" GeneralStartEvents="false"')
OPERATIONS[(NAMESPACES["trp"], "GetServiceCapabilities")] = lambda device, _: replies.service_capabilities(
    "trp", 'ReversePlayback="false" RTP_RTSP_TCP="true"')
OPERATIONS[(NAMESPACES["tev"], "GetServiceCapabilities")] = lambda device, _: replies.service_capabilities(
    "tev", 'WSSubscriptionPolicySupport="false" WSPullPointSupport="true" '
    'WSPausableSubscriptionManagerInterfaceSupport="false" MaxNotificationProducers="0" MaxPullPoints="10"')


@operation("trt", "GetSnapshotUri")
def _snapshot_uri(device: OnvifSimDevice, request: Element) -> str:
    channel = _channel_of(device, find_text(request, "ProfileToken"))
    return replies.media_uri("GetSnapshotUri", f"{device.base_url}/onvif/snapshot/{channel}.jpg")


@operation("trt", "GetStreamUri")
def _stream_uri(device: OnvifSimDevice, request: Element) -> str:
    token = find_text(request, "ProfileToken")
    channel = _channel_of(device, token)
    stream = "sub" if token.endswith("_sub") else "main"
    uri = f"rtsp://{device.advertise_host}:{device.rtsp_port}/wk{device.index}/ch{channel}/{stream}"
    return replies.media_uri("GetStreamUri", uri)


@operation("tse", "GetRecordingSummary")
def _recording_summary(device: OnvifSimDevice, _: Element) -> str:
    pieces = [p for ch in range(1, device.state.channels + 1) for p in device.state.recorded(ch)]
    start = min((p[0] for p in pieces), default=device.state.started)
    until = max((p[1] for p in pieces), default=device.state.started)
    if device.state.device_faults.epoch_earliest:
        start = EPOCH
    return replies.recording_summary(start, until, device.state.channels)


def _scoped_channels(device: OnvifSimDevice, request: Element) -> list[int]:
    scope = find(request, "Scope")
    recordings = [find_text(t) or (t.text or "").strip() for t in find_all(scope, "IncludedRecordings")]
    sources = [find_text(s, "Token") for s in find_all(scope, "IncludedSources")]
    if not recordings and not sources:
        return list(range(1, device.state.channels + 1))
    return sorted({_channel_of(device, token) for token in recordings + sources if token})


@operation("tse", "FindRecordings")
def _find_recordings(device: OnvifSimDevice, request: Element) -> str:
    results = [device.state.recording_information(ch) for ch in _scoped_channels(device, request)]
    token = device.state.start_search(results)
    return f"<tse:FindRecordingsResponse><tse:SearchToken>{token}</tse:SearchToken></tse:FindRecordingsResponse>"


@operation("tse", "FindEvents")
def _find_events(device: OnvifSimDevice, request: Element) -> str:
    try:
        start = parse_xml_time(find_text(request, "StartPoint"))
        end_text = find_text(request, "EndPoint")
        end = parse_xml_time(end_text) if end_text else device.state.now()
    except ValueError:
        raise SoapFault("Sender", "ter:InvalidArgVal", "bad StartPoint/EndPoint") from None
    start_state = find_text(request, "IncludeStartState").lower() == "true"
    results = [event for ch in _scoped_channels(device, request)
               for event in device.state.recording_events(ch, start, end, start_state)]
    token = device.state.start_search(results)
    return f"<tse:FindEventsResponse><tse:SearchToken>{token}</tse:SearchToken></tse:FindEventsResponse>"


def _search_page(device: OnvifSimDevice, request: Element, element: str, page: int) -> str:
    limit = min(int(find_text(request, "MaxResults") or page), page)
    found = device.state.page(find_text(request, "SearchToken"), max(limit, 1))
    if found is None:
        raise SoapFault("Sender", "ter:InvalidArgVal", "unknown search token")
    state, results = found
    return replies.search_results(element, state, results)


OPERATIONS[(NAMESPACES["tse"], "GetRecordingSearchResults")] = lambda device, request: _search_page(
    device, request, "GetRecordingSearchResults", RECORDING_PAGE)
OPERATIONS[(NAMESPACES["tse"], "GetEventSearchResults")] = lambda device, request: _search_page(
    device, request, "GetEventSearchResults", EVENT_PAGE)


@operation("tse", "EndSearch")
def _end_search(device: OnvifSimDevice, request: Element) -> str:
    device.state.searches.pop(find_text(request, "SearchToken"), None)
    return f"<tse:EndSearchResponse><tse:Endpoint>{replies.xml_time(device.state.now())}</tse:Endpoint></tse:EndSearchResponse>"


@operation("trp", "GetReplayUri")
def _replay_uri(device: OnvifSimDevice, request: Element) -> str:
    channel = _channel_of(device, find_text(request, "RecordingToken"))
    uri = f"rtsp://{device.advertise_host}:{device.rtsp_port}/wk{device.index}/replay/Recording_{channel}"
    return f"<trp:GetReplayUriResponse><trp:Uri>{uri}</trp:Uri></trp:GetReplayUriResponse>"


def _termination(device: OnvifSimDevice, text: str) -> datetime:
    """wsnt:AbsoluteOrRelativeTimeType: a duration from now or a time on the device's clock; as host UTC."""
    text = text.strip()
    if not text or text.startswith(("P", "-P")):
        seconds = _duration(text, SUBSCRIPTION_SECONDS)
        if seconds <= 0:
            raise SoapFault("Sender", "wsntw:UnacceptableInitialTerminationTimeFault", "termination in the past")
        return datetime.now(timezone.utc) + timedelta(seconds=min(seconds, MAX_SUBSCRIPTION_SECONDS))
    try:
        on_device = parse_xml_time(text)
    except ValueError:
        raise SoapFault("Sender", "ter:InvalidArgVal", f"bad termination time {text!r}") from None
    if on_device <= device.state.now():
        raise SoapFault("Sender", "wsntw:UnacceptableTerminationTimeFault", "termination in the past")
    # The device keeps its own (possibly wrong) clock; the subscription ends by that clock.
    return on_device - (device.state.now() - datetime.now(timezone.utc))


def _on_device_clock(device: OnvifSimDevice, until: datetime) -> datetime:
    return until + (device.state.now() - datetime.now(timezone.utc))


@operation("tev", "CreatePullPointSubscription")
def _create_pull_point(device: OnvifSimDevice, request: Element) -> str:
    key = device.state.subscribe(_termination(device, find_text(request, "InitialTerminationTime")))
    subscription = device.state.subscriptions[key]
    return replies.pull_point(f"{device.base_url}/onvif/Subscription?Idx={key}", device.state.now(),
                              _on_device_clock(device, subscription.until))


def _subscription(device: OnvifSimDevice, key: str) -> Any:
    subscription = device.state.live_subscription(key)
    if subscription is None:
        raise SoapFault("Receiver", "wsrf-rw:ResourceUnknownFault", "subscription does not exist", 500)
    return subscription


async def _pull_messages(device: OnvifSimDevice, request: Element, key: str) -> str:
    subscription = _subscription(device, key)
    wait = min(_duration(find_text(request, "Timeout"), 1.0), MAX_PULL_WAIT)
    limit = int(find_text(request, "MessageLimit") or 10)
    if not subscription.queue:
        subscription.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(subscription.wake.wait(), wait)
    subscription = _subscription(device, key)  # a reboot while waiting loses it
    messages, subscription.queue[:] = subscription.queue[:limit], subscription.queue[limit:]
    return replies.pull_messages(device.state.now(), _on_device_clock(device, subscription.until), messages)


def _renew(device: OnvifSimDevice, request: Element, key: str) -> str:
    subscription = _subscription(device, key)
    subscription.until = _termination(device, find_text(request, "TerminationTime"))
    subscription.renewals += 1
    return replies.renew(device.state.now(), _on_device_clock(device, subscription.until))


def _unsubscribe(device: OnvifSimDevice, _: Element, key: str) -> str:
    _subscription(device, key)
    device.state.subscriptions.pop(key, None)
    return "<wsnt:UnsubscribeResponse/>"


SUBSCRIPTION_OPERATIONS = {"PullMessages": _pull_messages, "Renew": _renew, "Unsubscribe": _unsubscribe}


