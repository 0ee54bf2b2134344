"""PullPoint events: subscribe, pull, renew through the subscription manager, and subscribe again when lost."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import attrs

from watchkeeper.devices.drivers import CapabilityMissing, with_timeout
from watchkeeper.core.i18n import N_
from watchkeeper.devices.safeparse import protocol_error
from watchkeeper.core.findings import FindingKind
from watchkeeper.core.models import Capability, DeviceEvent, DeviceEventKind

from . import transport as soap
from .driver import rewrite_host

if TYPE_CHECKING:
    from .driver import OnvifCamera

log = logging.getLogger(__name__)

#: Topic path (namespace prefixes dropped from every step) → event kind; the first entry that is the
#: topic or a parent of it wins. Topic and item names as ONVIF devices send them: the ONVIF core and
#: analytics topic sets, Hikvision's tnshik: extensions (fixtures/exonvif_get_event_properties.xml), and
#: the TP-Link Tapo tamper topic Home Assistant's onvif parsers meet.
TOPICS: tuple[tuple[str, DeviceEventKind], ...] = (
    ("VideoSource/SignalLoss", DeviceEventKind.VIDEO_LOSS),
    ("VideoSource/GlobalSceneChange", DeviceEventKind.SCENE_CHANGE),  # /ImagingService, /AnalyticsService, ...
    ("VideoSource/MotionAlarm", DeviceEventKind.MOTION),
    ("RuleEngine/CellMotionDetector/Motion", DeviceEventKind.MOTION),
    ("RuleEngine/MotionRegionDetector/Motion", DeviceEventKind.MOTION),
    ("RuleEngine/TamperDetector/Tamper", DeviceEventKind.TAMPER),
    ("RuleEngine/CellMotionDetector/Tamper", DeviceEventKind.TAMPER),
    ("Device/HardwareFailure/StorageFailure", DeviceEventKind.DISK_ERROR),
    ("Device/HardwareFailure/HardDiskError", DeviceEventKind.DISK_ERROR),
    ("Device/HardwareFailure/HardDiskFull", DeviceEventKind.DISK_FULL),
    ("Device/HardwareFailure", DeviceEventKind.HARDWARE_FAILURE),  # FanFailure, PowerSupplyFailure, TemperatureCritical
    ("RecordingConfig/JobState", DeviceEventKind.RECORDING_FAILURE),
    ("UserAlarm/IllegalAccess", DeviceEventKind.ILLEGAL_ACCESS),
    ("Monitoring/ProcessorUsage", DeviceEventKind.PROCESSOR_USAGE),
    ("Monitoring/OperatingTime/LastReboot", DeviceEventKind.REBOOT),
    ("Monitoring", DeviceEventKind.OTHER),  # LastReset, LastClockSynchronization, Backup/Last
    ("Device/Trigger", DeviceEventKind.OTHER),  # Relay, DigitalInput
)
#: Data items whose value is the event's state, and the values devices use for on and off.
STATE_ITEMS = ("State", "IsMotion", "IsTamper", "Failed", "Critical", "LogicalState", "IsInside")
ON, OFF = {"true", "1", "active", "on"}, {"false", "0", "inactive", "off"}
#: A recording job's State: only Error is a failure (Idle, Active and PartiallyActive are the job's work).
JOB_FAILED = "error"
#: Data items carrying a Monitoring topic's value: ProcessorUsage's Value, OperatingTime's Status time.
VALUE_ITEMS = ("Value", "Status")
#: Source items naming the video source (hence the channel) an event is about; a disk or a relay is not one.
CHANNEL_ITEMS = ("VideoSourceToken", "VideoSourceConfigurationToken", "Source", "VideoSource")
#: Seconds asked for at each subscribe or renew.
SUBSCRIPTION_SECONDS = 60.0
RETRY_SECONDS = 1.0


def topic_path(topic: str) -> str:
    """`tns1:Device/HardwareFailure/tnshik:HardDiskFull` → `Device/HardwareFailure/HardDiskFull`."""
    return "/".join(step.rpartition(":")[2].strip() for step in topic.strip().split("/"))


def kind_of(topic: str) -> DeviceEventKind | None:
    path = topic_path(topic)
    return next((kind for prefix, kind in TOPICS if path == prefix or path.startswith(prefix + "/")), None)


def _items(node: Any) -> dict[str, str]:
    return {str(item.Name): str(item.Value) for item in (getattr(node, "SimpleItem", None) or [])
            if getattr(item, "Name", None) is not None and getattr(item, "Value", None) is not None}


def _active(kind: DeviceEventKind, data: dict[str, str], operation: str) -> bool:
    if operation == "Deleted":  # the property is gone, and with it whatever it reported
        return False
    value = next((data[name].strip().lower() for name in STATE_ITEMS if name in data), None)
    if kind is DeviceEventKind.RECORDING_FAILURE:
        return value == JOB_FAILED
    if value in OFF:
        return False
    return True  # "true", or an event with no state at all (Hikvision's HardDiskFull): it happened


def _aware_utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def _parsed_time(text: str) -> datetime | None:
    try:
        return _aware_utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except ValueError:  # e.g. Hikvision's 0000-00-00T00:00:00Z
        return None


def to_event(message: Any) -> DeviceEvent | None:
    """One wsnt:NotificationMessage as a DeviceEvent, or None for topics watchkeeper does not know."""
    topic_node = getattr(message, "Topic", None)
    topic = str(getattr(topic_node, "_value_1", topic_node) or "")
    kind = kind_of(topic)
    if kind is None:
        return None
    body = getattr(getattr(message, "Message", None), "_value_1", None)
    source, data = _items(getattr(body, "Source", None)), _items(getattr(body, "Data", None))
    operation = str(getattr(body, "PropertyOperation", None) or "")
    value = next((data[name] for name in VALUE_ITEMS if name in data), "")
    when = _aware_utc(getattr(body, "UtcTime", None)) or datetime.now(timezone.utc)
    if kind is DeviceEventKind.REBOOT:  # LastReboot's Status is when it rebooted; UtcTime only when it said so
        when = _parsed_time(value) or when
    token = next((source[name] for name in CHANNEL_ITEMS if name in source), "")
    digits = "".join(ch for ch in token.rsplit("_", 1)[-1] if ch.isdigit()) if "_" in token else ""
    return DeviceEvent(kind=kind, time=when, channel=int(digits) if digits else None,
                       active=_active(kind, data, operation), raw=topic[:200], value=value[:64])


@attrs.define
class Subscription:
    """A pull point and its subscription manager (the same address, two WSDL port types)."""

    pullpoint: Any
    manager: Any
    #: Seconds asked for at each subscribe or renew.
    seconds: float
    #: time.monotonic() at which to renew.
    renew_at: float = 0.0
    #: This device misreads relative times: renew with absolute ones on its own clock.
    absolute: bool = False


def _granted(reply: Any) -> float | None:
    """Seconds the device granted (TerminationTime - CurrentTime, both on its clock), if it said."""
    current, until = getattr(reply, "CurrentTime", None), getattr(reply, "TerminationTime", None)
    if not isinstance(current, datetime) or not isinstance(until, datetime):
        return None
    current = current if current.tzinfo else current.replace(tzinfo=timezone.utc)
    until = until if until.tzinfo else until.replace(tzinfo=timezone.utc)
    return (until - current).total_seconds()


def _schedule(subscription: Subscription, reply: Any, sent: float) -> None:
    """Renew at 80 % of the granted time, less the second lost to second-resolution times."""
    granted = _granted(reply)
    if granted is None:
        granted = subscription.seconds
    subscription.renew_at = sent + max(0.5, 0.8 * (granted - 1.0))


def _termination(camera: OnvifCamera, subscription: Subscription) -> str:
    if not subscription.absolute:
        return f"PT{subscription.seconds:g}S"
    device_now = datetime.now(timezone.utc) + timedelta(seconds=camera.clock_offset + subscription.seconds)
    return device_now.strftime("%Y-%m-%dT%H:%M:%SZ")


async def _subscribe(camera: OnvifCamera, seconds: float) -> Subscription:
    events = await camera._proxy("events")
    sent = time.monotonic()
    reply = await events.CreatePullPointSubscription(InitialTerminationTime=f"PT{seconds:g}S")
    address = getattr(getattr(getattr(reply, "SubscriptionReference", None), "Address", None), "_value_1", None)
    if not address:
        raise protocol_error(N_("{what}: no subscription address in the reply", what="CreatePullPointSubscription"))
    address = rewrite_host(str(address), camera.endpoint.host, camera.endpoint.port)
    subscription = Subscription(pullpoint=await camera._proxy("pullpoint", xaddr=address),
                                manager=await camera._proxy("subscription", xaddr=address), seconds=seconds)
    granted = _granted(reply)
    if granted is not None and granted < seconds / 2:
        # Some devices take "PT60S" as a moment long past (onvif-zeep-async's has_broken_relative_time):
        # renew at once with an absolute time on the device's clock.
        subscription.absolute, subscription.renew_at = True, sent
    else:
        _schedule(subscription, reply, sent)
    return subscription


async def _renew(camera: OnvifCamera, subscription: Subscription) -> None:
    """wsnt:Renew through the subscription manager, as the ONVIF core spec and onvif-zeep-async do."""
    sent = time.monotonic()
    reply = await subscription.manager.Renew(TerminationTime=_termination(camera, subscription))
    _schedule(subscription, reply, sent)


async def _unsubscribe(subscription: Subscription, timeout: float) -> None:
    """A courtesy: devices have few pull points, and an abandoned one is held until it expires."""
    try:
        await with_timeout(subscription.manager.Unsubscribe(), timeout, "Unsubscribe")
    except Exception as error:
        soap.map_error(error, "Unsubscribe")  # a device that will not: it expires anyway; a bug: raised


async def pull_events(camera: OnvifCamera, subscription_seconds: float = SUBSCRIPTION_SECONDS
                      ) -> AsyncIterator[DeviceEvent]:
    """Yield events forever, renewing the subscription before it ends; a lost one (reboot, expiry, drop)
    is replaced, never fatal. A programming error is not a lost subscription: it is raised."""
    timeout = camera.endpoint.timeout
    pull_wait = max(1, int(min(timeout / 2, 5.0)))
    subscription: Subscription | None = None
    try:
        while True:
            try:
                if subscription is None:
                    await with_timeout(camera._connect(), timeout, "connect")
                    camera._require(Capability.EVENTS)  # GetServices may have shown there is no event service
                    subscription = await with_timeout(_subscribe(camera, subscription_seconds), timeout,
                                                      "CreatePullPointSubscription")
                if time.monotonic() >= subscription.renew_at - 1.0:
                    await with_timeout(_renew(camera, subscription), timeout, "Renew")
                # Whole seconds (some devices refuse fractions), and back before the renewal is due.
                wait = max(1, min(pull_wait, int(subscription.renew_at - time.monotonic())))
                reply = await with_timeout(subscription.pullpoint.PullMessages(Timeout=f"PT{wait}S", MessageLimit=50),
                                           timeout + wait, "PullMessages")
                for message in getattr(reply, "NotificationMessage", None) or []:
                    event = to_event(message)
                    if event is not None:
                        yield event
            except (asyncio.CancelledError, CapabilityMissing):
                raise
            except Exception as error:
                failure = soap.map_error(error, "events")
                log.info("%s: event subscription lost (%s); subscribing again",
                         camera.endpoint.label(), failure.reason)
                subscription = None
                if failure.kind is FindingKind.AUTH_FAILED:
                    raise failure from None
                await asyncio.sleep(RETRY_SECONDS)
    finally:
        if subscription is not None:
            await _unsubscribe(subscription, min(timeout, 2.0))
