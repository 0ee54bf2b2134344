"""`watchkeeper demo`: a small simulated site with injected faults, every rule run once, a report."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs

from watchkeeper.rules.door_service import Access, serve_door, wait_online
from watchkeeper.host import open_site
from watchkeeper.site.app import App
from watchkeeper.rules.runner import collect_checks, run_check
from watchkeeper.simulation.faults import FaultProfile, ImageFault
from watchkeeper.core.models import Endpoint
from watchkeeper.host.pluginhost import collect_platforms, load_plugins
from watchkeeper.faces.report import build_report
from watchkeeper.faces.report_render import publish, write_report
from watchkeeper.rules import daybook, inspection, maintenance, review, scope
from watchkeeper.rules.footage import Footage
from watchkeeper.simulation.ntp import SntpServer
from watchkeeper.core.i18n import N_, _, localize


@attrs.frozen
class DemoCamera:
    id: str
    platforms: tuple[str, ...]
    location: str
    purpose: str
    zone: str
    fault: Callable[[datetime], FaultProfile] | None = None
    #: The finding the fault must produce (and nothing else may appear).
    expected: str | None = None
    nvr_channel: int | None = None


#: The default site: one camera per platform at least, a recorder, and a handful of faults.
PLAN: tuple[DemoCamera, ...] = (
    DemoCamera("lobby", ("onvif", "hikvision"), N_("Main lobby"), N_("people entering and leaving"), "public"),
    DemoCamera("gate", ("onvif", "hikvision"), N_("Vehicle gate"), N_("number plates"), "perimeter",
               lambda now: FaultProfile(image=[ImageFault.BLUR]), "blurred"),
    DemoCamera("car-park", ("hikvision",), N_("Car park"), N_("vehicles and pedestrians"), "perimeter",
               lambda now: FaultProfile(clock_offset=45), "clock_offset"),
    DemoCamera("back-door", ("hikvision",), N_("Back door"), N_("deliveries"), "perimeter",
               lambda now: FaultProfile(wrong_password=True), "auth_failed"),
    DemoCamera("stairs", ("dahua", "hikvision"), N_("Stairwell B"), N_("emergency exit"), "inside",
               lambda now: FaultProfile(image=[ImageFault.DARK]), "too_dark"),
    DemoCamera("server-room", ("dahua", "hikvision"), N_("Server room"), N_("equipment access"), "restricted"),
    DemoCamera("store-1", ("hikvision",), N_("Store room 1"), N_("stock"), "inside", nvr_channel=1),
    DemoCamera("store-2", ("hikvision",), N_("Store room 2"), N_("stock"), "inside",
               lambda now: FaultProfile(gaps=((now - timedelta(hours=7), now - timedelta(hours=6)),)),
               "recording_gap", nvr_channel=2),
)
STAFF_BADGE, STRANGER_BADGE, VISITOR_BADGE = "12345", "99999", "7001"


def plan(cameras: int | None, available: set[str]) -> list[tuple[DemoCamera, str]]:
    """The cameras to simulate, each with the first of its platforms that is installed."""
    chosen = list(PLAN)
    for index in range(len(PLAN), cameras or 0):
        chosen.append(DemoCamera(f"extra-{index + 1:03d}", ("onvif", "hikvision", "dahua")[index % 3:] + ("hikvision",),
                                 N_("Area {number}", number=index + 1), N_("general surveillance"), "inside"))
    result = []
    for camera in chosen[: max(cameras or len(PLAN), 1)] if cameras and cameras < len(PLAN) else chosen:
        platform = next((p for p in camera.platforms if p in available), None)
        if platform is not None:
            result.append((camera, platform))
    return result


def write_secret(folder: Path, name: str, value: str) -> Path:
    path = folder / "secrets" / name
    path.parent.mkdir(exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(value + "\n")
    return path


def site_toml(direct: dict[str, tuple[str, Endpoint]], nvr: Endpoint | None, chosen: list[tuple[DemoCamera, str]],
              door: Endpoint | None, ntp: str) -> str:
    # The demo runs offline: its standard time is a simulated NTP server, as its devices are simulated.
    # The demo's own words (places, names, notes) are in the reader's language: a Chinese demo is a Chinese site.
    lines = ['[site]', 'name = "' + _("Demo site") + '"', 'time_zone = "Asia/Shanghai"', 'store = "data/watchkeeper.db"',
             'journal_key = "secrets/journal.key"', 'exports_dir = "exports"', '',
             '[policies]', 'inspection_frames = 3', 'frame_interval_seconds = 0.2', f'ntp_servers = ["{ntp}"]',
             # A demo, run by one person at one desk: the CLI takes --actor on trust, journaled each
             # time (docs/logins.md); a real site gives people passwords or os_user mappings.
             'trust_actor = true', '']
    if nvr is not None:
        lines += ['[[recorders]]', 'id = "nvr"', 'platform = "hikvision"', 'host = "127.0.0.1"',
                  f'port = {nvr.port}', 'username = "admin"', 'password = "file:secrets/devices.pass"', '']
    for camera, platform in chosen:
        lines += ['[[cameras]]', f'id = "{camera.id}"', f'location = "{localize(camera.location)}"',
                  f'purpose = "{localize(camera.purpose)}"', f'zone = "{camera.zone}"']
        if camera.nvr_channel is not None:
            lines += ['recorder = "nvr"', f'recorder_channel = {camera.nvr_channel}']
        else:
            endpoint = direct[camera.id][1]
            lines += [f'platform = "{platform}"', 'host = "127.0.0.1"', f'port = {endpoint.port}',
                      'username = "admin"', 'password = "file:secrets/devices.pass"']
        lines.append('')
    if door is not None:
        lines += ['[[doors]]', 'id = "room-door"', 'name = "' + _("Monitoring room") + '"', 'platform = "osdp"',
                  'host = "127.0.0.1"', f'port = {door.port}', 'scbk = "file:secrets/reader.key"',
                  'strike_seconds = 1', '']
    lines += ['[[people]]', 'id = "li"', 'name = "' + _("Li Wei") + '"', 'roles = ["operator"]',
              f'badges = ["{STAFF_BADGE}"]', 'trained_on = 2025-03-01', '', '[[people]]', 'id = "zhang"',
              'name = "' + _("Zhang Min") + '"', 'roles = ["supervisor"]', 'badges = ["22222"]', 'trained_on = 2024-09-01', '',
              '[[people]]', 'id = "wang"', 'name = "' + _("Wang Fang") + '"', 'roles = ["maintenance"]', '',
              # Who sets the first password (`watchkeeper people passwd chen`) and then the others'.
              '[[people]]', 'id = "chen"', 'name = "' + _("Chen Jie") + '"', 'roles = ["administrator"]', '']
    # R5: Li Wei is on duty for both shifts, so the demo signs whenever it runs.
    lines += ['[[duty]]', 'shift = "08:00"', 'operators = ["li"]', '', '[[duty]]', 'shift = "20:00"',
              'operators = ["li"]', '']
    return "\n".join(lines)


async def run_demo(folder: Path, cameras: int | None = None, keep_running: bool = False,
                   say: Callable[[str], None] = print, sign: bool = True) -> dict[str, Any]:
    """Start the simulators, write the site, run every rule once, write the report; return a summary.

    `sign=False` leaves the inspection run unsigned, for the operator to sign in the console."""
    platforms = collect_platforms(load_plugins())
    folder.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    reader_key = secrets.token_hex(16)
    write_secret(folder, "devices.pass", password)
    write_secret(folder, "reader.key", reader_key)
    chosen = plan(cameras, set(platforms))
    direct_cameras = [(c, p) for c, p in chosen if c.nvr_channel is None]
    async with contextlib.AsyncExitStack() as stack:
        direct: dict[str, tuple[str, Any]] = {}
        for platform in sorted({p for _, p in direct_cameras}):
            group = [c for c, p in direct_cameras if p == platform]
            factory = platforms[platform].simulator
            try:
                # Video streams, where a simulator can serve them, let the inspection replay recordings.
                context = factory(password=password, devices=len(group), rtsp="auto")
            except TypeError:  # this simulator has no RTSP option
                context = factory(password=password, devices=len(group))
            devices = await stack.enter_async_context(context)
            direct.update({camera.id: (platform, device) for camera, device in zip(group, devices)})
        nvr = None
        if any(c.nvr_channel for c, _ in chosen):
            (nvr,) = await stack.enter_async_context(platforms["hikvision"].simulator(
                password=password, channels=max(c.nvr_channel or 0 for c, _ in chosen)))
        reader = None
        if "osdp" in platforms:
            (reader,) = await stack.enter_async_context(platforms["osdp"].simulator(password=reader_key))
        ntp = stack.enter_context(SntpServer())
        (folder / "site.toml").write_text(site_toml(
            {k: (p, d.endpoint) for k, (p, d) in direct.items()}, nvr.endpoint if nvr else None, chosen,
            reader.endpoint if reader else None, ntp.address), encoding="utf-8")
        app = open_site(folder / "site.toml")
        stack.callback(app.close)
        say(_("site written to {path}; {count} cameras on {platforms}").format(
            path=folder / "site.toml", count=len(chosen), platforms=", ".join(sorted({p for _, p in chosen}))))
        await commission(app, say)
        now = datetime.now(timezone.utc)
        injected = {}
        for camera, _platform in chosen:
            if camera.fault is None:
                continue
            profile = camera.fault(now)
            if camera.nvr_channel is not None:
                nvr.set_faults(profile, channel=camera.nvr_channel)
            else:
                direct[camera.id][1].set_faults(profile)
            injected[camera.id] = camera.expected
        say(_("injected faults: {faults}").format(faults=", ".join(f"{k}={v}" for k, v in injected.items())))
        await daily_rules(app, say, sign)
        if reader is not None:
            await room_door(app, reader, say)
        await retrieval(app, chosen, say)
        audit = await run_check(app, collect_checks(app.pm)["device_audit"], "watchkeeper")
        read = app.store.conn.execute("SELECT count(*) FROM device_log_entries WHERE action != 'other'").fetchone()[0]
        say(_("recorders' own logs read: {read} entries, {count} without an approval behind them").format(
            read=read, count=len(audit.findings)))
        seq = daybook.close_day(app, "li", _("shift inspected, faults reported to Zhang Min, one approved export"))
        say(_("day closed by li with a signed daily summary (journal entry {seq})").format(seq=seq))
        await supervision(app, folder / "reports" / "reviewed", say)
        report = build_report(app, "day")
        paths = write_report(report, app.site.zone, folder / "reports", ("html", "json"))
        say(_("report: {path}").format(path=paths[0]))
        if keep_running:
            from watchkeeper.faces.service import run_until
            from watchkeeper.faces.web import serve

            runner, url = await serve(app, "127.0.0.1", 0)
            stack.push_async_callback(runner.cleanup)
            say(_("dashboard at {url}, console at {url}console/; appliance and simulators running; Ctrl-C stops").format(
                url=url))
            stop = asyncio.Event()
            with contextlib.suppress(NotImplementedError):
                import signal

                for sig in (signal.SIGINT, signal.SIGTERM):
                    asyncio.get_running_loop().add_signal_handler(sig, stop.set)
            await run_until(app, stop)
        return {"folder": str(folder), "report": [str(p) for p in paths], "injected": injected,
                "clauses": report["clauses"], "findings": report["findings"]}


async def commission(app: App, say: Callable[[str], None]) -> None:
    """Capture every camera's healthy view as its reference, as an installer does at commissioning."""
    for camera in app.site.cameras:
        endpoint, channel = inspection.source_of(app, camera)
        driver = app.driver(endpoint)
        try:
            data = await driver.snapshot(channel)
        finally:
            await driver.close()
        app.store.db["baselines"].upsert({"camera": camera.id, "captured_at": datetime.now(timezone.utc).isoformat(),
                                          "captured_by": "li", "jpeg": data}, pk="camera")
    app.journal.append("inspection", "li", "site", {"baseline": "captured", "cameras": len(app.site.cameras)})
    approved = scope.approve(app, "zhang", note=_("scope as surveyed at commissioning"))
    say(_("commissioning: reference views captured for {count} cameras; scope of {approved} approved by zhang").format(
        count=len(app.site.cameras), approved=len(approved)))


