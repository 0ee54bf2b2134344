"""A thin ISAPI client on httpx: Digest from the first request, bounded bodies, one timeout per call."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from xml.sax.saxutils import escape

import httpx
from watchkeeper.devices.drivers import DeviceError, with_timeout
from watchkeeper.core.findings import FindingKind
from watchkeeper.core.models import Endpoint
from watchkeeper.devices.safeparse import (decode_text, fetch, http_error, local_name, parse_xml, protocol_error,
                                  tls_context)

NAMESPACE = "http://www.hikvision.com/ver20/XMLSchema"


def element(name: str, *children: str, **values: object) -> str:
    """`<name>` holding children (already XML) and escaped leaf values, in the Hikvision namespace."""
    leaves = "".join(f"<{key}>{escape(str(value))}</{key}>" for key, value in values.items())
    return f"<{name}>{''.join(children)}{leaves}</{name}>"


def document(name: str, *children: str, **values: object) -> bytes:
    inner = element(name, *children, **values)
    opening = f'<{name} version="2.0" xmlns="{NAMESPACE}">'
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + opening + inner[len(name) + 2:]).encode()


def child(node: ElementTree.Element | None, *path: str) -> ElementTree.Element | None:
    """Walk direct children by local name (devices disagree about namespaces, not names)."""
    for name in path:
        if node is None:
            return None
        node = next((c for c in node if local_name(c.tag) == name), None)
    return node


def text(node: ElementTree.Element | None, *path: str) -> str | None:
    found = child(node, *path)
    return found.text.strip() if found is not None and found.text is not None else None


def children(node: ElementTree.Element | None, name: str) -> list[ElementTree.Element]:
    return [] if node is None else [c for c in node if local_name(c.tag) == name]


def descendants(node: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    return [c for c in node.iter() if local_name(c.tag) == name]


def _status_reason(body: bytes) -> str:
    """Hikvision explains refusals in a ResponseStatus document; say what it says, briefly."""
    try:
        root = parse_xml(body, "error reply")
    except DeviceError:
        return ""
    parts = [text(root, "statusString"), text(root, "subStatusCode")]
    return " ".join(p for p in parts if p)[:120]


async def _head(response: httpx.Response, limit: int = 65536) -> bytes:
    """The start of an error reply, enough for its ResponseStatus; the rest is not read."""
    data = b""
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= limit:
            break
    return data[:limit]


class IsapiClient:
    """One device's ISAPI over a single keep-alive connection pool; raises only DeviceError."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
        scheme = "https" if endpoint.options.get("https") else "http"
        self.base_url = f"{scheme}://{host}:{endpoint.port}"
        # Digest from the first request: a Basic attempt would put the password on the wire in the clear.
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            auth=httpx.DigestAuth(endpoint.username, endpoint.password.reveal()),
            timeout=httpx.Timeout(endpoint.timeout),
            headers={"Accept": "application/xml, */*"},
            verify=tls_context(bool(endpoint.options.get("verify_tls", True))),
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"IsapiClient({self.base_url}, user={self.endpoint.username!r})"

    def check_status(self, response: httpx.Response, body: bytes, what: str) -> None:
        if response.status_code in (401, 403):
            reason = _status_reason(body) if response.status_code == 403 else ""
            raise DeviceError(FindingKind.AUTH_FAILED,
                              f"{what}: device refused the credentials (HTTP {response.status_code}) {reason}".strip())
        if response.status_code >= 400:
            raise protocol_error(f"{what}: HTTP {response.status_code} {_status_reason(body)}".strip())

    async def call(self, method: str, path: str, what: str, body: bytes | None = None,
                   params: dict[str, str] | None = None) -> tuple[httpx.Response, bytes]:
        """One request with its reply body, bounded in size and in time."""
        headers = {"Content-Type": "application/xml; charset=UTF-8"} if body is not None else None
        request = self._client.build_request(method, path, content=body, params=params, headers=headers)
        response, data = await with_timeout(fetch(self._client, request, what), self.endpoint.timeout, what)
        self.check_status(response, data, what)
        return response, data

    async def xml(self, method: str, path: str, what: str, body: bytes | None = None) -> ElementTree.Element:
        response, data = await self.call(method, path, what, body)
        content_type = response.headers.get("Content-Type", "")
        if "xml" not in content_type.lower():
            raise protocol_error(f"{what}: expected XML, got {content_type or 'no content type'}")
        decode_text(data, what)
        return parse_xml(data, what)

    async def put_xml(self, path: str, what: str, body: bytes) -> None:
        """PUT a document; Hikvision answers ResponseStatus whose statusCode 1 means done."""
        root = await self.xml("PUT", path, what, body)
        code = text(root, "statusCode")
        if local_name(root.tag) == "ResponseStatus" and code not in (None, "1", "7"):
            raise protocol_error(f"{what}: device answered {text(root, 'statusString')} ({text(root, 'subStatusCode')})")

    @asynccontextmanager
    async def stream(self, method: str, path: str, what: str, idle: float,
                     body: bytes | None = None) -> AsyncIterator[httpx.Response]:
        """A long reply (alertStream, clip download): connect within the timeout, then at most `idle` s between chunks."""
        timeout = httpx.Timeout(self.endpoint.timeout, read=idle)
        headers = {"Content-Type": "application/xml; charset=UTF-8"} if body is not None else None
        request = self._client.build_request(method, path, content=body, timeout=timeout, headers=headers)
        try:
            response = await with_timeout(self._client.send(request, stream=True), self.endpoint.timeout, what)
        except httpx.HTTPError as error:
            raise http_error(error, what, replied=False) from None
        try:
            if response.status_code >= 400:
                self.check_status(response, await with_timeout(_head(response), self.endpoint.timeout, what), what)
            yield response
        except httpx.HTTPError as error:
            raise http_error(error, what) from None
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()
