"""The HTTP side every vendor simulator shares: digest auth, fault injection, a request log."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from aiohttp import web

from watchkeeper.simulation.faults import HUGE_BODY_BYTES, FaultProfile, Hostile, hostile_body

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@attrs.define
class LoggedRequest:
    method: str
    path: str
    authorization: str
    at: float


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _parse_auth_params(header: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in _split_params(header):
        key, _, value = item.partition("=")
        params[key.strip().lower()] = value.strip().strip('"')
    return params


def _split_params(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


class DigestAuth:
    """RFC 7616 digest (MD5, qop=auth) as cameras do it; Basic is always refused."""

    def __init__(self, realm: str, username: str, password: str) -> None:
        self.realm, self.username, self.password = realm, username, password
        self.opaque = secrets.token_hex(16)
        self._nonces: dict[str, float] = {}

    def challenge(self, stale: bool = False) -> str:
        nonce = secrets.token_hex(16)
        self._nonces[nonce] = time.monotonic()
        if len(self._nonces) > 10_000:
            oldest = sorted(self._nonces, key=self._nonces.__getitem__)[:5_000]
            for old in oldest:
                del self._nonces[old]
        stale_part = ', stale="true"' if stale else ""
        return f'Digest realm="{self.realm}", qop="auth", nonce="{nonce}", opaque="{self.opaque}", algorithm=MD5{stale_part}'

    def check(self, method: str, header: str, password: str | None = None) -> bool:
        if not header.lower().startswith("digest "):
            return False
        params = _parse_auth_params(header[7:])
        if params.get("username") != self.username or params.get("nonce") not in self._nonces:
            return False
        ha1 = _md5(f"{self.username}:{self.realm}:{password if password is not None else self.password}")
        ha2 = _md5(f"{method}:{params.get('uri', '')}")
        if params.get("qop"):
            expected = _md5(f"{ha1}:{params['nonce']}:{params.get('nc', '')}:{params.get('cnonce', '')}:{params['qop']}:{ha2}")
        else:
            expected = _md5(f"{ha1}:{params['nonce']}:{ha2}")
        return secrets.compare_digest(expected, params.get("response", ""))


async def send_hostile(request: web.Request, kind: Hostile, wrapper: str) -> web.StreamResponse:
    """Answer with a hostile body; the huge one is streamed so the simulator stays small."""
    if kind is Hostile.HUGE_BODY:
        response = web.StreamResponse(headers={"Content-Type": "application/xml"})
        response.content_length = HUGE_BODY_BYTES
        await response.prepare(request)
        chunk = (b"<" + wrapper.encode() + b">" + b"A" * (1 << 20))[: 1 << 20]
        try:
            for _ in range(HUGE_BODY_BYTES // len(chunk)):
                await response.write(chunk)
        except (ConnectionError, asyncio.CancelledError, RuntimeError):
            pass
        return response
    body, content_type = hostile_body(kind, wrapper)
    if kind is Hostile.TRUNCATED:
        # Promise more than is sent, then close: a body cut off mid-transfer.
        response = web.StreamResponse(headers={"Content-Type": content_type})
        response.content_length = len(body) + 4096
        await response.prepare(request)
        await response.write(body)
        request.transport.close() if request.transport else None
        return response
    return web.Response(body=body, headers={"Content-Type": content_type})


@attrs.define
class HttpDevice:
    """The per-device state an HTTP simulator keeps: credentials, faults, what it was asked."""

    username: str
    password: str
    realm: str
    faults: FaultProfile = attrs.field(factory=FaultProfile)
    log: list[LoggedRequest] = attrs.field(factory=list)
    auth: DigestAuth = attrs.field(init=False)
    #: Paths answered without authentication (e.g. ONVIF GetSystemDateAndTime is in the body).
    public_paths: frozenset[str] = frozenset()
    hostile_wrapper: str = "response"

    def __attrs_post_init__(self) -> None:
        self.auth = DigestAuth(self.realm, self.username, self.password)

    def basic_requests(self) -> list[LoggedRequest]:
        return [r for r in self.log if r.authorization.lower().startswith("basic")]


def device_middleware(device_for: Callable[[web.Request], HttpDevice | None]) -> Any:
    """aiohttp middleware applying faults and digest auth for whichever device a request is for."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        device = device_for(request)
        if device is None:
            raise web.HTTPNotFound()
        header = request.headers.get("Authorization", "")
        device.log.append(LoggedRequest(request.method, request.path_qs, header, time.time()))
        if len(device.log) > 5_000:
            del device.log[:2_500]
        faults = device.faults
        if faults.offline or faults.drop:
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError()
        if faults.slow:
            await asyncio.sleep(faults.slow)
        if request.path not in device.public_paths:
            # A wrong-password fault means the device's real password differs from the configured one.
            password = device.password + "-changed" if faults.wrong_password else None
            if not device.auth.check(request.method, header, password):
                return web.Response(status=401, text="Unauthorized",
                                    headers={"WWW-Authenticate": device.auth.challenge()})
        if faults.hostile is not None:
            return await send_hostile(request, faults.hostile, device.hostile_wrapper)
        return await handler(request)

    return middleware


async def start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start an aiohttp app on host:port (0 picks a free port); returns the runner and the port."""
    # A short shutdown: a handler still sleeping for a slow-reply fault need not hold teardown for 60 s.
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []  # aiohttp exposes no public accessor
    return runner, sockets[0].getsockname()[1] if sockets else port
