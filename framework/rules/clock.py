"""The clock rule (R7): every device's time against standard time, its time zone against the site's.

Standard time is the configured NTP servers' (China's national time service by default), not the
host's opinion: the host clock is read against them first, and each device's offset is corrected by
the host's. A device that could not be read, or read while no reference answered, is no evidence.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

import sqlite_utils
from sqlite_utils import Migrations

from watchkeeper import hookimpl
from watchkeeper.core.i18n import N_, _
from watchkeeper.rules.runner import per_device
from watchkeeper.rules.verdicts import Item, decide, local, unreadable
from watchkeeper.site.checks import Check, CheckContext, CheckResult
from watchkeeper.site.config import ntp_address
from watchkeeper.site.verdicts import ClauseRule, Evidence, Verdict, VerdictContext
from watchkeeper.devices.drivers import CameraDriver
from watchkeeper.core.findings import Finding, FindingKind
from watchkeeper.core.models import Capability, ClockReading, Endpoint
from watchkeeper.core.timezones import utc_offset

migrations = Migrations("watchkeeper.clock")


@migrations()
def m001_clock_readings(db: sqlite_utils.Database) -> None:
    db["clock_readings"].create({
        "id": int, "device": str, "time_utc": str, "offset_seconds": float, "round_trip_seconds": float,
        "reference": str, "time_zone": str, "ntp_enabled": int, "corrected": int,
    }, pk="id")
    db["clock_readings"].create_index(["device", "time_utc"])


@migrations()
def m002_reference_readings(db: sqlite_utils.Database) -> None:
    # The host clock against each NTP server asked; device readings name the one they were corrected by.
    db["reference_readings"].create({
        "id": int, "time_utc": str, "server": str, "offset_seconds": float, "round_trip_seconds": float,
        "stratum": int, "error": str}, pk="id")
    db["reference_readings"].create_index(["time_utc"])
    db["clock_readings"].add_column("reference_reading", int)
    db["clock_readings"].add_column("tolerance_seconds", float)


#: Seconds to wait for one NTP server.
NTP_TIMEOUT = 3.0


def ask_servers(servers: tuple[str, ...], timeout: float | None = None) -> list[dict[str, Any]]:
    """The host clock against each server in turn until one answers: one row per server asked.

    ``offset_seconds`` is host minus reference (positive: the host runs ahead)."""
    import ntplib

    rows = []
    for server in servers:
        host, port = ntp_address(server)
        row: dict[str, Any] = {"time_utc": datetime.now(timezone.utc).isoformat(), "server": server}
        try:
            response = ntplib.NTPClient().request(host, version=3, port=port, timeout=timeout or NTP_TIMEOUT)
        except (ntplib.NTPException, OSError) as error:
            rows.append(row | {"error": f"{type(error).__name__}: {error}"[:200]})
            continue
        # ntplib's offset is reference minus host; ours is host minus reference.
        rows.append(row | {"offset_seconds": -response.offset, "round_trip_seconds": response.delay,
                           "stratum": response.stratum})
        break
    return rows


def zone_problem(reading: ClockReading, site_zone: tzinfo, now: datetime) -> str | None:
    """Why the device's time zone would burn the wrong local time into the video, if it would."""
    if reading.time_zone is None:
        return None
    device = utc_offset(reading.time_zone, now)
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
    devices = [(d, e) for d, e in app.devices() if context.wanted(d)]
    if not devices:
        return CheckResult(summary={"devices": 0})
    asked = await asyncio.to_thread(ask_servers, app.site.policies.ntp_servers)
    answered = next((row for row in asked if row.get("error") is None), None)
    with app.store.transaction():
        ids = [app.store.db["reference_readings"].insert(row).last_pk for row in asked]
    if answered is not None:
        host_minus_reference, reference, reference_id = answered["offset_seconds"], f"ntp:{answered['server']}", ids[-1]
    else:
        # No reference answered: offsets are against the host clock, and say so; they are no evidence.
        host_minus_reference, reference, reference_id = 0.0, "host clock (no NTP server answered)", None
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
            why = (N_("clock {offset:.1f} s ahead of {reference}", offset=abs(offset), reference=reference) if offset > 0
                   else N_("clock {offset:.1f} s behind {reference}", offset=abs(offset), reference=reference))
            result.findings.append(Finding(
                FindingKind.CLOCK_OFFSET, device_id, why,
                measured=round(offset, 3), threshold=tolerance))
        problem = zone_problem(reading, app.site.zone, context.now)
        if problem:
            result.findings.append(Finding(FindingKind.TIME_ZONE_MISMATCH, device_id, problem,
                                           measured=reading.time_zone, threshold=app.site.time_zone))
        rows.append({"device": device_id, "time_utc": reading.host_time.isoformat(), "offset_seconds": offset,
                     "round_trip_seconds": reading.round_trip, "reference": reference,
                     "time_zone": reading.time_zone, "ntp_enabled": reading.ntp_enabled, "corrected": int(corrected),
                     "reference_reading": reference_id, "tolerance_seconds": tolerance})
        return result

    result = await per_device(devices, one, app)
    if rows:
        app.store.insert_many("clock_readings", rows)
    result.summary = {"devices": len(devices), "reference": reference,
                      "host_offset_seconds": round(host_minus_reference, 3) if answered else None,
                      "servers": {row["server"]: row.get("error") or "ok" for row in asked},
                      "offsets": {row["device"]: round(row["offset_seconds"], 3) for row in rows}}
    return result


