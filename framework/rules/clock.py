"""The clock rule (R7): every device's time against standard time, its time zone against the site's.

Standard time is the configured NTP servers' (China's national time service by default), not the
host's opinion: the host clock is read against them first, and each device's offset is corrected by
the host's. A device that could not be read, or read while no reference answered, is no evidence.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

import sqlite_utils
from sqlite_utils import Migrations

from watchkeeper import hookimpl
from watchkeeper.core.i18n import N_, Text, _
from watchkeeper.rules.runner import per_device
from watchkeeper.rules.verdicts import Item, decide, local, unreadable
from watchkeeper.site.checks import Check, CheckContext, CheckResult
from watchkeeper.site.config import ntp_address
from watchkeeper.site.verdicts import ClauseRule, Evidence, Verdict, VerdictContext
from watchkeeper.devices.drivers import CameraDriver
from watchkeeper.core.findings import Finding, FindingKind
from watchkeeper.core.models import Capability, ClockReading, Endpoint
from watchkeeper.core.timezones import utc_offset

log = logging.getLogger(__name__)
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


@migrations()
def m003_read_on_workers(db: sqlite_utils.Database) -> None:
    """A clock read on a worker is against that worker's own reference reading: both name it."""
    db["reference_readings"].add_column("measured_by", str)
    db["clock_readings"].add_column("read_by", str)


@migrations()
def m004_reference_reasons(db: sqlite_utils.Database) -> None:
    """Why a server gave no time, in our words (`reason`, and its msgid+params in `reason_msg`, so each
    reader reads it in their language); `error` keeps ntplib's or the system's own English as evidence."""
    db["reference_readings"].add_column("reason", str)
    db["reference_readings"].add_column("reason_msg", str)


#: Seconds to wait for one NTP server.
NTP_TIMEOUT = 3.0
#: What a clock read is against when no NTP server answered: the host's opinion, and it says so.
HOST_CLOCK = N_("host clock (no NTP server answered)")


def ntp_failure(error: BaseException, host: str, timeout: float) -> Text:
    """Why a server gave no time, as a reason a person reads in their language. ntplib's own text
    ("No response received from ...", "Invalid NTP packet.") and the system's are English and stay the
    row's `error`, the evidence; this names the class of failure and what to look at."""
    import ntplib

    if isinstance(error, socket.gaierror):
        return N_("the name {host} could not be resolved", host=host)
    if isinstance(error, ntplib.NTPException):
        if isinstance(error.__context__, TimeoutError):  # ntplib turns the socket's timeout into its own error
            return N_("no answer within {seconds:g} s", seconds=timeout)
        return N_("the reply is not a valid NTP answer")
    # anything else the system refuses (no route, no network): its own words stay the detail
    return N_("the server could not be asked: network error")


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
            # Plain data (the row crosses to the coordinator from a worker): English text and msgid+params.
            reason = ntp_failure(error, host, timeout or NTP_TIMEOUT)
            rows.append(row | {"error": f"{type(error).__name__}: {error}"[:200], "reason": str(reason),
                               "reason_msg": reason.to_json()})
            continue
        # ntplib's offset is reference minus host; ours is host minus reference.
        rows.append(row | {"offset_seconds": -response.offset, "round_trip_seconds": response.delay,
                           "stratum": response.stratum})
        break
    return rows


def zone_problem(reading: ClockReading, site_zone: tzinfo, now: datetime) -> Text | None:
    """Why the device's time zone would burn the wrong local time into the video, if it would."""
    if reading.time_zone is None:
        return None
    device = utc_offset(reading.time_zone, now)
    site = now.astimezone(site_zone).utcoffset() or timedelta()
    if device is None:
        return N_("device time zone {zone!r} cannot be read", zone=reading.time_zone)
    if device != site:
        return N_("device time zone {zone!r} is UTC{device}, the site is UTC{site}", zone=reading.time_zone,
                  device=_hours(device), site=_hours(site))
    return None


