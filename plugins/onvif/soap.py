"""The simulator's SOAP 1.2 layer: gSOAP-shaped envelopes, faults and WS-UsernameToken checking."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections import OrderedDict
from datetime import datetime, timezone
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from watchkeeper.devices.safeparse import local_name

SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
CONTENT_TYPE = "application/soap+xml; charset=utf-8"

#: The prefixes real gSOAP-based cameras declare on every envelope (see the recorded fixtures).
NAMESPACES: dict[str, str] = {
    "SOAP-ENV": SOAP_ENV,
    "SOAP-ENC": "http://www.w3.org/2003/05/soap-encoding",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "xsd": "http://www.w3.org/2001/XMLSchema",
    "wsa5": "http://www.w3.org/2005/08/addressing",
    "wsu": WSU,
    "wsse": WSSE,
    "tt": "http://www.onvif.org/ver10/schema",
    "wstop": "http://docs.oasis-open.org/wsn/t-1",
    "wsrfbf": "http://docs.oasis-open.org/wsrf/bf-2",
    "wsrfr": "http://docs.oasis-open.org/wsrf/r-2",
    "wsrf-rw": "http://docs.oasis-open.org/wsrf/rw-2",
    "wsntw": "http://docs.oasis-open.org/wsn/bw-2",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "tev": "http://www.onvif.org/ver10/events/wsdl",
    "wsnt": "http://docs.oasis-open.org/wsn/b-2",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "trc": "http://www.onvif.org/ver10/recording/wsdl",
    "trp": "http://www.onvif.org/ver10/replay/wsdl",
    "tse": "http://www.onvif.org/ver10/search/wsdl",
    "ter": "http://www.onvif.org/ver10/error",
    "tns1": "http://www.onvif.org/ver10/topics",
}

_DECLARATIONS = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in NAMESPACES.items())

#: A UsernameToken's Created may differ from the device clock by this much (ONVIF core spec leaves
#: it to the device; cameras commonly allow a few minutes).
CREATED_WINDOW_SECONDS = 300.0


def envelope(body: str, header: str = "") -> bytes:
    """Wrap a body in the envelope gSOAP cameras send, same prefixes as the recorded replies."""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<SOAP-ENV:Envelope {_DECLARATIONS}>'
            f"<SOAP-ENV:Header>{header}</SOAP-ENV:Header><SOAP-ENV:Body>{body}</SOAP-ENV:Body>"
            "</SOAP-ENV:Envelope>").encode()


def fault(code: str, subcode: str, reason: str, subsubcode: str = "") -> bytes:
    """A SOAP 1.2 fault shaped like the recorded `exonvif_soap_fault.xml`."""
    inner = f"<SOAP-ENV:Subcode><SOAP-ENV:Value>{subsubcode}</SOAP-ENV:Value></SOAP-ENV:Subcode>" if subsubcode else ""
    return envelope(
        f"<SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:{code}</SOAP-ENV:Value>"
        f"<SOAP-ENV:Subcode><SOAP-ENV:Value>{subcode}</SOAP-ENV:Value>{inner}</SOAP-ENV:Subcode>"
        f'</SOAP-ENV:Code><SOAP-ENV:Reason><SOAP-ENV:Text xml:lang="en">{escape(reason)}</SOAP-ENV:Text>'
        "</SOAP-ENV:Reason></SOAP-ENV:Fault>")


def not_authorized() -> bytes:
    return fault("Sender", "ter:NotAuthorized", "Sender not Authorized")


def text(value: object) -> str:
    return escape(str(value))


def xml_time(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_xml_time(value: str) -> datetime:
    value = value.strip()
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def find(element: Element | None, *names: str) -> Element | None:
    """Walk children by local name; clients disagree about prefixes, never about names."""
    for name in names:
        if element is None:
            return None
        element = next((child for child in element if local_name(child.tag) == name), None)
    return element


def find_text(element: Element | None, *names: str, default: str = "") -> str:
    found = find(element, *names)
    return (found.text or "").strip() if found is not None and found.text else default


def find_all(element: Element | None, name: str) -> list[Element]:
    return [] if element is None else [child for child in element.iter() if local_name(child.tag) == name]


class UsernameTokenVerifier:
    """WS-Security UsernameToken PasswordDigest: SHA1(nonce + created + password), created in a window, nonce used once."""

    def __init__(self, username: str) -> None:
        self.username = username
        self._seen: OrderedDict[str, float] = OrderedDict()

    def check(self, header: Element | None, password: str, device_now: datetime) -> bool:
        token = find(header, "Security", "UsernameToken")
        if token is None or find_text(token, "Username") != self.username:
            return False
        password_element = find(token, "Password")
        nonce_text, created_text = find_text(token, "Nonce"), find_text(token, "Created")
        if password_element is None or not nonce_text or not created_text:
            return False
        try:
            created = parse_xml_time(created_text)
            nonce = base64.b64decode(nonce_text, validate=True)
        except ValueError:
            return False
        if abs((created - device_now).total_seconds()) > CREATED_WINDOW_SECONDS:
            return False
        if nonce_text in self._seen:
            return False  # a replayed request
        digest = base64.b64encode(hashlib.sha1(nonce + created_text.encode() + password.encode()).digest()).decode()
        if not secrets.compare_digest(digest, (password_element.text or "").strip()):
            return False
        self._seen[nonce_text] = time.monotonic()
        while len(self._seen) > 20_000:
            self._seen.popitem(last=False)
        return True
