"""PullPoint events: subscribe, pull, renew, and subscribe again when the device reboots or forgets us."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from watchkeeper.devices.drivers import with_timeout
from watchkeeper.core.findings import FindingKind
from watchkeeper.core.models import DeviceEvent, DeviceEventKind

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
SUBSCRIPTION = "PT60S"
RETRY_SECONDS = 1.0


def _items(node: Any) -> dict[str, str]:
    return {item.Name: str(item.Value) for item in (getattr(node, "SimpleItem", None) or [])}


def to_event(message: Any) -> DeviceEvent | None:
    """One wsnt:NotificationMessage as a DeviceEvent, or None for topics we do not act on."""
    topic = str(getattr(message.Topic, "_value_1", message.Topic) or "")
    kind = next((k for suffix, k in TOPIC_KINDS if topic.endswith(suffix) or suffix + "/" in topic), None)
    if kind is None:
        return None
    body = message.Message._value_1
    source, data = _items(getattr(body, "Source", None)), _items(getattr(body, "Data", None))
    when = getattr(body, "UtcTime", None) or datetime.now(timezone.utc)
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    active = next((value.lower() == "true" for name, value in data.items() if name in ACTIVE_ITEMS), True)
    token = next(iter(source.values()), "")
    digits = "".join(ch for ch in token.rsplit("_", 1)[-1] if ch.isdigit())
    return DeviceEvent(kind=kind, time=when, channel=int(digits) if digits else None, active=active,
                       raw=topic[:200])


async def _subscribe(camera: OnvifCamera) -> Any:
    events = await camera._proxy("events")
    reply = await events.CreatePullPointSubscription(InitialTerminationTime=SUBSCRIPTION)
    address = reply.SubscriptionReference.Address._value_1
    address = rewrite_host(address, camera.endpoint.host, camera.endpoint.port)
    return await camera._proxy("pullpoint", xaddr=address)


async def pull_events(camera: OnvifCamera) -> AsyncIterator[DeviceEvent]:
    """Yield events forever; a lost subscription (reboot, expiry, drop) is replaced, never fatal."""
    timeout = camera.endpoint.timeout
    pull_wait = max(min(timeout / 2, 5.0), 0.5)
    pullpoint: Any = None
    while True:
        try:
            if pullpoint is None:
                await with_timeout(camera._connect(), timeout, "connect")
                pullpoint = await with_timeout(_subscribe(camera), timeout, "CreatePullPointSubscription")
            reply = await with_timeout(
                pullpoint.PullMessages(Timeout=f"PT{pull_wait:g}S", MessageLimit=50),
                timeout + pull_wait, "PullMessages")
            for message in reply.NotificationMessage or []:
                event = to_event(message)
                if event is not None:
                    yield event
            await with_timeout(pullpoint.Renew(TerminationTime=SUBSCRIPTION), timeout, "Renew")
        except asyncio.CancelledError:
            raise
        except Exception as error:
            failure = soap.map_error(error, "events")
            log.info("%s: event subscription lost (%s); subscribing again", camera.endpoint.label(), failure.reason)
            pullpoint = None
            if failure.kind is FindingKind.AUTH_FAILED:
                raise failure from None
            await asyncio.sleep(RETRY_SECONDS)

