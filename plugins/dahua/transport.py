"""One Dahua device session: CGI calls on the shared driver HTTP client (Digest only, bounded, strict)."""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AbstractAsyncContextManager
from urllib.parse import quote

from watchkeeper.core.models import Endpoint
from watchkeeper.devices.http import TEXT_TYPES, DeviceHttp, Stream


def _error_text(head: bytes) -> str:
    """Firmware explains a refusal in a line or two of text (`Error\\r\\nBad Request!`); keep it short and plain."""
    words = " ".join(head[:200].decode("utf-8", errors="replace").split())
    return "".join(ch for ch in words if ch.isprintable())[:80]


class DahuaSession:
    """The device's `/cgi-bin/` API; every call bounded by endpoint.timeout, raising only DeviceError."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.http = DeviceHttp(endpoint, explain=_error_text)

    def __repr__(self) -> str:
        return f"DahuaSession({self.endpoint.label()})"

    async def text(self, path: str) -> str:
        """GET `/cgi-bin/<path>`: a text/plain reply as strict UTF-8."""
        return await self.http.text("GET", f"/cgi-bin/{path}", _what(path), expect=TEXT_TYPES)

    async def binary(self, path: str, expect: Collection[str]) -> bytes:
        """GET `/cgi-bin/<path>`: a reply of one of the `expect` media types (a snapshot's image/jpeg)."""
        return (await self.http.request("GET", f"/cgi-bin/{path}", _what(path), expect=expect)).body

    def stream(self, path: str, what: str, idle: float) -> AbstractAsyncContextManager[Stream]:
        """A streaming GET (event stream, file download): status checked, at most `idle` s between chunks."""
        return self.http.stream("GET", f"/cgi-bin/{path}", what, idle)

    async def close(self) -> None:
        await self.http.aclose()


def _what(path: str) -> str:
    """`configManager.cgi?action=getConfig&name=NTP` → `configManager.cgi?action=getConfig` (no values echoed)."""
    base, _, query = path.partition("?")
    for item in query.split("&"):
        if item.startswith("action="):
            return f"{base}?{item}"
    return base


def q(value: str) -> str:
    """Percent-encode a query value the way firmware accepts (colons and hyphens literal)."""
    return quote(value, safe=":-")
