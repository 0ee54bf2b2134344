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
from watchkeeper.devices.safeparse import protocol_error
from watchkeeper.core.findings import FindingKind
from watchkeeper.core.models import Capability, DeviceEvent, DeviceEventKind

from . import transport as soap
from .driver import rewrite_host

if TYPE_CHECKING:
    from .driver import OnvifCamera

log = logging.getLogger(__name__)

#: Topic suffix → event kind; devices prefix topics with their own namespace prefixes.
TOPIC_KINDS: tuple[tuple[str, DeviceEventKind], ...] = (
    ("VideoSource/SignalLoss", DeviceEventKind.VIDEO_LOSS),
    ("VideoSource/GlobalSceneChange", DeviceEventKind.SCENE_CHANGE),
    ("TamperDetector/Tamper", DeviceEventKind.TAMPER),
    ("HardwareFailure/StorageFailure", DeviceEventKind.DISK_ERROR),
    ("Device/Trigger/Relay", DeviceEventKind.OTHER),
)
ACTIVE_ITEMS = {"State", "IsTamper", "Failed", "IsMotion", "LogicalState"}
#: Seconds a subscription is asked for; it is renewed before it ends.
SUBSCRIPTION_SECONDS = 60.0
RETRY_SECONDS = 1.0


def _items(node: Any) -> dict[str, str]:
    return {item.Name: str(item.Value) for item in (getattr(node, "SimpleItem", None) or [])}


def to_event(message: Any) -> DeviceEvent | None:
    """One wsnt:NotificationMessage as a DeviceEvent, or None for topics we do not act on."""
    topic = str(getattr(message.Topic, "_value_1", message.Topic) or "")
    kind = next((k for suffix, k in TOPIC_KINDS if topic.endswith(suffix) or suffix + "/" in topic), None)
    if kind is None:
        return None
    body = getattr(getattr(message, "Message", None), "_value_1", None)
    source, data = _items(getattr(body, "Source", None)), _items(getattr(body, "Data", None))
    when = getattr(body, "UtcTime", None) or datetime.now(timezone.utc)
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    active = next((value.lower() == "true" for name, value in data.items() if name in ACTIVE_ITEMS), True)
    token = next(iter(source.values()), "")
    digits = "".join(ch for ch in token.rsplit("_", 1)[-1] if ch.isdigit())
    return DeviceEvent(kind=kind, time=when, channel=int(digits) if digits else None, active=active,
                       raw=topic[:200])


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
        raise protocol_error("CreatePullPointSubscription: no subscription address in the reply")
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
