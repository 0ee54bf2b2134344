"""Defensive reading of device replies: strict UTF-8, XML without entities, the shared TLS context."""

from __future__ import annotations

import ssl
import xml.etree.ElementTree as ElementTree
from functools import lru_cache

import defusedxml.ElementTree as SafeElementTree
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
