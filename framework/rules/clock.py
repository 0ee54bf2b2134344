"""The clock rule (R7): every device's time against standard time, its time zone against the site's."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

import sqlite_utils
from sqlite_utils import Migrations

from watchkeeper import hookimpl
from watchkeeper.rules.runner import per_device
from watchkeeper.site.checks import Check, CheckContext, CheckResult
from watchkeeper.devices.drivers import CameraDriver
from watchkeeper.core.findings import Finding, FindingKind
from watchkeeper.core.models import Capability, ClockReading, Endpoint
from watchkeeper.core.timezones import standard_offset

migrations = Migrations("watchkeeper.clock")


@migrations()
def m001_clock_readings(db: sqlite_utils.Database) -> None:
    db["clock_readings"].create({
        "id": int, "device": str, "time_utc": str, "offset_seconds": float, "round_trip_seconds": float,
        "reference": str, "time_zone": str, "ntp_enabled": int, "corrected": int,
    }, pk="id")
    db["clock_readings"].create_index(["device", "time_utc"])


def reference_offset(server: str | None) -> tuple[float, str]:
    """Host clock minus the reference, in seconds, and the reference's name (system clock if none)."""
    if not server:
        return 0.0, "system clock"
    import ntplib

    response = ntplib.NTPClient().request(server, version=3, timeout=3)
    # ntplib's offset is reference minus host; ours is host minus reference.
    return -response.offset, f"ntp:{server}"


def zone_problem(reading: ClockReading, site_zone: tzinfo, now: datetime) -> str | None:
    """Why the device's time zone would burn the wrong local time into the video, if it would."""
    if reading.time_zone is None:
        return None
    device = standard_offset(reading.time_zone, now)
    site = now.astimezone(site_zone).utcoffset() or timedelta()
    if device is None:
        return f"device time zone {reading.time_zone!r} cannot be read"
    if device != site:
        return f"device time zone {reading.time_zone!r} is UTC{_hours(device)}, the site is UTC{_hours(site)}"
    return None


def _hours(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


async def check_clocks(context: CheckContext) -> CheckResult:
    app = context.app
    host_minus_reference, reference = await asyncio.to_thread(reference_offset, app.site.policies.ntp_server)
    rows: list[dict[str, Any]] = []

    async def one(device_id: str, driver: CameraDriver, endpoint: Endpoint) -> CheckResult:
        result = CheckResult()
        result.evaluated([FindingKind.CLOCK_OFFSET, FindingKind.TIME_ZONE_MISMATCH], device_id)
        reading = await driver.get_clock()
        offset = reading.offset + host_minus_reference
        tolerance = app.clock_tolerance(device_id)
        corrected = False
        if abs(offset) > tolerance and app.site.policies.correct_clocks and Capability.SET_CLOCK in driver.capabilities:
            app.journal.append("clock", context.actor, device_id, {"correcting": True, "offset_seconds": round(offset, 3)})
            await driver.set_clock(datetime.now(timezone.utc) - timedelta(seconds=host_minus_reference))
            reading = await driver.get_clock()
            offset = reading.offset + host_minus_reference
            corrected = True
            app.journal.append("clock", context.actor, device_id, {"corrected": True, "offset_seconds": round(offset, 3)})
        if abs(offset) > tolerance:
            direction = "ahead of" if offset > 0 else "behind"
            result.findings.append(Finding(
                FindingKind.CLOCK_OFFSET, device_id, f"clock {abs(offset):.1f} s {direction} {reference}",
                measured=round(offset, 3), threshold=tolerance))
        problem = zone_problem(reading, app.site.zone, context.now)
        if problem:
            result.findings.append(Finding(FindingKind.TIME_ZONE_MISMATCH, device_id, problem,
                                           measured=reading.time_zone, threshold=app.site.time_zone))
        rows.append({"device": device_id, "time_utc": reading.host_time.isoformat(), "offset_seconds": offset,
                     "round_trip_seconds": reading.round_trip, "reference": reference,
                     "time_zone": reading.time_zone, "ntp_enabled": reading.ntp_enabled, "corrected": int(corrected)})
        return result

    devices = [(d, e) for d, e in app.devices() if context.wanted(d)]
    result = await per_device(devices, one, app)
    if rows:
        app.store.insert_many("clock_readings", rows)
    result.summary = {"devices": len(devices), "reference": reference,
                      "offsets": {row["device"]: round(row["offset_seconds"], 3) for row in rows}}
    return result


@hookimpl
def register_checks(register: Callable[[Check], None]) -> None:
    register(Check("clock", "R7", check_clocks, "device clocks within tolerance of standard time"))


@hookimpl
def register_migrations(register: Callable[[Migrations], None]) -> None:
    register(migrations)
