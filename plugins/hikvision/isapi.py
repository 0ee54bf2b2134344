"""ISAPI documents and calls on the shared driver HTTP client (Digest only, bounded, one timeout per call)."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Collection
from contextlib import AbstractAsyncContextManager
from xml.sax.saxutils import escape

from watchkeeper.core.i18n import N_
from watchkeeper.core.models import Endpoint
from watchkeeper.devices.drivers import DeviceError
from watchkeeper.devices.http import DeviceHttp, Reply, Stream
from watchkeeper.devices.safeparse import local_name, parse_xml, protocol_error

NAMESPACE = "http://www.hikvision.com/ver20/XMLSchema"
XML_BODY = "application/xml; charset=UTF-8"


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
        root = parse_xml(body, N_("error reply"))
    except DeviceError:
        return ""
    parts = [text(root, "statusString"), text(root, "subStatusCode")]
    return " ".join(p for p in parts if p)[:120]


class IsapiClient:
    """One device's ISAPI on the shared driver HTTP client; raises only DeviceError."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.http = DeviceHttp(endpoint, accept="application/xml, */*", explain=_status_reason)
        self.base_url = self.http.base_url

    def __repr__(self) -> str:
        return f"IsapiClient({self.base_url}, user={self.endpoint.username!r})"

    async def call(self, method: str, path: str, what: str, body: bytes | None = None,
                   params: dict[str, str] | None = None, expect: Collection[str] | None = None) -> Reply:
        """One request with its reply, bounded in size and in time."""
        return await self.http.request(method, path, what, body=body, content_type=XML_BODY, params=params,
                                       expect=expect)

    async def xml(self, method: str, path: str, what: str, body: bytes | None = None) -> ElementTree.Element:
        return await self.http.xml(method, path, what, body=body, content_type=XML_BODY)

    async def put_xml(self, path: str, what: str, body: bytes) -> None:
        """PUT a document; Hikvision answers ResponseStatus whose statusCode 1 means done."""
        root = await self.xml("PUT", path, what, body)
        code = text(root, "statusCode")
        if local_name(root.tag) == "ResponseStatus" and code not in (None, "1", "7"):
            raise protocol_error(N_("{what}: device answered {status!r} ({detail})", what=what,
                                    status=str(text(root, "statusString"))[:60], detail=str(text(root, "subStatusCode"))[:60]))

    def stream(self, method: str, path: str, what: str, idle: float,
               body: bytes | None = None) -> AbstractAsyncContextManager[Stream]:
        """A long reply (alertStream, clip download): connect within the timeout, then at most `idle` s between chunks."""
        return self.http.stream(method, path, what, idle, body=body, content_type=XML_BODY)

    async def aclose(self) -> None:
        await self.http.aclose()
