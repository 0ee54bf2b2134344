"""What a simulated ONVIF device remembers: clock, recordings with gaps, searches, pull-point subscriptions."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timedelta, timezone

import attrs

from watchkeeper.simulation.faults import FaultProfile
from watchkeeper.core.models import DeviceEventKind

from . import simreplies

DEFAULT_RETENTION_DAYS = 30.0
#: Results per GetRecordingSearchResults / GetEventSearchResults page, small so clients must page.
RECORDING_PAGE = 1
EVENT_PAGE = 4
SUBSCRIPTION_SECONDS = 60.0
#: What a recorder with the epoch quirk reports as its earliest recording.
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

#: Event kinds → (topic, source item, data item) as ONVIF devices publish them.
EVENT_TOPICS: dict[DeviceEventKind, tuple[str, str, str]] = {
    DeviceEventKind.VIDEO_LOSS: ("tns1:VideoSource/SignalLoss", "VideoSourceToken", "State"),
    DeviceEventKind.SCENE_CHANGE: ("tns1:VideoSource/GlobalSceneChange/ImagingService", "Source", "State"),
    DeviceEventKind.TAMPER: ("tns1:RuleEngine/TamperDetector/Tamper", "VideoSourceConfigurationToken", "IsTamper"),
    DeviceEventKind.DISK_ERROR: ("tns1:Device/HardwareFailure/StorageFailure", "Token", "Failed"),
    DeviceEventKind.MOTION: ("tns1:RuleEngine/CellMotionDetector/Motion", "VideoSourceConfigurationToken", "IsMotion"),
}
#: The processor load the simulated device reports, in percent.
PROCESSOR_USAGE = "12"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def merged(device: FaultProfile, channel: FaultProfile | None) -> FaultProfile:
    """A channel sees the device's faults plus its own (gaps add up, the shorter retention wins)."""
    if channel is None:
        return device
    retention = [r for r in (device.retention_days, channel.retention_days) if r is not None]
    return attrs.evolve(channel, gaps=device.gaps + channel.gaps, image=device.image | channel.image,
                        retention_days=min(retention) if retention else None,
                        disk_error=device.disk_error or channel.disk_error,
                        epoch_earliest=device.epoch_earliest or channel.epoch_earliest,
                        picture=channel.picture or device.picture)


def segments(earliest: datetime, latest: datetime, gaps: tuple[tuple[datetime, datetime], ...]
             ) -> list[tuple[datetime, datetime]]:
    """[earliest, latest] with the gaps cut out."""
    pieces = [(earliest, latest)]
    for gap_start, gap_end in sorted(gaps):
        gap_start, gap_end = gap_start.astimezone(timezone.utc), gap_end.astimezone(timezone.utc)
        cut = []
        for start, end in pieces:
            if gap_end <= start or gap_start >= end:
                cut.append((start, end))
                continue
            if start < gap_start:
                cut.append((start, gap_start))
            if gap_end < end:
                cut.append((gap_end, end))
        pieces = cut
    return pieces


@attrs.define
class Search:
    results: list[str]
    cursor: int = 0


@attrs.define
class Subscription:
    #: Real (host) UTC time the subscription ends unless renewed; the device ends it then, as devices do.
    until: datetime
    queue: list[str] = attrs.field(factory=list)
    wake: asyncio.Event = attrs.field(factory=asyncio.Event)
    renewals: int = 0


