"""The driver protocols every vendor plugin implements, the Platform record, and DeviceError."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import attrs

from watchkeeper.core.findings import Finding, FindingKind
from watchkeeper.core.i18n import N_, _, localize
from watchkeeper.core.models import (
    AuditEntry,
    Capability,
    ClockReading,
    CredentialRead,
    DeviceEvent,
    DeviceInfo,
    Disk,
    DoorStatus,
    Endpoint,
    RecordingSegment,
)

T = TypeVar("T")

#: Exceptions that mean watchkeeper's code (or a library's) is wrong, never that a device misbehaved. An
#: error mapper lets them through instead of turning them into a DeviceError, which would blame the device
#: and have the caller retry forever; code that reads a device's reply checks what it reads instead.
PROGRAMMING_ERRORS: tuple[type[Exception], ...] = (
    AttributeError, TypeError, NameError, AssertionError, ImportError, NotImplementedError, RecursionError,
)

#: The finding kinds a failed device call can turn into.
DEVICE_FAILURE_KINDS = frozenset(
    {FindingKind.UNREACHABLE, FindingKind.AUTH_FAILED, FindingKind.PROTOCOL_ERROR}
)


class DeviceError(Exception):
    """A device call failed in a way that becomes a finding; drivers raise only this. The reason is an
    `N_("{what}: ...", what=..., ...)` message, values as parameters, so each reader gets it in their
    language; `what`, the call, is a protocol name (`GetSystemDateAndTime`, `magicBox.cgi`) or an N_ label."""

    def __init__(self, kind: FindingKind, reason: str) -> None:
        super().__init__(reason)
        self.kind = FindingKind(kind)
        self.reason = reason

    def finding(self, subject: str, channel: int | None = None) -> Finding:
        return Finding(kind=self.kind, subject=subject, reason=self.reason, channel=channel)


class CapabilityMissing(Exception):
    """Raised when a rule asks a driver for something it declared it cannot do."""


@runtime_checkable
class CameraDriver(Protocol):
    """A camera, or a recorder (NVR) with many channels. Every call honours endpoint.timeout.

    `capabilities` may depend on the device; such a driver also has ``async connect()``, after which
    `capabilities` is the device's answer (callers use `known_capabilities`).
    """

    endpoint: Endpoint
    capabilities: frozenset[Capability]

    async def device_info(self) -> DeviceInfo:
        """Manufacturer, model, serial, firmware and channel count."""

    async def get_clock(self) -> ClockReading:
        """The device's time, its time zone as the device reports it, and NTP settings."""

    async def set_clock(self, when: datetime) -> None:
        """Set the device clock (Capability.SET_CLOCK)."""

    async def set_ntp(self, servers: list[str]) -> None:
        """Enable NTP with these servers (Capability.NTP)."""

    async def snapshot(self, channel: int) -> bytes:
        """A JPEG of the channel's live image (Capability.SNAPSHOT)."""

    async def stream_uri(self, channel: int, substream: bool = False) -> str:
        """RTSP URI of the live stream, without credentials (Capability.STREAM)."""

    async def playback_uri(self, channel: int, start: datetime, end: datetime) -> str:
        """RTSP URI that replays a recorded interval, without credentials (Capability.PLAYBACK)."""

    async def recordings(
        self, channel: int, start: datetime, end: datetime
    ) -> list[RecordingSegment]:
        """Recorded segments overlapping [start, end), all pages (Capability.RECORDINGS)."""

    async def storage(self) -> list[Disk]:
        """Disks with status, capacity and free space (Capability.STORAGE)."""

    def events(self) -> AsyncIterator[DeviceEvent]:
        """Device events as they happen, resubscribing after drops (Capability.EVENTS)."""

    async def download_clip(
        self, channel: int, start: datetime, end: datetime, destination: Path
    ) -> Path:
        """Download a recorded interval to destination (Capability.CLIP_DOWNLOAD)."""

    async def audit_log(self, start: datetime, end: datetime) -> list[AuditEntry]:
        """The device's own log for [start, end), all pages, oldest first (Capability.AUDIT_LOG): who
        played back, exported, downloaded or deleted recordings, on the device or over the network.
        A protocol with no device log (ONVIF) does not declare the capability and raises CapabilityMissing."""

    async def close(self) -> None:
        """Release connections; the driver is not used afterwards."""


@runtime_checkable
class DoorDriver(Protocol):
    """A door reader with its strike, LEDs and buzzer."""

    endpoint: Endpoint
    capabilities: frozenset[Capability]

    def reads(self) -> AsyncIterator[CredentialRead]:
        """Cards and PINs as they are presented."""

    async def grant(self, seconds: float) -> None:
        """Open the strike for seconds, green LED, short beep; raise DeviceError if not acknowledged."""

    async def deny(self) -> None:
        """Red LED and long beep; raise DeviceError if not acknowledged."""

    async def status(self) -> DoorStatus:
        """Online, secure channel (and whether the reader refused it) and tamper state."""

    async def close(self) -> None:
        """Release the link."""