def verdict(context: VerdictContext) -> Verdict:
    """R7: every device read against an NTP reference in the period, each within its tolerance."""
    app = context.app
    devices = [device for device, _endpoint in app.devices()]
    evidence, breaches, missing = Evidence(), [], []
    if not devices:
        return decide(context, evidence)
    readings = context.rows("SELECT * FROM clock_readings WHERE time_utc >= ? AND time_utc < ? ORDER BY id",
                            context.span())
    references = context.rows("SELECT id FROM reference_readings WHERE time_utc >= ? AND time_utc < ?"
                              " AND error IS NULL", context.span())
    failed = unreadable(context, devices)
    for device in devices:
        own = [r for r in readings if r["device"] == device]
        referenced = [r for r in own if r["reference_reading"] is not None]
        evidence.extend("clock_readings", [r["id"] for r in referenced])
        for row in referenced:
            tolerance = row["tolerance_seconds"] if row["tolerance_seconds"] is not None \
                else app.site.policies.clock_tolerance_seconds
            if abs(row["offset_seconds"]) > tolerance:
                breaches.append(Item("R7.beyond_tolerance", _("{device} was {offset:+.1f} s off standard time at {at}"
                                                              " (tolerance {tolerance:g} s)").format(
                    device=device, offset=row["offset_seconds"], at=local(context, row["time_utc"]), tolerance=tolerance)))
        if referenced:
            continue
        if device in failed:
            missing.append(Item("R7.unreadable", _("{device} could not be read ({kind})").format(
                device=device, kind=failed[device]["kind"])))
        elif own:
            missing.append(Item("R7.no_reference", _("{device} was read while no NTP server answered").format(
                device=device)))
        elif context.over or readings:
            missing.append(Item("R7.not_read", _("{device} has no clock reading in the period").format(device=device)))
    if evidence:
        evidence.extend("reference_readings", [r["id"] for r in references])
    return decide(context, evidence, breaches, missing,
                  _("{count} device(s) within tolerance of standard time").format(count=len(devices)))


@hookimpl
def register_checks(register: Callable[[Check], None]) -> None:
    register(Check("clock", "R7", check_clocks, "device clocks within tolerance of standard time"))


@hookimpl
def register_verdicts(register: Callable[[ClauseRule], None]) -> None:
    register(ClauseRule("R7", verdict, "device clocks read against NTP, within tolerance"))


@hookimpl
def register_migrations(register: Callable[[Migrations], None]) -> None:
    register(migrations)
