"""`watchkeeper run`: the appliance — scheduled checks, device event subscriptions and door service."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, time, timedelta, timezone
from typing import Any

from watchkeeper.faces.control import ControlServer, answered
from watchkeeper.rules.door_service import Access, door_state, manual_open, serve_door
from watchkeeper.site.doorlock import hold_door
from watchkeeper.site.app import App
from watchkeeper.rules.footage import Footage
from watchkeeper.rules.runner import collect_checks, run_check
from watchkeeper.devices.drivers import DeviceError, known_capabilities
from watchkeeper.core.findings import Finding, FindingKind
from watchkeeper.core.i18n import N_, error_text
from watchkeeper.evidence.journal import JournalTampered, Verification
from watchkeeper.evidence.store import disk_problem, store_problem
from watchkeeper.evidence.witness import WitnessError
from watchkeeper.core.models import Capability, DeviceEventKind, Endpoint
from watchkeeper.faces import systemd
from watchkeeper.faces.doorwatch import DoorContact as DoorContact, ReaderWatch as ReaderWatch

log = logging.getLogger(__name__)

#: Device events that mean a fault, and the finding each opens (an inactive event closes it).
EVENT_FINDINGS: dict[DeviceEventKind, FindingKind] = {
    DeviceEventKind.VIDEO_LOSS: FindingKind.VIDEO_LOSS,
    DeviceEventKind.TAMPER: FindingKind.TAMPER,
    DeviceEventKind.DISK_ERROR: FindingKind.DISK_ERROR,
    DeviceEventKind.DISK_FULL: FindingKind.DISK_FULL,
    DeviceEventKind.RECORDING_FAILURE: FindingKind.RECORDING_FAILURE,
}
#: Daily times (site-local) of the nightly checks; inspections follow policies.inspection_times.
NIGHTLY = {"retention": time(2, 0), "clock": time(3, 0), "device_audit": time(4, 0)}
HOURLY = ("maintenance", "inspection_signed", "handover", "escalation", "review")
REPORT_AT = time(0, 30)
RETRY_SECONDS = (1, 2, 5, 10, 30, 60)
#: How often `run` looks at its store's file system (free space, read-only).
STORE_WATCH_SECONDS = 2.0


def next_at(moment: datetime, at: time, zone: Any) -> datetime:
    """The next time-of-day `at` in the site's zone, strictly after moment."""
    local = moment.astimezone(zone)
    candidate = datetime.combine(local.date(), at, tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=zone)
    return candidate.astimezone(timezone.utc)


async def _forever(name: str, body: Callable[[], Awaitable[None]]) -> None:
    """Run body again after any failure, backing off: one dead device never stops the appliance."""
    attempt = 0
    while True:
        try:
            await body()
            attempt = 0
        except asyncio.CancelledError:
            raise
        except Exception as error:  # every failure is logged and retried; nothing escapes the loop
            # A device's failure is expected weather; anything else is a bug, logged with its traceback.
            log.warning("%s: %s: %s", name, type(error).__name__, error, exc_info=not isinstance(error, DeviceError))
        await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
        attempt += 1


