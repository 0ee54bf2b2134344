"""Defensive reading of device replies: strict UTF-8, XML without entities, the shared TLS context."""

from __future__ import annotations

import ssl
import xml.etree.ElementTree as ElementTree
from functools import lru_cache

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException
from defusedxml.common import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden

from watchkeeper.core.findings import FindingKind
from watchkeeper.core.i18n import N_
from watchkeeper.devices.drivers import DeviceError

#: No XML or key=value reply from a camera is anywhere near this; a bigger one is hostile.
MAX_REPLY_BYTES = 4 * 1024 * 1024


#: Why defusedxml refused a reply, in words (its exception names are not for a person).
REFUSED_XML: dict[type[DefusedXmlException], str] = {
    DTDForbidden: N_("it declares a DTD"),
    EntitiesForbidden: N_("it declares entities"),
    ExternalReferenceForbidden: N_("it refers to external resources"),
}


def refused_xml(error: DefusedXmlException) -> str:
    """What was wrong with an XML reply defusedxml refused."""
    return next((text for kind, text in REFUSED_XML.items() if isinstance(error, kind)), type(error).__name__)


def protocol_error(reason: str) -> DeviceError:
    """A malformed or hostile reply; `reason` is an N_ message (its English is what the store keeps)."""
    return DeviceError(FindingKind.PROTOCOL_ERROR, reason)


def parse_xml(body: bytes, what: str) -> ElementTree.Element:
    """Parse a device's XML reply; DTDs, entities and malformed input become PROTOCOL_ERROR."""
    if len(body) > MAX_REPLY_BYTES:
        raise protocol_error(N_("{what}: reply of {size} bytes exceeds {limit}", what=what, size=len(body),
                                  limit=MAX_REPLY_BYTES))
    try:
        return SafeElementTree.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as error:
        raise protocol_error(N_("{what}: reply refused: {why}", what=what, why=refused_xml(error))) from None
    except ElementTree.ParseError as error:
        # expat's own message is English; where it stopped is what a technician needs
        line, column = getattr(error, "position", (0, 0))
        raise protocol_error(N_("{what}: malformed XML at line {line}, column {column}", what=what, line=line,
                                column=column)) from None


def decode_text(body: bytes, what: str) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise protocol_error(N_("{what}: reply is not valid UTF-8 at byte {byte}", what=what, byte=error.start)) from None


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