async def daily_rules(app: App, say: Callable[[str], None], sign: bool = True) -> None:
    checks = collect_checks(app.pm)
    for task in app.site.maintenance:
        tick = maintenance.tick(app, "wang" if task.every == "weekly" else "li", task.id, _("demo"))
        if task.countersign:
            maintenance.countersign(app, "zhang", tick, _("checked the room"))
    result = await run_check(app, checks["inspection"], "li")
    faulty = app.store.db["inspection_results"].rows_where("run = ? AND status = 'fault'", [result.summary["run"]])
    notes = {row["camera"]: (_("work order raised with the installer"), "zhang") for row in faulty}
    run = result.summary["run"]
    if sign:
        inspection.sign(app, "li", run, _("faults reported to Zhang Min"), notes)
    counts = {"run": run, "ok": result.summary["ok"], "warning": result.summary["warning"],
              "fault": result.summary["fault"]}
    say((_("playback check {run}: {ok} ok, {warning} warning, {fault} fault; signed by li") if sign else
         _("playback check {run}: {ok} ok, {warning} warning, {fault} fault; left for the operator to sign")).format(**counts))
    for name in ("clock", "retention", "maintenance", "inspection_signed"):
        await run_check(app, checks[name], "watchkeeper")
    say(_("clock, retention and maintenance checked"))


