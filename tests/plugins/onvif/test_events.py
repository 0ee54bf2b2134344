"""ONVIF pull-point events: one subscription held by renewing it through its subscription manager."""

from __future__ import annotations

import asyncio
import contextlib

import attrs
import pytest
import zeep.exceptions

from watchkeeper.core.models import DeviceEventKind
from watchkeeper.plugins.onvif.driver import OnvifCamera, rewrite_host
from watchkeeper.plugins.onvif.events import pull_events
from watchkeeper.plugins.onvif.simulator import simulate


@contextlib.asynccontextmanager
async def collecting(camera: OnvifCamera, stream):
    """The stream's events gathered into a list while the block runs; the stream and camera closed after."""
    received: list = []

    async def collect() -> None:
        async for event in stream:
            received.append(event)

    task = asyncio.create_task(collect())
    try:
        yield received
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await stream.aclose()
        await camera.close()


async def _until(condition, limit: float = 8.0) -> None:
    async with asyncio.timeout(limit):
        while not condition():
            await asyncio.sleep(0.05)


@pytest.mark.asyncio
async def test_simulator_ends_a_subscription_at_its_termination_time() -> None:
    async with simulate() as (device,):
        camera = OnvifCamera(device.endpoint)
        try:
            await camera._connect()
            reply = await (await camera._proxy("events")).CreatePullPointSubscription(InitialTerminationTime="PT1S")
            assert (reply.TerminationTime - reply.CurrentTime).total_seconds() == pytest.approx(1, abs=1)
            address = rewrite_host(reply.SubscriptionReference.Address._value_1, "127.0.0.1", device.endpoint.port)
            pullpoint = await camera._proxy("pullpoint", xaddr=address)
            await pullpoint.PullMessages(Timeout="PT0.1S", MessageLimit=5)
            await asyncio.sleep(1.6)
            with pytest.raises(zeep.exceptions.Fault):  # wsrf-rw:ResourceUnknownFault, as a device answers
                await pullpoint.PullMessages(Timeout="PT0.1S", MessageLimit=5)
            assert not device.state.subscriptions
        finally:
            await camera.close()


@pytest.mark.asyncio
async def test_one_subscription_is_held_across_several_renewal_periods() -> None:
    """Regression: the pull point client has no Renew, so every pass subscribed again (issue 13, item 3)."""
    period = 3.0
    async with simulate() as (device,):
        camera = OnvifCamera(attrs.evolve(device.endpoint, timeout=2.0))
        async with collecting(camera, pull_events(camera, subscription_seconds=period)) as received:
            await _until(lambda: bool(device.state.subscriptions))
            first = set(device.state.subscriptions)
            for round_ in range(1, 4):  # three termination periods and more
                await asyncio.sleep(period)
                await device.trigger_event(DeviceEventKind.TAMPER, 1)
                await _until(lambda: sum(e.kind is DeviceEventKind.TAMPER for e in received) == round_)
                assert set(device.state.subscriptions) == first, "the subscription was lost and made again"
            assert device.state.subscriptions[next(iter(first))].renewals >= 3
        assert not device.state.subscriptions, "a closed event stream unsubscribes (devices have few pull points)"


@pytest.mark.asyncio
async def test_a_programming_error_is_raised_not_taken_for_a_lost_subscription(monkeypatch) -> None:
    """The original bug (an AttributeError from a missing method) read as "subscription lost" forever."""
    from watchkeeper.plugins.onvif import events

    async def broken_renew(camera, subscription) -> None:
        subscription.pullpoint.Renew  # the pull point port type has no Renew: AttributeError

    monkeypatch.setattr(events, "_renew", broken_renew)
    async with simulate() as (device,):
        camera = OnvifCamera(attrs.evolve(device.endpoint, timeout=2.0))
        stream = pull_events(camera, subscription_seconds=2.0)
        try:
            with pytest.raises(AttributeError):
                async with asyncio.timeout(10):
                    async for _ in stream:
                        pass
        finally:
            await stream.aclose()
            await camera.close()
        assert not device.state.subscriptions  # even so, the pull point is handed back


@pytest.mark.asyncio
async def test_monitoring_and_motion_events_from_the_simulator() -> None:
    """A new pull point starts with the device's properties (LastReboot, ProcessorUsage), as devices send them."""
    async with simulate(channels=2) as (device,):
        camera = OnvifCamera(attrs.evolve(device.endpoint, timeout=2.0))
        async with collecting(camera, camera.events()) as received:
            await _until(lambda: {DeviceEventKind.REBOOT, DeviceEventKind.PROCESSOR_USAGE} <= {e.kind for e in received})
            first_boot = next(e for e in received if e.kind is DeviceEventKind.REBOOT).time
            await device.trigger_event(DeviceEventKind.MOTION, 2)
            await _until(lambda: any(e.kind is DeviceEventKind.MOTION for e in received))
            await asyncio.sleep(1.1)  # device times have whole seconds
            await device.trigger_event(DeviceEventKind.REBOOT, 1)
            await _until(lambda: sum(e.kind is DeviceEventKind.REBOOT for e in received) == 2)
    motion = next(e for e in received if e.kind is DeviceEventKind.MOTION)
    assert motion.channel == 2 and motion.active
    usage = next(e for e in received if e.kind is DeviceEventKind.PROCESSOR_USAGE)
    assert float(usage.value) >= 0
    second_boot = [e for e in received if e.kind is DeviceEventKind.REBOOT][-1].time
    assert second_boot > first_boot  # the reboot's own time, not when the message was sent