#: The findings a door reader's status can raise; whoever watches a door closes those it no longer sees.
DOOR_STATUS_KINDS = (FindingKind.READER_OFFLINE, FindingKind.SECURE_CHANNEL_FAILED, FindingKind.READER_TAMPER)
#: Those that say the reader cannot be used, and why (exactly one of them while it is not online).
DOOR_LINK_KINDS = (FindingKind.READER_OFFLINE, FindingKind.SECURE_CHANNEL_FAILED)


def door_findings(subject: str, status: DoorStatus) -> list[Finding]:
    """The one mapping from a reader's status to findings: `run`, `door status` and drivers use it."""
    found = []
    if status.secure_channel_failed:
        found.append(Finding(FindingKind.SECURE_CHANNEL_FAILED, subject,
                             N_("reader answers but rejects the secure channel key")))
    elif not status.online:
        found.append(Finding(FindingKind.READER_OFFLINE, subject, N_("reader does not answer polls")))
    if status.tamper:
        found.append(Finding(FindingKind.READER_TAMPER, subject, N_("reader reports tamper")))
    return found


#: Starts simulated devices of a platform. Called as
#: ``simulator(host="127.0.0.1", port=0, username="admin", password=..., devices=1, faults=FaultProfile())``
#: it returns an async context manager yielding a list of running devices, each a
#: ``watchkeeper.testing.SimulatedDevice`` (cameras, recorders) or ``SimulatedReader`` (doors):
#: ``.endpoint`` to reach it with the right credentials, ``.set_faults(profile, channel=None)``,
#: ``.trigger_event(kind, channel)``. Port 0 picks free ports; otherwise devices take port, port+1, ...
#: `watchkeeper simulate`, the demo, the tests and the benchmarks all start simulators this way.
SimulatorFactory = Callable[..., Any]

PLATFORM_NAME = re.compile(r"^[a-z][a-z0-9_]{1,30}$")

#: How a platform declares an option its drivers read from `endpoint.options` (set per device in
#: site.toml as `options.NAME`): the value's type, or a function saying why a value is wrong (None
#: when it is right).
OptionCheck = type | Callable[[Any], "str | None"]
_OPTION_TYPES = {bool: N_("true or false"), int: N_("an integer"), float: N_("a number"), str: N_("a string")}


def option_problem(check: OptionCheck, value: Any) -> str | None:
    """Why value does not pass an option's check, or None."""
    if not isinstance(check, type):
        return check(value)
    if check is float and isinstance(value, int) and not isinstance(value, bool):
        return None
    if isinstance(value, check) and not (check in (int, float) and isinstance(value, bool)):
        return None
    return _("must be {expected}, not {type} {value!r}").format(
        expected=localize(_OPTION_TYPES.get(check, check.__name__)), type=type(value).__name__, value=value)


def in_range(kind: type, low: float | None = None, high: float | None = None) -> Callable[[Any], str | None]:
    """An option check: a number of that kind within [low, high]."""

    def check(value: Any) -> str | None:
        problem = option_problem(kind, value)
        if problem:
            return problem
        if low is not None and high is not None and not low <= value <= high:
            return _("must be {low:g} to {high:g}, not {value!r}").format(low=low, high=high, value=value)
        if low is not None and value < low:
            return _("must be at least {low:g}, not {value!r}").format(low=low, value=value)
        if high is not None and value > high:
            return _("must be at most {high:g}, not {value!r}").format(high=high, value=value)
        return None

    return check


@attrs.frozen
class Platform:
    """One vendor integration, as a plugin registers it through `register_platforms`."""

    name: str
    camera_driver: Callable[[Endpoint], CameraDriver] | None = None
    door_driver: Callable[[Endpoint], DoorDriver] | None = None
    simulator: SimulatorFactory | None = None
    default_port: int = 80
    description: str = ""
    #: The per-device options its drivers read, each with its check; site.toml may set only these.
    options: dict[str, OptionCheck] = attrs.field(factory=dict, hash=False)


async def known_capabilities(driver: CameraDriver | DoorDriver) -> frozenset[Capability]:
    """What this device can do, as the driver knows it once it has reached the device.

    A driver whose capabilities depend on the device (ONVIF learns which services exist from
    GetServices) offers ``async connect()``; reading ``capabilities`` before it would be the driver's
    hopes, not the device's answer. May raise DeviceError like any device call.
    """
    connect = getattr(driver, "connect", None)
    if connect is not None:
        await connect()
    return driver.capabilities


async def with_timeout(awaitable: Awaitable[T], timeout: float, what: str) -> T:
    """Await a device call; no reply within timeout becomes DeviceError(UNREACHABLE)."""
    try:
        async with asyncio.timeout(timeout):
            return await awaitable
    except TimeoutError:
        raise DeviceError(
            FindingKind.UNREACHABLE, N_("{what}: no reply within {timeout:g} s", what=what, timeout=timeout)
        ) from None
