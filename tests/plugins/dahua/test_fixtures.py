"""Recorded device replies (fixtures/, see SOURCES.md) replayed over HTTP to the driver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web

from watchkeeper.core.models import Endpoint, RecordingKind
from watchkeeper.plugins.dahua.driver import DahuaDriver
from watchkeeper.simulation.simhttp import HttpDevice, device_middleware, start_site

FIXTURES = Path(__file__).parent / "fixtures"
#: A device set to GMT+00:00 (NTP.TimeZone index 0), so recorded local times read as UTC.
NTP_UTC = "table.NTP.Address=time.windows.com\r\ntable.NTP.Enable=false\r\ntable.NTP.TimeZone=0\r\n"


class Replay:
    """Serves fixture bodies in order per (cgi, action); the last one repeats."""

    def __init__(self, script: dict[tuple[str, str], list[str]]) -> None:
        self.script = {key: list(bodies) for key, bodies in script.items()}
        self.asked: list[str] = []
        self.queries: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        key = (request.match_info["name"], request.query.get("action", ""))
        self.asked.append(f"{key[0]}?{key[1]}")
        self.queries.append(request.query_string)
        bodies = self.script.get(key)
        if not bodies:
            return web.Response(status=400, text="Error\r\nBad Request!\r\n")
        body = bodies.pop(0) if len(bodies) > 1 else bodies[0]
        data = NTP_UTC.encode() if body == "NTP" else b"OK\r\n" if body == "OK" else (FIXTURES / body).read_bytes()
        return web.Response(body=data, content_type="text/plain", charset="utf-8")


@pytest_asyncio.fixture
async def replay() -> AsyncIterator[tuple[Replay, DahuaDriver]]:
    script = Replay({
        ("configManager.cgi", "getConfig"): ["NTP"],
        ("mediaFileFind.cgi", "factory.create"): ["amcrest_mediaFileFind_factory_create.txt"],
        ("mediaFileFind.cgi", "findFile"): ["OK"],
        ("mediaFileFind.cgi", "findNextFile"): ["amcrest_mediaFileFind_findNextFile_page1.txt",
                                                "amcrest_mediaFileFind_findNextFile_end.txt"],
        ("mediaFileFind.cgi", "close"): ["OK"],
        ("mediaFileFind.cgi", "destroy"): ["OK"],
        ("log.cgi", "startFind"): ["amcrest_log_startFind.txt"],
        ("log.cgi", "doFind"): ["amcrest_log_doFind.txt", "amcrest_mediaFileFind_findNextFile_end.txt"],
        ("log.cgi", "stopFind"): ["OK"],
    })
    http = HttpDevice("admin", "fixture-pw", realm="Login to fixture")
    app = web.Application(middlewares=[device_middleware(lambda request: http)])
    app.router.add_get("/cgi-bin/{name}", script.handle)
    runner, port = await start_site(app, "127.0.0.1", 0)
    driver = DahuaDriver(Endpoint("dahua", "127.0.0.1", port, "admin", "fixture-pw", timeout=3))
    yield script, driver
    await driver.close()
    await runner.cleanup()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@pytest.mark.asyncio
async def test_media_file_find_fixtures(replay: tuple[Replay, DahuaDriver]) -> None:
    script, driver = replay
    segments = await driver.recordings(1, utc("2020-01-06 00:00:00"), utc("2020-01-07 00:00:00"))
    assert [(s.start, s.end) for s in segments] == [
        (utc("2020-01-06 06:05:00"), utc("2020-01-06 06:13:00")),
        (utc("2020-01-06 06:13:00"), utc("2020-01-06 06:21:00")),
    ]
    assert [s.size_bytes for s in segments] == [248362892, 241799877]
    assert all(s.kind is RecordingKind.EVENT for s in segments)  # [M]: motion-triggered
    assert segments[0].token == "/mnt/sd/2020-01-06/001/dav/06/06.05.00-06.13.00[M][0@0][0].mp4"
    # The finder object id from factory.create (result=123) drives the whole session, then is released.
    assert script.asked[-2:] == ["mediaFileFind.cgi?close", "mediaFileFind.cgi?destroy"]
    assert script.asked.count("mediaFileFind.cgi?findNextFile") == 2
    assert sum("object=123" in q for q in script.queries) == 5


@pytest.mark.asyncio
async def test_log_fixtures(replay: tuple[Replay, DahuaDriver]) -> None:
    script, driver = replay
    entries = await driver.audit_log(utc("2020-01-02 00:00:00"), utc("2020-01-03 00:00:00"))
    assert [(e.log_type, e.action, e.user, e.address, e.time) for e in entries] == [
        ("Login", "login", "admin", "192.168.1.2", utc("2020-01-02 22:05:33")),
        ("Logout", "login", "admin", "192.168.1.2", utc("2020-01-02 22:06:33")),
    ]
    assert script.asked[-1] == "log.cgi?stopFind"
    assert sum("token=17" in q for q in script.queries) == 3  # doFind twice, stopFind