class Appliance:
    """Everything `watchkeeper run` keeps going, as tasks on one event loop."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.findings = app.finding_store()
        self.checks = collect_checks(app.pm)
        self.tasks: list[asyncio.Task[None]] = []
        #: The store_failed finding while the store takes no writes, and whether the store holds it.
        self.store_failure: Finding | None = None
        self.store_failure_recorded = False
        #: The door links this appliance holds, for manual opening through its control socket.
        self.door_drivers: dict[str, Any] = {}
        self.control = ControlServer(app.site, {"door.open": self._control_door_open,
                                                "door.status": self._control_door_status,
                                                "footage.export": self._control_footage_export,
                                                "ping": self._control_ping})

    def _previous_run_was_killed(self) -> bool:
        cursor = self.app.store.conn.execute(
            "SELECT body FROM journal WHERE kind = 'operation' AND subject = 'appliance' ORDER BY seq DESC LIMIT 1")
        row = cursor.fetchone()
        return row is not None and json.loads(row[0]).get("event") == "start"

    async def run_check_named(self, name: str) -> None:
        if name in self.checks:
            with self.keeping_evidence(N_("check {name}", name=name)):
                await run_check(self.app, self.checks[name])

    @contextlib.contextmanager
    def keeping_evidence(self, what: str, errors: tuple[type[Exception], ...] = (sqlite3.Error, OSError)
                         ) -> Iterator[None]:
        """Run `what`; if the store or its disk fails under it, that is the store_failed finding
        (and the error still reaches the caller's retry); once writes work again it is closed.
        `errors`: what can only be the store's (an export's OSError may be its own folder's)."""
        try:
            yield
        except errors as error:
            reason = store_problem(error, self.app.site.store)
            if reason is not None:
                # the system's own words (English) stay in the details; the reason names the error's class
                self.store_failed(Finding(FindingKind.STORE_FAILED, "store", N_("{what}: {reason} ({error})", what=what,
                                                                                reason=reason, error=type(error).__name__),
                                          details={"error": str(error)[:300]}))
            raise
        if self.store_failure is not None:
            # Forgotten only once recorded and closed: a store that fails these writes still fails.
            if not self.store_failure_recorded:
                self.findings.record(self.store_failure)  # kept as evidence now that the store takes writes
                self.store_failure_recorded = True
            self.findings.close(FindingKind.STORE_FAILED, "store")
            self.store_failure = None

    def store_failed(self, finding: Finding) -> None:
        log.error("store failed: %s", finding.reason)
        first = self.store_failure is None
        if first:
            self.store_failure, self.store_failure_recorded = finding, False
        try:
            self.findings.record(finding)
            self.store_failure_recorded = True
        except (sqlite3.Error, OSError):
            # The store cannot hold its own finding: the plugins (notifiers) still hear of it, once,
            # and it is recorded when writes work again.
            if first:
                self.app.pm.hook.on_finding(finding=finding, site=self.app.site, opened=True)

    async def _scheduled(self, name: str, at: time) -> None:
        while True:
            due = next_at(datetime.now(timezone.utc), at, self.app.site.zone)
            await asyncio.sleep(max(0.0, (due - datetime.now(timezone.utc)).total_seconds()))
            await self.run_check_named(name)

    async def _daily_report(self) -> None:
        """R10: yesterday's report is written and journaled shortly after each site-local midnight."""
        from watchkeeper.faces.report_render import publish

        while True:
            due = next_at(datetime.now(timezone.utc), REPORT_AT, self.app.site.zone)
            await asyncio.sleep(max(0.0, (due - datetime.now(timezone.utc)).total_seconds()))
            yesterday = due - timedelta(days=1)
            # On the loop's own thread: the store's connection is not shared across threads.
            with self.keeping_evidence(N_("daily report")):
                publish(self.app, "day", yesterday, ("html", "json"), self.app.site.store.parent / "reports")

    async def backup_now(self) -> None:
        """The nightly backup ([backup] in the site config), pruned to `keep`; a failure is a finding."""
        from watchkeeper.site.backup import BackupError, copy_backup, journal_backup, prune

        settings = self.app.site.backup
        if settings is None:
            return
        try:
            made = await asyncio.to_thread(copy_backup, self.app.site, settings.folder, settings.passphrase,
                                           "watchkeeper")
            journal_backup(self.app, made, "watchkeeper")
            removed = await asyncio.to_thread(prune, settings.folder, settings.keep)
        except (BackupError, OSError) as error:
            self.findings.record(Finding(FindingKind.BACKUP_FAILED, "backup", N_("nightly backup failed: {error}", error=error_text(error)),
                                         details={"folder": str(settings.folder)}))
            return
        self.findings.close(FindingKind.BACKUP_FAILED, "backup")
        log.info("backup written=%s removed=%d", made.name, len(removed))

    async def _nightly_backup(self) -> None:
        settings = self.app.site.backup
        if settings is None:
            return
        while True:
            due = next_at(datetime.now(timezone.utc), time.fromisoformat(settings.at), self.app.site.zone)
            await asyncio.sleep(max(0.0, (due - datetime.now(timezone.utc)).total_seconds()))
            await self.backup_now()

    async def _watch_store(self) -> None:
        """The store's file system every few seconds: full or read-only is store_failed at once, not at
        the next hourly write, and the finding is recorded and closed as soon as writes work again."""
        while True:
            problem = await asyncio.to_thread(disk_problem, self.app.site.store)
            if problem is not None:
                if self.store_failure is None:
                    self.store_failed(Finding(FindingKind.STORE_FAILED, "store", problem,
                                              details={"path": str(self.app.site.store)}))
            elif self.store_failure is not None:
                try:
                    with self.keeping_evidence(N_("store watch")):
                        pass  # recording and closing the finding are the writes that show it
                except (sqlite3.Error, OSError) as error:
                    log.warning("store still failing: %s", error)
                else:
                    log.info("store takes writes again")
            await asyncio.sleep(STORE_WATCH_SECONDS)

    async def _watchdog(self, interval: float) -> None:
        """Feed systemd's watchdog while the loop turns: a hung appliance is restarted."""
        while True:
            systemd.notify("WATCHDOG=1")
            await asyncio.sleep(interval)

    async def _hourly(self, name: str) -> None:
        while True:
            await self.run_check_named(name)
            await asyncio.sleep(3600)

    async def _events(self, device_id: str, endpoint: Endpoint) -> None:
        driver = self.app.driver(endpoint)
        try:
            if Capability.EVENTS not in await known_capabilities(driver):
                await asyncio.Event().wait()  # nothing to subscribe to; park the task
            async for event in driver.events():
                kind = EVENT_FINDINGS.get(event.kind)
                if kind is None:  # information (motion, processor load, last reboot): no finding to keep
                    log.debug("%s: %s event %s", device_id, event.kind, event.value)
                    continue
                subject, channel = self._camera_for(device_id, event.channel)
                if event.active:
                    self.findings.record(Finding(kind, subject, N_("device reported {event} on channel {channel}",
                                                                   event=event.kind, channel=event.channel)
                                                 if event.channel else N_("device reported {event}", event=event.kind),
                                                 channel=channel, details={"raw": event.raw[:200]}))
                else:
                    self.findings.close(kind, subject, channel)
        except DeviceError as error:
            self.findings.record(error.finding(device_id))
            raise
        finally:
            await driver.close()

    def _camera_for(self, device_id: str, channel: int | None) -> tuple[str, int | None]:
        """The camera an event is about (findings are per camera, as the inspection's are), else the
        device and its channel: a recorder's channel event belongs to the camera recorded there."""
        for camera in self.app.site.cameras:
            if camera.id == device_id and camera.host is not None:
                return camera.id, None
            if camera.recorder == device_id and (camera.recorder_channel or camera.channel) == channel:
                return camera.id, None
        return device_id, channel

    async def _door(self, door: Any) -> None:
        with hold_door(self.app.site, door.id):  # DoorHeld while another process has the reader: retried
            await self._serve_door(door)

    async def _serve_door(self, door: Any) -> None:
        driver = self.app.door_driver(door.id)
        self.door_drivers[door.id] = driver
        access = Access(self.app)

        contact = DoorContact(self, access, door)
        reader = ReaderWatch(self, door, datetime.now(timezone.utc))

        async def watch_status() -> None:
            while True:
                status = await driver.status()
                reader.update(status, datetime.now(timezone.utc))
                if status.door_open is not None:
                    contact.update(status.door_open, datetime.now(timezone.utc))
                await asyncio.sleep(0.5)

        watcher = asyncio.create_task(watch_status())
        try:
            await serve_door(access, door.id, driver, door.strike_seconds)
        finally:
            self.door_drivers.pop(door.id, None)
            watcher.cancel()
            await driver.close()

    def check_journal(self) -> Verification:
        """At every start: the chain against its anchor and the site's witness file, each problem named
        in the log and kept as an open `journal_tampered` finding; the appliance runs on regardless."""
        self.app.journal.check_head()  # a tip that is not the anchored head is journaled as an alarm
        try:
            heads = self.app.witness_heads()
        except WitnessError as error:
            log.error("journal witness unreadable: %s", error)
            heads = []
        result = self.app.journal.verify(witness=heads)
        for problem in result.problems:
            log.error("journal %s: %s", problem.status, problem.reason)
        if not result.ok:
            self.findings.record(Finding(
                FindingKind.JOURNAL_TAMPERED, "journal", "; ".join(p.reason for p in result.problems),
                details={"statuses": [p.status for p in result.problems], "head_seq": result.head_seq}))
        else:
            log.info("journal ok: %s entries, head %s %s (key id %s)", result.entries, result.head_seq,
                     result.head_hash, result.key_id)
        return result

    def _held_driver(self, request: dict[str, Any]) -> Any:
        door_id = str(request.get("door"))
        self.app.site.door(door_id)  # KeyError naming an unknown door
        driver = self.door_drivers.get(door_id)
        if driver is None:
            raise DeviceError(FindingKind.UNREACHABLE, N_("the appliance has no link to door {door!r} right now",
                                                          door=door_id))
        return driver

    async def _control_door_open(self, request: dict[str, Any]) -> dict[str, Any]:
        async def opening() -> None:
            seconds = request.get("seconds")
            await manual_open(self.app, str(request.get("actor")), str(request.get("door")),
                              float(seconds) if seconds is not None else None, driver=self._held_driver(request))

        return await answered(opening())

    async def _control_door_status(self, request: dict[str, Any]) -> dict[str, Any]:
        async def reading() -> dict[str, Any]:
            return await door_state(str(request.get("door")), self._held_driver(request))

        return await answered(reading())

    async def _control_footage_export(self, request: dict[str, Any]) -> dict[str, Any]:
        """An export made by the appliance (R9): a kill part-way is cleaned up at its next start."""
        async def exporting() -> dict[str, Any]:
            request_id = request.get("request")
            if not isinstance(request_id, int):
                raise ValueError(f"not a request id: {request_id!r}")  # noqa: TRY004 -- a usage error in the reply
            with self.keeping_evidence(N_("export"), errors=(sqlite3.Error,)):
                return await Footage(self.app).export(str(request.get("actor")), request_id)

        return await answered(exporting())

    def recover_exports(self) -> None:
        """Exports a killed appliance left half-made are removed and journaled, never listed (R9)."""
        try:
            with self.keeping_evidence(N_("export recovery")):
                recovered = Footage(self.app).recover_interrupted()
        except (sqlite3.Error, OSError) as error:  # the store_failed finding says it; the run goes on
            log.error("export recovery: %s", error)
            return
        if recovered:
            log.warning("interrupted exports cleaned up for requests %s", ", ".join(map(str, recovered)))

    async def _control_ping(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "pid": os.getpid(), "site": self.app.site.name}

    async def start(self) -> None:
        await self.control.start()  # AlreadyRunning before anything is journaled or any device touched
        self.check_journal()
        killed = self._previous_run_was_killed()
        self.app.journal.append("operation", "watchkeeper", "appliance", {
            "event": "start", "pid": os.getpid(), "previous_run_stopped_cleanly": not killed})
        self.recover_exports()
        if self.app.site.distributed is not None:  # intents a dead run left unread in Redis (R9), beside the start
            from watchkeeper.rules import dispatch

            self.tasks.append(asyncio.create_task(dispatch.recover_intents(self.app)))
        await self.run_check_named("clock")  # R7: the clock is checked at every start
        for name, at in NIGHTLY.items():
            self.tasks.append(asyncio.create_task(_forever(name, lambda n=name, a=at: self._scheduled(n, a))))
        self.tasks.append(asyncio.create_task(_forever("daily report", self._daily_report)))
        for name in HOURLY:
            self.tasks.append(asyncio.create_task(_forever(name, lambda n=name: self._hourly(n))))
        for text in self.app.site.policies.inspection_times:
            at = time.fromisoformat(text)
            self.tasks.append(asyncio.create_task(_forever(f"inspection {text}", lambda a=at: self._scheduled("inspection", a))))
        for device_id, endpoint in self.app.devices():
            self.tasks.append(asyncio.create_task(
                _forever(f"events {device_id}", lambda d=device_id, e=endpoint: self._events(d, e))))
        for door in self.app.site.doors:
            if self.app.platforms[door.platform].door_driver is not None:
                self.tasks.append(asyncio.create_task(_forever(f"door {door.id}", lambda d=door: self._door(d))))
        if self.app.site.backup is not None:
            self.tasks.append(asyncio.create_task(_forever("backup", self._nightly_backup)))
        if self.app.site.estate is not None:  # store-and-forward: a dead estate only lengthens the outbox
            from watchkeeper.faces.estate.push import Pusher

            self.tasks.append(asyncio.create_task(_forever("estate push", Pusher(self.app, self.app.site.estate).run)))
        self.tasks.append(asyncio.create_task(_forever("store watch", self._watch_store)))
        interval = systemd.watchdog_interval()
        if interval is not None:
            self.tasks.append(asyncio.create_task(self._watchdog(interval)))
        systemd.notify(f"READY=1\nSTATUS=watching {len(self.app.site.cameras)} cameras")

    async def stop(self, reason: str = N_("stopped")) -> None:
        systemd.notify("STOPPING=1")
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.control.stop()
        try:
            self.app.journal.append("operation", "watchkeeper", "appliance", {"event": "stop", "reason": reason})
        except JournalTampered as error:  # the alarm took its place; stopping goes on
            log.error("%s", error)


async def run_until(app: App, stop: asyncio.Event, ready: Callable[[], None] = lambda: None) -> None:
    appliance = Appliance(app)
    await appliance.start()
    ready()
    try:
        await stop.wait()
    finally:
        await appliance.stop()
