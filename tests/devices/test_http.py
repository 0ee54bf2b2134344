"""The shared driver HTTP client: Digest only, bounded reads, strict media types, one error mapping, TLS."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from aiohttp import web

from watchkeeper.core.findings import FindingKind
from watchkeeper.core.models import Endpoint
from watchkeeper.devices.drivers import DeviceError
from watchkeeper.devices.http import DeviceHttp, transport_error
from watchkeeper.devices.safeparse import MAX_REPLY_BYTES, tls_context
from watchkeeper.simulation.simhttp import DigestAuth, start_site

PASSWORD = "pw-Secret-1"
XML = b'<?xml version="1.0" encoding="UTF-8"?><r><a>1</a></r>'
Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Device:
    """A loopback HTTP device whose routes a test sets; it challenges Digest unless told otherwise."""

    def __init__(self) -> None:
        self.auth = DigestAuth("test", "admin", PASSWORD)
        self.authorizations: list[str] = []
        self.routes: dict[str, Route] = {}
        self.basic_only = False
        self.port = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        self.authorizations.append(header)
        if self.basic_only:
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="test"'})
        if not self.auth.check(request.method, header):
            return web.Response(status=401, headers={"WWW-Authenticate": self.auth.challenge()})
        return await self.routes[request.path](request)


@pytest_asyncio.fixture
async def device() -> AsyncIterator[Device]:
    simulated = Device()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", simulated.handle)
    runner, simulated.port = await start_site(app, "127.0.0.1", 0)
    yield simulated
    await runner.cleanup()


@pytest_asyncio.fixture
async def http(device: Device) -> AsyncIterator[DeviceHttp]:
    client = DeviceHttp(Endpoint("acme", "127.0.0.1", device.port, "admin", PASSWORD, timeout=2.0))
    yield client
    await client.aclose()


def reply(body: bytes, content_type: str, status: int = 200) -> Route:
    async def route(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, status=status, headers={"Content-Type": content_type})
    return route


async def test_digest_from_the_first_challenge_and_never_basic(device: Device, http: DeviceHttp) -> None:
    device.routes["/info"] = reply(XML, 'application/xml; charset="UTF-8"')
    for _ in range(3):
        root = await http.xml("GET", "/info", "info")
        assert root.findtext("a") == "1"
    assert all(not header.lower().startswith("basic") for header in device.authorizations)
    assert sum(header.lower().startswith("digest") for header in device.authorizations) >= 3


async def test_a_basic_only_device_is_refused_not_given_the_password(device: Device, http: DeviceHttp) -> None:
    device.basic_only = True
    with pytest.raises(DeviceError) as caught:
        await http.xml("GET", "/info", "info")
    assert caught.value.kind is FindingKind.AUTH_FAILED and "Digest only" in caught.value.reason
    assert device.authorizations == [""]  # asked once, anonymously; the password never went out


async def test_wrong_password_is_auth_failed_without_the_password(device: Device) -> None:
    client = DeviceHttp(Endpoint("acme", "127.0.0.1", device.port, "admin", "not-it", timeout=2.0))
    device.routes["/info"] = reply(XML, "application/xml")
    try:
        with pytest.raises(DeviceError) as caught:
            await client.xml("GET", "/info", "info")
    finally:
        await client.aclose()
    assert caught.value.kind is FindingKind.AUTH_FAILED and "not-it" not in caught.value.reason
    assert "not-it" not in repr(client)


@pytest.mark.parametrize("content_type", ["text/html", "application/xhtml+xml", "application/octet-stream", ""])
async def test_xml_needs_an_xml_media_type(device: Device, http: DeviceHttp, content_type: str) -> None:
    # "application/xhtml+xml" contains "xml": a substring check let it through before the shared client.
    device.routes["/info"] = reply(XML, content_type)
    with pytest.raises(DeviceError) as caught:
        await http.xml("GET", "/info", "info")
    assert caught.value.kind is FindingKind.PROTOCOL_ERROR and "expected" in caught.value.reason


async def test_a_declared_charset_other_than_utf8_is_refused(device: Device, http: DeviceHttp) -> None:
    device.routes["/kv"] = reply("name=Caf\xe9\r\n".encode("latin-1"), "text/plain; charset=ISO-8859-1")
    with pytest.raises(DeviceError) as caught:
        await http.text("GET", "/kv", "kv")
    assert caught.value.kind is FindingKind.PROTOCOL_ERROR and "charset" in caught.value.reason
    device.routes["/kv"] = reply(b"name=Cafe\r\n", "text/plain;charset=utf-8")
    assert await http.text("GET", "/kv", "kv") == "name=Cafe\r\n"


async def test_invalid_utf8_is_a_protocol_error(device: Device, http: DeviceHttp) -> None:
    device.routes["/kv"] = reply(b"name=\xff\xfe\r\n", "text/plain")
    with pytest.raises(DeviceError) as caught:
        await http.text("GET", "/kv", "kv")
    assert caught.value.kind is FindingKind.PROTOCOL_ERROR and "UTF-8" in caught.value.reason


async def test_replies_are_bounded_before_they_are_read(device: Device, http: DeviceHttp) -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/xml"})
        await response.prepare(request)  # chunked: no length announced
        try:
            for _ in range(64):
                await response.write(b"<r>" + b"A" * (1 << 20))
        except (ConnectionError, RuntimeError):
            pass
        return response

    device.routes["/declared"] = reply(b"x", "application/xml")
    device.routes["/endless"] = endless

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/xml"})
        response.content_length = 50 * 1024 * 1024
        await response.prepare(request)
        await response.write(b"<r>")
        return response

    device.routes["/declared"] = huge
    tracemalloc.start()
    try:
        for path in ("/declared", "/endless"):
            with pytest.raises(DeviceError) as caught:
                await http.request("GET", path, path, expect={"application/xml"})
            assert caught.value.kind is FindingKind.PROTOCOL_ERROR and str(MAX_REPLY_BYTES) in caught.value.reason
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * MAX_REPLY_BYTES


async def test_status_codes(device: Device, http: DeviceHttp) -> None:
    device.routes["/forbidden"] = reply(b"", "text/plain", 403)
    device.routes["/missing"] = reply(b"Error\r\nBad Request!\r\n", "text/plain", 404)
    device.routes["/fault"] = reply(XML, "application/soap+xml", 500)
    with pytest.raises(DeviceError) as caught:
        await http.text("GET", "/forbidden", "forbidden")
    assert caught.value.kind is FindingKind.AUTH_FAILED
    with pytest.raises(DeviceError) as caught:
        await http.text("GET", "/missing", "missing")
    assert caught.value.kind is FindingKind.PROTOCOL_ERROR and "HTTP 404" in caught.value.reason
    # A caller that reads error bodies itself (a SOAP fault) says which statuses it takes.
    assert (await http.request("POST", "/fault", "fault", body=b"<x/>", ok=(500,))).status == 500


async def test_streams_end_on_silence_and_do_not_hide_driver_bugs(device: Device, http: DeviceHttp) -> None:
    async def silent(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "multipart/mixed; boundary=b"})
        await response.prepare(request)
        await response.write(b"--b\r\n")
        await asyncio.sleep(10)
        return response

    device.routes["/events"] = silent
    with pytest.raises(DeviceError) as caught:
        async with http.stream("GET", "/events", "events", idle=0.5) as stream:
            async for _ in stream.chunks():
                pass
    assert caught.value.kind is FindingKind.UNREACHABLE
    with pytest.raises(ZeroDivisionError):  # a bug in the driver stays a bug, never a finding
        async with http.stream("GET", "/events", "events", idle=0.5) as stream:
            async for _ in stream.chunks():
                _ = 1 / 0


def test_transport_error_maps_transport_failures_only() -> None:
    request = httpx.Request("GET", "http://127.0.0.1/")
    cases = [
        (httpx.ConnectError("refused", request=request), True, FindingKind.UNREACHABLE),
        (httpx.ReadTimeout("slow", request=request), True, FindingKind.UNREACHABLE),
        (httpx.RemoteProtocolError("closed", request=request), False, FindingKind.UNREACHABLE),
        (httpx.RemoteProtocolError("cut off", request=request), True, FindingKind.PROTOCOL_ERROR),
        (httpx.ReadError("reset", request=request), True, FindingKind.PROTOCOL_ERROR),
        (ConnectionResetError("reset"), False, FindingKind.UNREACHABLE),
        (TimeoutError(), True, FindingKind.UNREACHABLE),
    ]
    for error, replied, kind in cases:
        assert transport_error(error, "call", replied).kind is kind, error
    for bug in (AttributeError("no such attribute"), TypeError("bad call"), KeyError("x")):
        with pytest.raises(type(bug)):
            transport_error(bug, "call")  # type: ignore[arg-type]


async def test_dead_port_is_unreachable() -> None:
    from watchkeeper.testing import free_port

    client = DeviceHttp(Endpoint("acme", "127.0.0.1", free_port(), "admin", PASSWORD, timeout=2.0))
    try:
        with pytest.raises(DeviceError) as caught:
            await client.xml("GET", "/info", "info")
    finally:
        await client.aclose()
    assert caught.value.kind is FindingKind.UNREACHABLE


@pytest_asyncio.fixture
async def tls_device(tmp_path: Path) -> AsyncIterator[int]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    app = web.Application()
    app.router.add_get("/info", reply(XML, "application/xml"))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    yield site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    await runner.cleanup()


async def test_tls_uses_the_shared_context_and_refuses_an_untrusted_certificate(tls_device: int) -> None:
    strict = DeviceHttp(Endpoint("acme", "127.0.0.1", tls_device, "admin", PASSWORD, timeout=3.0,
                                 options={"https": True}))
    trusting = DeviceHttp(Endpoint("acme", "127.0.0.1", tls_device, "admin", PASSWORD, timeout=3.0,
                                   options={"https": True, "verify_tls": False}))
    try:
        with pytest.raises(DeviceError) as caught:
            await strict.xml("GET", "/info", "info")
        assert caught.value.kind is FindingKind.UNREACHABLE and "certificate" in caught.value.reason
        assert (await trusting.xml("GET", "/info", "info")).findtext("a") == "1"
    finally:
        await strict.aclose()
        await trusting.aclose()
    # One context per process per mode: building one loads the CA bundle (about 50 ms).
    assert tls_context(True) is tls_context(True) and tls_context(False) is tls_context(False)
