"""A Dahua camera or NVR on loopback: the CGI API with digest auth, find sessions, events, faults."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone

import attrs
from aiohttp import web

from watchkeeper.simulation import scenes
from watchkeeper.simulation.faults import FaultProfile
from watchkeeper.core.models import AuditAction, DeviceEventKind, Endpoint
from watchkeeper.simulation.simhttp import HttpDevice, device_middleware, start_site

from . import cgi, simfiles
from .events import BOUNDARY, KIND_CODES, encode_part, event_body
from .simfiles import bad_request, kv_reply, ok
from .simstate import LogEntry, RecordedFile, Sessions, device_zone

#: The log Type an operation at the device's own console leaves (Dahua's record log types).
CONSOLE_TYPES = {AuditAction.PLAYBACK: "Playback", AuditAction.EXPORT: "Backup", AuditAction.DOWNLOAD: "Download",
                 AuditAction.DELETION: "DeleteFile"}


class SimulatedDahua:
    """One device: `endpoint`, `set_faults`, `trigger_event`, `reboot`, and the request log."""

    def __init__(self, index: int, username: str, password: str, channels: int = 1) -> None:
        self.index, self.channels = index, channels
        self.nvr = channels > 1
        self.serial = f"7J0{index:04d}PAZ{channels:03d}"
        self.model = "DHI-NVR4216-16P-4KS2" if self.nvr else "IPC-HDW5831R-ZE"
        self.http = HttpDevice(username, password, realm=f"Login to {self.serial}")
        self.channel_faults: dict[int, FaultProfile] = {}
        self.sessions = Sessions()
        self.ntp = {"Address": "time.windows.com", "Enable": "false", "Port": "123", "UpdatePeriod": "10"}
        self.log: list[LogEntry] = [LogEntry(datetime.now(timezone.utc), "Reboot", "System", "")]
        self.served_files: dict[str, RecordedFile] = {}
        self.subscribers: set[asyncio.Queue[str | None]] = set()
        self.endpoint = Endpoint("dahua", "127.0.0.1", 0, username, password, device_id=f"dahua-sim-{index}")
        self._runner: web.AppRunner | None = None

    # --- the SimulatedDevice contract ----------------------------------------------------------

    @property
    def faults(self) -> FaultProfile:
        return self.http.faults

    def set_faults(self, faults: FaultProfile, channel: int | None = None) -> None:
        if channel is None:
            self.http.faults = faults
            self.channel_faults.clear()
        else:
            self.channel_faults[channel] = faults

    def scene_seed(self, channel: int) -> int:
        """The channel's scene, the same one its snapshots show."""
        return self.index * 100 + int(channel)

    def faults_for(self, channel: int) -> FaultProfile:
        return self.channel_faults.get(channel, self.http.faults)

    async def trigger_event(self, kind: DeviceEventKind, channel: int, action: str = "Start") -> None:
        if kind is DeviceEventKind.REBOOT:
            await self.reboot()
            return
        now = datetime.now(timezone.utc)
        data = {"UTC": int(now.timestamp()), "LocaleTime": cgi.format_device_time(now, self.zone())}
        self.publish(event_body(KIND_CODES.get(kind, "VideoMotion"), action, channel - 1, data))

    def publish(self, body: str) -> None:
        for queue in list(self.subscribers):
            queue.put_nowait(body)

    async def reboot(self, downtime: float = 1.0) -> None:
        """Drop every event stream and refuse connections for `downtime` seconds, as a reboot does."""
        for queue in list(self.subscribers):
            queue.put_nowait(None)
        saved = self.http.faults
        self.http.faults = FaultProfile(offline=True)
        await asyncio.sleep(downtime)
        self.http.faults = saved
        self.log.append(LogEntry(datetime.now(timezone.utc), "Reboot", "System", ""))

    def console(self, action: AuditAction | str, channel: int, user: str = "admin",
                start: datetime | None = None, end: datetime | None = None) -> None:
        """Someone at the recorder's own monitor plays back, backs up to USB or deletes recordings of a
        channel: the device logs it (Detail.Type `Local`), and deleted recordings are gone."""
        action = AuditAction(action)
        if action is AuditAction.DELETION:
            end = end or datetime.now(timezone.utc)
            start = start or end - timedelta(hours=1)
            profile = self.faults_for(channel)
            self.set_faults(attrs.evolve(profile, gaps=profile.gaps + ((start, end),)), channel=channel)
        self.log.append(LogEntry(datetime.now(timezone.utc), CONSOLE_TYPES[action], user, "", "Local", channel))

    # --- state the handlers read ---------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + timedelta(seconds=self.http.faults.clock_offset)

    def zone_index(self) -> int:
        return device_zone(self.http.faults, datetime.now(timezone.utc))

    def zone(self) -> timezone:
        return cgi.zone(self.zone_index())

    def mount(self) -> str:
        return "/mnt/dvr/sda0" if self.nvr else "/mnt/sd"

    def local(self, text: str) -> datetime | None:
        try:
            return cgi.parse_device_time(text, self.zone(), "sim")
        except Exception:
            return None

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> None:
        app = web.Application(middlewares=[device_middleware(lambda request: self.http)])
        app.router.add_get("/cgi-bin/{name}", self.dispatch)
        app.router.add_get("/cgi-bin/RPC_Loadfile/{path:.*}", functools.partial(simfiles.load_file, self))
        self._runner, bound = await start_site(app, host, port)
        self.endpoint = Endpoint("dahua", host, bound, self.http.username, self.http.password,
                                 device_id=self.endpoint.device_id)

    async def stop(self) -> None:
        for queue in list(self.subscribers):
            queue.put_nowait(None)
        if self._runner is not None:
            await self._runner.cleanup()

    # --- CGI -----------------------------------------------------------------------------------

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        name, action = request.match_info["name"], request.query.get("action", "")
        handler = ROUTES.get((name, action))
        if handler is None:
            return bad_request()
        return await handler(self, request)

    def user(self, request: web.Request) -> str:
        return self.http.username

    async def system_info(self, request: web.Request) -> web.Response:
        return kv_reply({"appAutoStart": "true", "deviceType": self.model, "hardwareVersion": "1.00",
                         "processor": "S3LM", "serialNumber": self.serial, "updateSerial": self.model})

    async def device_type(self, request: web.Request) -> web.Response:
        return kv_reply({"type": self.model})

    async def software_version(self, request: web.Request) -> web.Response:
        return kv_reply({"version": "2.800.0000000.16.R,build:2021-07-19"})

    async def serial_no(self, request: web.Request) -> web.Response:
        return kv_reply({"sn": self.serial})

    async def machine_name(self, request: web.Request) -> web.Response:
        return kv_reply({"name": f"watchkeeper-sim-{self.index}"})

    async def vendor(self, request: web.Request) -> web.Response:
        return kv_reply({"vendor": "Dahua"})

    async def hardware_version(self, request: web.Request) -> web.Response:
        return kv_reply({"version": "1.00"})

    async def video_inputs(self, request: web.Request) -> web.Response:
        return kv_reply({"result": self.channels})

    async def current_time(self, request: web.Request) -> web.Response:
        return kv_reply({"result": cgi.format_device_time(self.now(), self.zone())})

    async def set_current_time(self, request: web.Request) -> web.Response:
        wanted = self.local(request.query.get("time", ""))
        if wanted is None:
            return bad_request()
        self.http.faults.clock_offset = (wanted - datetime.now(timezone.utc)).total_seconds()
        self.log.append(LogEntry(datetime.now(timezone.utc), "SetTime", self.user(request), request.remote or ""))
        return ok()

    async def get_config(self, request: web.Request) -> web.Response:
        if request.query.get("name") != "NTP":
            return bad_request()
        index = self.zone_index()
        table = dict(self.ntp, TimeZone=index, TimeZoneDesc=cgi.zone_name(index))
        return kv_reply([(f"table.NTP.{key}", table[key]) for key in sorted(table)])

    async def set_config(self, request: web.Request) -> web.Response:
        changes = {k.removeprefix("NTP."): v for k, v in request.query.items() if k.startswith("NTP.")}
        if not changes or not set(changes) <= {"Address", "Enable", "Port", "UpdatePeriod", "TimeZone"}:
            return bad_request()
        self.ntp.update({k: v for k, v in changes.items() if k != "TimeZone"})
        self.log.append(LogEntry(datetime.now(timezone.utc), "SaveConfig", self.user(request), request.remote or ""))
        return ok()

    async def snapshot(self, request: web.Request) -> web.Response:
        channel = request.query.get("channel", "1")
        if not channel.isdigit() or not 1 <= int(channel) <= self.channels:
            return bad_request()
        profile = self.faults_for(int(channel))
        if profile.picture is not None:
            return web.Response(body=scenes.hostile_picture(profile.picture), content_type="image/jpeg")
        faults = profile.image
        image = await asyncio.to_thread(scenes.render, self.scene_seed(int(channel)), faults, int(time.time() * 25))
        return web.Response(body=scenes.jpeg(image), content_type="image/jpeg")

    async def storage(self, request: web.Request) -> web.Response:
        faults = self.http.faults
        total = 4_000_787_030_016 if self.nvr else 127_865_454_592
        used = total if faults.disk_full else total * 2 // 5
        name = "/dev/sda" if self.nvr else "/dev/mmc0"
        return kv_reply([
            ("list.info[0].Detail[0].IsError", "true" if faults.disk_error else "false"),
            ("list.info[0].Detail[0].Path", f"{name}1"),
            ("list.info[0].Detail[0].TotalBytes", f"{total:.6f}"),
            ("list.info[0].Detail[0].Type", "ReadWrite"),
            ("list.info[0].Detail[0].UsedBytes", f"{used:.6f}"),
            ("list.info[0].Name", name),
            ("list.info[0].State", "Error" if faults.disk_error else "Success"),
        ])

    # --- eventManager.cgi attach ----------------------------------------------------------------

    async def attach(self, request: web.Request) -> web.StreamResponse:
        codes = request.query.get("codes", "").strip("[]").split(",")
        heartbeat = request.query.get("heartbeat", "")
        if not codes or not codes[0] or (heartbeat and not heartbeat.isdigit()):
            return bad_request()
        response = web.StreamResponse(headers={"Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}"})
        await response.prepare(request)
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.subscribers.add(queue)
        wait = int(heartbeat) if heartbeat else None
        try:
            while True:
                try:
                    body = await asyncio.wait_for(queue.get(), wait)
                except TimeoutError:
                    body = "Heartbeat"
                if body is None:
                    break
                code = body.partition(";")[0].removeprefix("Code=")
                if body == "Heartbeat" or "All" in codes or code in codes:
                    await response.write(encode_part(body))
        except (ConnectionResetError, RuntimeError):
            pass
        finally:
            self.subscribers.discard(queue)
        if request.transport is not None:
            request.transport.close()
        return response