@attrs.define
class DeviceState:
    """The per-device model the SOAP handlers read and change."""

    channels: int
    faults: dict[int | None, FaultProfile] = attrs.field(factory=lambda: {None: FaultProfile()})
    #: Seconds the clock was moved by SetSystemDateAndTime, on top of any clock_offset fault.
    clock_adjust: float = 0.0
    time_zone: str = "CST-8"
    ntp_enabled: bool = False
    ntp_servers: list[str] = attrs.field(factory=list)
    started: datetime = attrs.field(factory=utcnow)
    searches: dict[str, Search] = attrs.field(factory=dict)
    subscriptions: dict[str, Subscription] = attrs.field(factory=dict)
    boots: int = 1
    booted_at: datetime = attrs.field(factory=utcnow)
    _ids: itertools.count = attrs.field(factory=lambda: itertools.count(1))

    @property
    def device_faults(self) -> FaultProfile:
        return self.faults[None]

    def now(self) -> datetime:
        return utcnow() + timedelta(seconds=self.device_faults.clock_offset + self.clock_adjust)

    def channel_faults(self, channel: int) -> FaultProfile:
        return merged(self.device_faults, self.faults.get(channel))

    def set_clock(self, when: datetime) -> None:
        self.clock_adjust = (when - utcnow()).total_seconds() - self.device_faults.clock_offset

    def reported_time_zone(self) -> str:
        return self.device_faults.time_zone or self.time_zone

    # --- recordings ---------------------------------------------------------------------------

    def recorded(self, channel: int) -> list[tuple[datetime, datetime]]:
        faults = self.channel_faults(channel)
        now = utcnow()
        days = faults.retention_days if faults.retention_days is not None else DEFAULT_RETENTION_DAYS
        return segments(now - timedelta(days=days), now, faults.gaps)

    def recording_information(self, channel: int) -> str:
        pieces = self.recorded(channel)
        earliest, latest = (pieces[0][0], pieces[-1][1]) if pieces else (utcnow(), utcnow())
        if self.channel_faults(channel).epoch_earliest:
            earliest = EPOCH
        return simreplies.recording_information(channel, earliest, latest, bool(pieces))

    def recording_events(self, channel: int, start: datetime, end: datetime, start_state: bool) -> list[str]:
        """IsDataPresent transitions in [start, end], the state at `start` first when asked for."""
        pieces = self.recorded(channel)
        results = []
        if start_state:
            present = any(s <= start < e for s, e in pieces)
            results.append((start, present, True))
        for piece_start, piece_end in pieces:
            if start < piece_start <= end:
                results.append((piece_start, True, False))
            if start < piece_end <= end and piece_end < utcnow() - timedelta(seconds=1):
                results.append((piece_end, False, False))
        results.sort(key=lambda item: item[0])
        return [simreplies.recording_event(channel, when, present, state) for when, present, state in results]

    def start_search(self, results: list[str]) -> str:
        token = f"SearchToken_{next(self._ids)}"
        self.searches[token] = Search(results)
        if len(self.searches) > 200:
            self.searches.pop(next(iter(self.searches)))
        return token

    def page(self, token: str, limit: int) -> tuple[str, list[str]] | None:
        search = self.searches.get(token)
        if search is None:
            return None
        chunk = search.results[search.cursor: search.cursor + limit]
        search.cursor += len(chunk)
        if search.cursor >= len(search.results):
            self.searches.pop(token, None)
            return "Completed", chunk
        return "Searching", chunk

    # --- events -------------------------------------------------------------------------------

    def subscribe(self, until: datetime) -> str:
        """A new pull point starts with the device's properties as they stand ("Initialized"), as devices do."""
        self.expire_subscriptions()
        key = f"{self.boots}_{next(self._ids)}"
        now = self.now()
        booted = self.booted_at + (now - utcnow())  # on the device's clock
        self.subscriptions[key] = Subscription(until=until, queue=[
            simreplies.notification("tns1:Monitoring/OperatingTime/LastReboot", now, None,
                                    ("Status", simreplies.xml_time(booted)), "Initialized"),
            simreplies.notification("tns1:Monitoring/ProcessorUsage", now, ("Token", "Processor_Usage"),
                                    ("Value", PROCESSOR_USAGE), "Initialized"),
        ])
        return key

    def expire_subscriptions(self) -> None:
        """A subscription nobody renewed is gone at its termination time, whether or not anyone asks."""
        now = utcnow()
        for key in [key for key, subscription in self.subscriptions.items() if subscription.until < now]:
            del self.subscriptions[key]

    def live_subscription(self, key: str) -> Subscription | None:
        self.expire_subscriptions()
        return self.subscriptions.get(key)

    def publish(self, kind: DeviceEventKind, channel: int, active: bool = True) -> None:
        topic, source_name, data_name = EVENT_TOPICS[kind]
        source = {"VideoSourceToken": f"VideoSource_{channel}", "Source": f"VideoSourceConfig_{channel}",
                  "VideoSourceConfigurationToken": f"VideoSourceConfig_{channel}", "Token": f"Storage_{channel}"}
        message = simreplies.notification(topic, self.now(), (source_name, source[source_name]),
                                          (data_name, str(active).lower()))
        self.expire_subscriptions()
        for subscription in self.subscriptions.values():
            subscription.queue.append(message)
            del subscription.queue[:-500]
            subscription.wake.set()

    def reboot(self) -> None:
        """A reboot forgets every subscription and search, as real devices do."""
        self.boots += 1
        self.booted_at = utcnow()
        self.subscriptions.clear()
        self.searches.clear()
