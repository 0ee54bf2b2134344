"""The dashboard's server: API tokens only in a header; half-sent requests time out; no tracebacks."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer

from watchkeeper.faces.web import WebConfigError, make_web_app, serve
from watchkeeper.host import load_plugins, open_site

async def test_the_api_token_is_taken_from_the_header_only(app) -> None:
    from watchkeeper.site import identity

    token = identity.issue_token(app, "zhang", "zhang", "test")
    async with TestClient(TestServer(make_web_app(app, "0.0.0.0"))) as client:
        assert (await client.get(f"/api/status?token={token}")).status == 401
        assert (await client.get("/api/status", headers={"Authorization": f"Basic {token}"})).status == 401
        assert (await client.get("/api/status", headers={"Authorization": "Bearer " + " " * 16})).status == 401
        assert (await client.get("/api/status", headers={"Authorization": f"Bearer {token}x"})).status == 401
        assert (await client.get("/api/status", headers={"Authorization": f"Bearer {token}"})).status == 200
        assert (await client.get("/api/status", headers={"Authorization": f"bearer  {token} "})).status == 200


ECHO_PLUGIN = """\
from aiohttp import web
from watchkeeper import hookimpl

async def echo(request):
    return web.Response(text=str(len(await request.read())))

@hookimpl
def register_routes(register):
    register("POST", "/plugins/echo", echo, action="journal.add")
"""


@pytest.fixture
async def served(site_file: Path, tmp_path: Path):
    """The dashboard on a real socket, with short header and request timeouts, and a plugin route that reads a body."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "echo.py").write_text(ECHO_PLUGIN)
    app = open_site(site_file, load_plugins(plugins))
    from watchkeeper.site import identity

    token = identity.issue_token(app, "li", "li", "test")
    runner, url = await serve(app, "127.0.0.1", 0, header_timeout=0.5, request_timeout=0.5)
    parts = urlsplit(url)
    yield parts.hostname, parts.port, token
    await runner.cleanup()
    app.close()


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> tuple[float, bytes]:
    started = time.monotonic()
    data = await asyncio.wait_for(reader.read(), seconds)
    return time.monotonic() - started, data


async def test_a_half_sent_request_head_is_dropped(served) -> None:
    reader, writer = await asyncio.open_connection(*served[:2])
    writer.write(b"GET /api/status HTTP/1.1\r\nHost: watchkeeper\r\nX-Slow: ")
    await writer.drain()
    elapsed, data = await _closed_within(reader, 10)
    assert data == b"" and elapsed < 5
    writer.close()


async def test_a_half_sent_body_times_out(served) -> None:
    reader, writer = await asyncio.open_connection(*served[:2])
    writer.write(b"POST /plugins/echo HTTP/1.1\r\nHost: watchkeeper\r\nAuthorization: Bearer " + served[2].encode()
                 + b"\r\nContent-Length: 1000\r\n\r\nonly part")
    await writer.drain()
    elapsed, data = await _closed_within(reader, 10)
    assert data.startswith(b"HTTP/1.1 408") and elapsed < 5, (elapsed, data[:40])
    writer.close()


async def test_an_oversized_header_is_refused_without_a_traceback(served, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    reader, writer = await asyncio.open_connection(*served[:2])
    writer.write(b"GET / HTTP/1.1\r\nHost: watchkeeper\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    await writer.drain()
    _, data = await _closed_within(reader, 10)
    assert data.startswith(b"HTTP/1.0 400") or data.startswith(b"HTTP/1.1 400")
    writer.close()
    assert not [record for record in caplog.records if record.exc_info], [r.getMessage() for r in caplog.records]
    assert any("refused a malformed request" in record.getMessage() for record in caplog.records)