Handler = Callable[[SimulatedDahua, web.Request], Awaitable[web.StreamResponse]]
ROUTES: dict[tuple[str, str], Handler] = {
    ("magicBox.cgi", "getSystemInfo"): SimulatedDahua.system_info,
    ("magicBox.cgi", "getDeviceType"): SimulatedDahua.device_type,
    ("magicBox.cgi", "getSoftwareVersion"): SimulatedDahua.software_version,
    ("magicBox.cgi", "getSerialNo"): SimulatedDahua.serial_no,
    ("magicBox.cgi", "getMachineName"): SimulatedDahua.machine_name,
    ("magicBox.cgi", "getVendor"): SimulatedDahua.vendor,
    ("magicBox.cgi", "getHardwareVersion"): SimulatedDahua.hardware_version,
    ("devVideoInput.cgi", "getCollect"): SimulatedDahua.video_inputs,
    ("global.cgi", "getCurrentTime"): SimulatedDahua.current_time,
    ("global.cgi", "setCurrentTime"): SimulatedDahua.set_current_time,
    ("configManager.cgi", "getConfig"): SimulatedDahua.get_config,
    ("configManager.cgi", "setConfig"): SimulatedDahua.set_config,
    ("snapshot.cgi", ""): SimulatedDahua.snapshot,
    ("storageDevice.cgi", "getDeviceAllInfo"): SimulatedDahua.storage,
    ("mediaFileFind.cgi", "factory.create"): simfiles.finder_create,
    ("mediaFileFind.cgi", "findFile"): simfiles.find_file,
    ("mediaFileFind.cgi", "findNextFile"): simfiles.find_next,
    ("mediaFileFind.cgi", "close"): simfiles.finder_close,
    ("mediaFileFind.cgi", "destroy"): simfiles.finder_destroy,
    # The API document names close/destroy; amcrest sends factory.close/factory.destroy, which
    # firmware accepts as well.
    ("mediaFileFind.cgi", "factory.close"): simfiles.finder_close,
    ("mediaFileFind.cgi", "factory.destroy"): simfiles.finder_destroy,
    ("loadfile.cgi", "startLoad"): simfiles.load_range,
    ("log.cgi", "startFind"): simfiles.log_start,
    ("log.cgi", "doFind"): simfiles.log_find,
    ("log.cgi", "stopFind"): simfiles.log_stop,
    ("eventManager.cgi", "attach"): SimulatedDahua.attach,
}


@contextlib.asynccontextmanager
async def simulate(host: str = "127.0.0.1", port: int = 0, username: str = "admin",
                   password: str = "watchkeeper-sim", devices: int = 1,
                   faults: FaultProfile | None = None, channels: int = 1) -> AsyncIterator[list[SimulatedDahua]]:
    """The Platform.simulator factory: `devices` cameras (or NVRs when channels > 1) on loopback."""
    running: list[SimulatedDahua] = []
    try:
        for index in range(devices):
            device = SimulatedDahua(index, username, password, channels)
            if faults is not None:
                device.set_faults(attrs.evolve(faults))  # each device owns its profile
            await device.start(host, 0 if port == 0 else port + index)
            running.append(device)
        yield running
    finally:
        for device in running:
            await device.stop()