def _hours(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def reading_data(reading: ClockReading) -> dict[str, Any]:
    """A clock reading as JSON, for a worker's answer."""
    return {"device_time": reading.device_time.isoformat(), "host_time": reading.host_time.isoformat(),
            "round_trip": reading.round_trip, "time_zone": reading.time_zone, "ntp_enabled": reading.ntp_enabled,
            "ntp_servers": list(reading.ntp_servers)}


def reading_from(data: dict[str, Any]) -> ClockReading:
    return ClockReading(datetime.fromisoformat(data["device_time"]), datetime.fromisoformat(data["host_time"]),
                        data["round_trip"], data["time_zone"], data["ntp_enabled"], tuple(data["ntp_servers"]))


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
        host_minus_reference, reference, reference_id = 0.0, HOST_CLOCK, None
    rows: list[dict[str, Any]] = []

    def judged(device_id: str, reading: ClockReading, minus_reference: float, reference: str,
               reference_id: int | None, corrected: bool, read_by: str | None = None) -> CheckResult:
        """The reading's findings and row; `minus_reference` is the reading host's clock minus standard time."""
        result = CheckResult()
        result.evaluated([FindingKind.CLOCK_OFFSET, FindingKind.TIME_ZONE_MISMATCH], device_id)
        offset = reading.offset + minus_reference
        tolerance = app.clock_tolerance(device_id)
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
                     "reference_reading": reference_id, "tolerance_seconds": tolerance, "read_by": read_by})
        return result

    async def one(device_id: str, driver: CameraDriver, endpoint: Endpoint) -> CheckResult:
        reading = await driver.get_clock()
        offset = reading.offset + host_minus_reference
        corrected = False
        if abs(offset) > app.clock_tolerance(device_id) and app.site.policies.correct_clocks \
                and Capability.SET_CLOCK in driver.capabilities:
            app.journal.append("clock", context.actor, device_id, {"correcting": True, "offset_seconds": round(offset, 3)})
            await driver.set_clock(datetime.now(timezone.utc) - timedelta(seconds=host_minus_reference))
            reading = await driver.get_clock()
            offset = reading.offset + host_minus_reference
            corrected = True
            app.journal.append("clock", context.actor, device_id, {"corrected": True, "offset_seconds": round(offset, 3)})
        return judged(device_id, reading, host_minus_reference, reference, reference_id, corrected)

    summary: dict[str, Any] = {}
    if app.site.distributed is not None:
        result = await _read_on_workers(context, devices, judged, one, summary)
    else:
        result = await per_device(devices, one, app)
    if rows:
        app.store.insert_many("clock_readings", rows)
    result.summary = {"devices": len(devices), "reference": reference,
                      "host_offset_seconds": round(host_minus_reference, 3) if answered else None,
                      "servers": {row["server"]: server_answer(row) for row in asked},
                      "offsets": {row["device"]: round(row["offset_seconds"], 3) for row in rows}, **summary}
    return result


def server_answer(row: dict[str, Any]) -> str | dict[str, Any]:
    """A server in a check's summary: "ok", or why not, in our words with the English detail next to them."""
    if row.get("error") is None:
        return "ok"
    if row.get("reason") is None:  # a worker of an older version: only the detail
        return str(row["error"])
    return {"reason": row["reason"], "reason_msg": row.get("reason_msg"), "detail": row["error"]}


def worker_reference(measured: dict[str, Any], limit: float) -> tuple[dict[str, Any] | None, str | None]:
    """The NTP row a worker's own clock was measured by, or why that worker is not trusted with clock reads."""
    answered = next((row for row in measured["asked"] if row.get("error") is None), None)
    if answered is None:
        servers = ", ".join(row["server"] for row in measured["asked"]) or "—"
        return None, N_("its own clock could not be measured: no NTP server answered ({servers})", servers=servers)
    if abs(answered["offset_seconds"]) > limit:
        return None, N_("its own clock is {offset:+.3f} s off ntp:{server}, more than worker_clock_seconds = {limit}",
                        offset=answered["offset_seconds"], server=answered["server"], limit=format(limit, "g"))
    return answered, None


async def _read_on_workers(context: CheckContext, devices: list[tuple[str, Endpoint]],
                           judged: Callable[..., CheckResult],
                           one: Callable[[str, CameraDriver, Endpoint], Any], summary: dict[str, Any]) -> CheckResult:
    """Clocks read by the workers, each against the worker's own measured reference; the devices a
    worker could not be trusted with, and those to be corrected (an act the appliance journals and
    does itself), are read here in-process."""
    from watchkeeper.rules import dispatch

    app = context.app
    section = app.site.distributed
    assert section is not None
    answers = await dispatch.on_workers(app, "clock", {device: {} for device, _endpoint in devices}, context)
    result, again, trusted = CheckResult(), [], dict[str, str]()
    measurements: dict[str, tuple[dict[str, Any] | None, str | None, int | None]] = {}
    for device_id, answer in sorted(answers.items()):
        data, worker = answer["data"], answer["worker"]
        if "reading" not in data:  # the device failed (its finding, as in-process) or no worker did it
            result.merge(dispatch.result_of(answer))
            continue
        measured = data["reference"]
        if measured["id"] not in measurements:
            row, why = worker_reference(measured, section.worker_clock_seconds)
            with app.store.transaction():
                ids = [app.store.db["reference_readings"].insert({**asked, "measured_by": worker}).last_pk
                       for asked in measured["asked"]]
            measurements[measured["id"]] = (row, why, ids[-1] if row is not None else None)
        row, why, row_id = measurements[measured["id"]]
        if row is None:
            trusted[worker] = why or ""
            again.append(device_id)
            continue
        trusted.setdefault(worker, "ok")
        reading = reading_from(data["reading"])
        if abs(reading.offset + row["offset_seconds"]) > app.clock_tolerance(device_id) \
                and app.site.policies.correct_clocks and data["can_set"]:
            again.append(device_id)
            continue
        device = dispatch.result_of(answer)
        device.merge(judged(device_id, reading, row["offset_seconds"], f"ntp:{row['server']}", row_id, False, worker))
        result.merge(device)
    for worker, why in trusted.items():
        if why != "ok":
            log.warning("clock check: worker %s is not trusted with clock reads (%s); its devices are read here",
                        worker, why)
    if again:
        endpoints = dict(devices)
        result.merge(await per_device([(device, endpoints[device]) for device in again], one, app))
    summary.update(workers=trusted, read_here=sorted(again))
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
