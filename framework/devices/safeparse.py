"""Defensive reading of device replies: bounded bodies, strict UTF-8, XML without entities."""

from __future__ import annotations

import ssl
import xml.etree.ElementTree as ElementTree
from functools import lru_cache
import defusedxml.ElementTree as SafeElementTree
import httpx
from defusedxml import DefusedXmlException

from watchkeeper.devices.drivers import DeviceError
from watchkeeper.core.findings import FindingKind

#: No XML or key=value reply from a camera is anywhere near this; a bigger one is hostile.
MAX_REPLY_BYTES = 4 * 1024 * 1024


def protocol_error(reason: str) -> DeviceError:
    return DeviceError(FindingKind.PROTOCOL_ERROR, reason)


def parse_xml(body: bytes, what: str) -> ElementTree.Element:
    """Parse a device's XML reply; DTDs, entities and malformed input become PROTOCOL_ERROR."""
    if len(body) > MAX_REPLY_BYTES:
        raise protocol_error(f"{what}: reply of {len(body)} bytes exceeds {MAX_REPLY_BYTES}")
    try:
        return SafeElementTree.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as error:
        raise protocol_error(f"{what}: reply refused ({type(error).__name__})") from None
    except ElementTree.ParseError as error:
        raise protocol_error(f"{what}: malformed XML ({error})") from None


def decode_text(body: bytes, what: str) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise protocol_error(f"{what}: reply is not valid UTF-8 at byte {error.start}") from None


def local_name(tag: str) -> str:
    """`{namespace}name` → `name`: devices disagree about namespaces, never about names."""
    return tag.rpartition("}")[2]


def http_error(error: httpx.HTTPError, what: str, replied: bool = True) -> DeviceError:
    """Map an httpx failure to the finding kind a site integrator expects.

    `replied` says whether the device had begun a reply: a connection closed before any reply is
    a device that is not answering (unreachable), one closed mid-reply is a broken reply. Anything but an
    httpx error (a programming error above all) is raised again: it is not the device's doing.
    """
    if not isinstance(error, httpx.HTTPError):
        raise error
    if not replied and isinstance(error, (httpx.RemoteProtocolError, httpx.ReadError)):
        return DeviceError(FindingKind.UNREACHABLE, f"{what}: connection closed without a reply")
    if isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout,
                          httpx.WriteTimeout, httpx.PoolTimeout)):
        return DeviceError(FindingKind.UNREACHABLE, f"{what}: {type(error).__name__}")
    if isinstance(error, (httpx.RemoteProtocolError, httpx.DecodingError, httpx.ReadError)):
        return DeviceError(FindingKind.PROTOCOL_ERROR, f"{what}: {type(error).__name__}")
    return DeviceError(FindingKind.UNREACHABLE, f"{what}: {type(error).__name__}")


async def fetch(client: httpx.AsyncClient, request: httpx.Request, what: str) -> tuple[httpx.Response, bytes]:
    """Send a request and read its body, refusing one over MAX_REPLY_BYTES before it is all read."""
    try:
        response = await client.send(request, stream=True)
    except httpx.HTTPError as error:
        raise http_error(error, what, replied=False) from None
    try:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > MAX_REPLY_BYTES:
            raise protocol_error(f"{what}: reply declares {declared} bytes, over {MAX_REPLY_BYTES}")
        chunks, size = [], 0
        try:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_REPLY_BYTES:
                    raise protocol_error(f"{what}: reply exceeds {MAX_REPLY_BYTES} bytes")
                chunks.append(chunk)
        except httpx.HTTPError as error:
            raise http_error(error, what) from None
        return response, b"".join(chunks)
    finally:
        await response.aclose()


@lru_cache(maxsize=2)
def tls_context(verify: bool = True) -> ssl.SSLContext:
    """One TLS context per process: httpx builds a new one (about 50 ms, loading the CA bundle) for
    every client otherwise, which dominated inspecting many cameras."""
    context = ssl.create_default_context()
    if not verify:
        # Many cameras ship self-signed certificates; a site may choose to accept them per device.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