async def supervision(app: App, folder: Path, say: Callable[[str], None]) -> None:
    """R10: the supervisor reads the day's report (no review yet: R10 has no evidence) and signs it."""
    paths = publish(app, "day", None, ("html", "json"), folder)
    before = json.loads(next(p for p in paths if p.suffix == ".json").read_text(encoding="utf-8"))
    status = next(c["status"] for c in before["clauses"] if c["clause"] == "R10")
    review_id = review.sign(app, "zhang", review.report_entry(app)["seq"],
                            _("inspection faults assigned for repair; retrieval reasons checked against the cases"),
                            [_("repair the gate camera's focus"), _("check the car park camera's NTP setting")])
    say(_("R10 before the review: {status}; review {id} signed by zhang").format(status=_(status), id=review_id))


async def room_door(app: App, reader: Any, say: Callable[[str], None]) -> None:
    """A staff entry, a refused stranger, and a registered, approved visitor at the room door."""
    door = app.site.doors[0]
    driver = app.door_driver(door.id)
    access = Access(app)
    now = datetime.now(timezone.utc)
    visitor = access.register_visitor("li", _("Chen Jie"), _("City Fire Department"), _("annual fire inspection"), "li",
                                      now - timedelta(minutes=5), now + timedelta(hours=2), badge=VISITOR_BADGE)
    access.decide_visitor("zhang", visitor, approve=True)
    server = asyncio.create_task(serve_door(access, door.id, driver, door.strike_seconds))
    try:
        await wait_online(driver)
        for badge in (STAFF_BADGE, STRANGER_BADGE, VISITOR_BADGE):
            await reader.present_card(badge)
        for _attempt in range(200):
            if app.store.db["access_events"].count >= 3:
                break
            await asyncio.sleep(0.05)
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server
        await driver.close()
    decisions = [(_("allowed") if e["allowed"] else _("refused")) for e in app.store.db["access_events"].rows]
    say(_("room door: staff, stranger, visitor → {decisions}").format(decisions=_(", ").join(decisions)))


async def retrieval(app: App, chosen: list[tuple[DemoCamera, str]], say: Callable[[str], None]) -> None:
    footage = Footage(app)
    # A camera whose recordings can be exported as a file: on the NVR, else on a Hikvision or Dahua camera.
    exportable = [c.id for c, p in chosen if c.nvr_channel == 1] + [
        c.id for c, p in chosen if c.nvr_channel is None and p in ("hikvision", "dahua") and c.fault is None]
    if not exportable:
        say(_("footage retrieval skipped: no camera in this site can export clips"))
        return
    camera = exportable[0]
    start = datetime.now(timezone.utc) - timedelta(days=1)
    request = footage.request("li", camera, start, start + timedelta(seconds=20), _("lost property report"), "INC-0042")
    footage.decide("zhang", request, approve=True, note=_("approved for the lost property case"))
    manifest = await footage.export("li", request)
    say(_("footage request {id}: approved by zhang, exported {name} sha256 {sha}…").format(
        id=request, name=manifest["files"][0]["name"], sha=manifest["files"][0]["sha256"][:16]))
