"""`watchkeeper demo`: a small simulated site with injected faults, every rule run once, a report."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs

from .access import Access, serve_door, wait_online
from .app import App
from .checks import collect_checks, run_check
from .faults import FaultProfile, ImageFault
from .models import Endpoint
from .pluginhost import collect_platforms, load_plugins
from .report import build_report
from .report_render import write_report
from .rules import inspection, maintenance
from .rules.footage import Footage


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
    DemoCamera("lobby", ("onvif", "hikvision"), "Main lobby", "people entering and leaving", "public"),
    DemoCamera("gate", ("onvif", "hikvision"), "Vehicle gate", "number plates", "perimeter",
               lambda now: FaultProfile(image=[ImageFault.BLUR]), "blurred"),
    DemoCamera("car-park", ("hikvision",), "Car park", "vehicles and pedestrians", "perimeter",
               lambda now: FaultProfile(clock_offset=45), "clock_offset"),
    DemoCamera("back-door", ("hikvision",), "Back door", "deliveries", "perimeter",
               lambda now: FaultProfile(wrong_password=True), "auth_failed"),
    DemoCamera("stairs", ("dahua", "hikvision"), "Stairwell B", "emergency exit", "inside",
               lambda now: FaultProfile(image=[ImageFault.DARK]), "too_dark"),
    DemoCamera("server-room", ("dahua", "hikvision"), "Server room", "equipment access", "restricted"),
    DemoCamera("store-1", ("hikvision",), "Store room 1", "stock", "inside", nvr_channel=1),
    DemoCamera("store-2", ("hikvision",), "Store room 2", "stock", "inside",
               lambda now: FaultProfile(gaps=((now - timedelta(hours=7), now - timedelta(hours=6)),)),
               "recording_gap", nvr_channel=2),
)
STAFF_BADGE, STRANGER_BADGE, VISITOR_BADGE = "12345", "99999", "7001"


def plan(cameras: int | None, available: set[str]) -> list[tuple[DemoCamera, str]]:
    """The cameras to simulate, each with the first of its platforms that is installed."""
    chosen = list(PLAN)
    for index in range(len(PLAN), cameras or 0):
        chosen.append(DemoCamera(f"extra-{index + 1:03d}", ("onvif", "hikvision", "dahua")[index % 3:] + ("hikvision",),
                                 f"Area {index + 1}", "general surveillance", "inside"))
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
              door: Endpoint | None) -> str:
    lines = ['[site]', 'name = "Demo site"', 'time_zone = "Asia/Shanghai"', 'store = "data/watchkeeper.db"',
             'journal_key = "secrets/journal.key"', 'exports_dir = "exports"', '',
             '[policies]', 'inspection_frames = 3', 'frame_interval_seconds = 0.2', '']
    if nvr is not None:
        lines += ['[[recorders]]', 'id = "nvr"', 'platform = "hikvision"', 'host = "127.0.0.1"',
                  f'port = {nvr.port}', 'username = "admin"', 'password = "file:secrets/devices.pass"', '']
    for camera, platform in chosen:
        lines += ['[[cameras]]', f'id = "{camera.id}"', f'location = "{camera.location}"',
                  f'purpose = "{camera.purpose}"', f'zone = "{camera.zone}"']
        if camera.nvr_channel is not None:
            lines += ['recorder = "nvr"', f'recorder_channel = {camera.nvr_channel}']
        else:
            endpoint = direct[camera.id][1]
            lines += [f'platform = "{platform}"', 'host = "127.0.0.1"', f'port = {endpoint.port}',
                      'username = "admin"', 'password = "file:secrets/devices.pass"']
        lines.append('')
    if door is not None:
        lines += ['[[doors]]', 'id = "room-door"', 'name = "Monitoring room"', 'platform = "osdp"',
                  'host = "127.0.0.1"', f'port = {door.port}', 'scbk = "file:secrets/reader.key"',
                  'strike_seconds = 1', '']
    lines += ['[[people]]', 'id = "li"', 'name = "Li Wei"', 'roles = ["operator"]', f'badges = ["{STAFF_BADGE}"]',
              'trained_on = 2025-03-01', '', '[[people]]', 'id = "zhang"', 'name = "Zhang Min"',
              'roles = ["supervisor"]', 'badges = ["22222"]', 'trained_on = 2024-09-01', '',
              '[[people]]', 'id = "wang"', 'name = "Wang Fang"', 'roles = ["maintenance"]', '']
    return "\n".join(lines)


async def run_demo(folder: Path, cameras: int | None = None, keep_running: bool = False,
                   say: Callable[[str], None] = print) -> dict[str, Any]:
    """Start the simulators, write the site, run every rule once, write the report; return a summary."""
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
        (folder / "site.toml").write_text(site_toml(
            {k: (p, d.endpoint) for k, (p, d) in direct.items()}, nvr.endpoint if nvr else None, chosen,
            reader.endpoint if reader else None), encoding="utf-8")
        app = App.open(folder / "site.toml")
        stack.callback(app.close)
        say(f"site written to {folder / 'site.toml'}; {len(chosen)} cameras on "
            f"{', '.join(sorted({p for _, p in chosen}))}")
        await commission(app, say)
        now = datetime.now(timezone.utc)
        injected = {}
        for camera, _ in chosen:
            if camera.fault is None:
                continue
            profile = camera.fault(now)
            if camera.nvr_channel is not None:
                nvr.set_faults(profile, channel=camera.nvr_channel)
            else:
                direct[camera.id][1].set_faults(profile)
            injected[camera.id] = camera.expected
        say(f"injected faults: {', '.join(f'{k}={v}' for k, v in injected.items())}")
        await daily_rules(app, say)
        if reader is not None:
            await room_door(app, reader, say)
        await retrieval(app, chosen, say)
        report = build_report(app, "day")
        paths = write_report(report, app.site.zone, folder / "reports", ("html", "json"))
        say(f"report: {paths[0]}")
        if keep_running:
            from .appliance import run_until
            from .web import serve

            runner, url = await serve(app, "127.0.0.1", 0)
            stack.push_async_callback(runner.cleanup)
            say(f"dashboard at {url}; appliance and simulators running; Ctrl-C stops")
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
    say(f"commissioning: reference views captured for {len(app.site.cameras)} cameras")


async def daily_rules(app: App, say: Callable[[str], None]) -> None:
    checks = collect_checks(app.pm)
    for task in app.site.maintenance:
        maintenance.tick(app, "wang" if task.every == "weekly" else "li", task.id, "demo")
    result = await run_check(app, checks["inspection"], "li")
    run = inspection.sign(app, "li", result.summary["run"], "faults reported to Zhang Min")
    say(f"inspection run {run}: {result.summary['ok']} ok, {result.summary['warning']} warning, "
        f"{result.summary['fault']} fault; signed by li")
    for name in ("clock", "retention", "maintenance", "inspection_signed"):
        await run_check(app, checks[name], "watchkeeper")
    say("clock, retention and maintenance checked")


async def room_door(app: App, reader: Any, say: Callable[[str], None]) -> None:
    """A staff entry, a refused stranger, and a registered, approved visitor at the room door."""
    door = app.site.doors[0]
    driver = app.door_driver(door.id)
    access = Access(app)
    now = datetime.now(timezone.utc)
    visitor = access.register_visitor("li", "Chen Jie", "City Fire Department", "annual fire inspection", "li",
                                      now - timedelta(minutes=5), now + timedelta(hours=2), badge=VISITOR_BADGE)
    access.decide_visitor("zhang", visitor, approve=True)
    server = asyncio.create_task(serve_door(access, door.id, driver, door.strike_seconds))
    try:
        await wait_online(driver)
        for badge in (STAFF_BADGE, STRANGER_BADGE, VISITOR_BADGE):
            await reader.present_card(badge)
        for _ in range(200):
            if app.store.db["access_events"].count >= 3:
                break
            await asyncio.sleep(0.05)
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server
        await driver.close()
    decisions = [("allowed" if e["allowed"] else "refused") for e in app.store.db["access_events"].rows]
    say(f"room door: staff, stranger, visitor → {', '.join(decisions)}")


async def retrieval(app: App, chosen: list[tuple[DemoCamera, str]], say: Callable[[str], None]) -> None:
    footage = Footage(app)
    # A camera whose recordings can be exported as a file: on the NVR, else on a Hikvision or Dahua camera.
    exportable = [c.id for c, p in chosen if c.nvr_channel == 1] + [
        c.id for c, p in chosen if c.nvr_channel is None and p in ("hikvision", "dahua") and c.fault is None]
    if not exportable:
        say("footage retrieval skipped: no camera in this site can export clips")
        return
    camera = exportable[0]
    start = datetime.now(timezone.utc) - timedelta(days=1)
    request = footage.request("li", camera, start, start + timedelta(seconds=20), "lost property report", "INC-0042")
    footage.decide("zhang", request, approve=True, note="approved for the lost property case")
    manifest = await footage.export("li", request)
    say(f"footage request {request}: approved by zhang, exported {manifest['files'][0]['name']} "
        f"sha256 {manifest['files'][0]['sha256'][:16]}…")
