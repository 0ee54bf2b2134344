"""zeep service clients on onvif-zeep-async's once-per-process WSDLs, over the shared driver HTTP client."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import requests
import zeep.exceptions
from requests.structures import CaseInsensitiveDict
from zeep.proxy import AsyncOperationProxy, AsyncServiceProxy
from zeep.transports import Transport
from zeep.wsdl.utils import etree_to_string

# onvif-zeep-async calls logging.basicConfig(level=INFO) when imported, which would print every
# HTTP request of every plugin; the appliance owns the logging configuration, so undo it.
_root, _root_handlers, _root_level = logging.getLogger(), list(logging.getLogger().handlers), logging.getLogger().level
from onvif.client import _DOCUMENT_CACHE, _WSDL_PATH, UsernameDigestTokenDtDiff, ZeepAsyncClient, _cached_document  # noqa: E402
from onvif.definition import SERVICES  # noqa: E402
from onvif.settings import DEFAULT_SETTINGS  # noqa: E402
from onvif.wsa import WsAddressingIfMissingPlugin  # noqa: E402

_root.handlers[:] = _root_handlers
_root.setLevel(_root_level)

from watchkeeper.core.findings import FindingKind
from watchkeeper.core.i18n import N_
from watchkeeper.core.models import Endpoint
from watchkeeper.devices.drivers import PROGRAMMING_ERRORS, DeviceError
from watchkeeper.devices.http import XML_TYPES, DeviceHttp, transport_error
from watchkeeper.devices.safeparse import parse_xml

SOAP_CONTENT_TYPE = 'application/soap+xml; charset="utf-8"'


class BoundedTransport(Transport):
    """zeep's transport on the shared driver HTTP client: bounded, SOAP media types only, no DTDs or entities.

    WS-UsernameToken travels in the envelope; a device that also wants HTTP Digest gets it from the client.
    """

    def __init__(self, http: DeviceHttp) -> None:
        # zeep's Transport.__init__ builds a requests.Session this async transport never uses; skipping it
        # is most of what makes the 2nd..Nth camera cheap.
        self.http, self.cache, self.logger = http, None, logging.getLogger(__name__)
        self._close_session = False  # read by Transport.__del__; the driver closes its client
        self.load_timeout = self.operation_timeout = http.endpoint.timeout

    @property
    def last_reply_date(self) -> datetime | None:
        """The Date header of the last reply, a refusal included (the device's clock, to a second)."""
        return _http_date(self.http.last_date)

    async def post_xml(self, address: str, envelope: Any, headers: dict[str, str]) -> requests.Response:
        what = address.rsplit("/", 1)[-1].partition("?")[0] or "SOAP"
        # A SOAP fault comes with 400 or 500 and an envelope zeep reads; 401/403 stay credential refusals.
        reply = await self.http.request("POST", address, what, body=etree_to_string(envelope),
                                        content_type=headers.get("Content-Type", SOAP_CONTENT_TYPE),
                                        headers={k: v for k, v in headers.items() if k != "Content-Type"},
                                        expect=XML_TYPES, ok=(400, 500))
        parse_xml(reply.body, what)  # entities, DTDs, bad UTF-8 and truncation refused before zeep sees it
        response = requests.Response()
        response._content, response.status_code = reply.body, reply.status
        response.headers = CaseInsensitiveDict(reply.headers)
        response.encoding = "utf-8"
        return response


def _http_date(value: str | None) -> datetime | None:
    try:
        when = email.utils.parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None
    return when if when is None or when.tzinfo else when.replace(tzinfo=timezone.utc)


class LazyServiceProxy(AsyncServiceProxy):
    """zeep builds a proxy for each of a binding's ~100 operations up front; build only those called."""

    def __init__(self, client: Any, binding: Any, **binding_options: Any) -> None:
        self._client, self._binding, self._binding_options = client, binding, binding_options
        self._operations: dict[str, AsyncOperationProxy] = {}

    def __getitem__(self, key: str) -> AsyncOperationProxy:
        operation = self._operations.get(key)
        if operation is None:
            try:
                self._binding.get(key)
            except ValueError:
                raise AttributeError(f"Service has no operation {key!r}") from None
            operation = self._operations[key] = AsyncOperationProxy(self, key)
        return operation


def http_client(endpoint: Endpoint) -> DeviceHttp:
    """One device's connection pool; each request carries the driver's timeout."""
    return DeviceHttp(endpoint, accept="application/soap+xml, application/xml, text/xml, */*")


_LOAD_LOCK = threading.Lock()


def _load_once(path: str) -> Any:
    """Parse a WSDL once even when a thousand cameras start together (onvif's cache has no lock)."""
    with _LOAD_LOCK:
        if path not in _DOCUMENT_CACHE:
            asyncio.run(_cached_document(path))
        return _DOCUMENT_CACHE[path]


def wsdl_path(service: str) -> str:
    return os.path.join(_WSDL_PATH, SERVICES[service]["wsdl"])


async def service_proxy(service: str, xaddr: str, transport: BoundedTransport,
                        wsse: UsernameDigestTokenDtDiff | None) -> Any:
    """A zeep proxy for one ONVIF service; the parsed WSDL is shared by every camera in the process."""
    definition = SERVICES[service]
    path = wsdl_path(service)
    document = _DOCUMENT_CACHE.get(path) or await asyncio.to_thread(_load_once, path)
    client = ZeepAsyncClient(wsdl=document, wsse=wsse, transport=transport, settings=DEFAULT_SETTINGS,
                             plugins=[WsAddressingIfMissingPlugin()])
    binding = document.bindings[f"{{{definition['ns']}}}{definition['binding']}"]
    return LazyServiceProxy(client, binding, address=xaddr)


def username_token(username: str, password: str, clock_offset: float) -> UsernameDigestTokenDtDiff:
    """WS-UsernameToken digest whose Created follows the device clock, so a camera with a wrong clock still answers."""
    return UsernameDigestTokenDtDiff(username, password, dt_diff=timedelta(seconds=clock_offset), use_digest=True)


def fault_error(fault: zeep.exceptions.Fault, what: str) -> DeviceError:
    """ter:NotAuthorized (in any subcode, or the usual wording) is a credential problem; other faults are protocol."""
    subcodes = [getattr(code, "localname", str(code)) for code in (fault.subcodes or [])]
    words = f"{fault.message or ''} {fault.code or ''} {' '.join(subcodes)}"
    if "NotAuthorized" in words or "not authorized" in words.lower() or "Unauthorized" in words:
        return DeviceError(FindingKind.AUTH_FAILED, N_("{what}: device refused the credentials (ter:NotAuthorized)",
                                                       what=what))
    if subcodes:
        return DeviceError(FindingKind.PROTOCOL_ERROR, N_("{what}: SOAP fault {detail}", what=what,
                                                          detail=str(subcodes[-1])[:160]))
    # the device's own words, quoted as said: they are its language, not ours
    return DeviceError(FindingKind.PROTOCOL_ERROR, N_("{what}: SOAP fault, the device says {message!r}", what=what,
                                                      message=str(fault.message or fault.code or "")[:160]))


def map_error(error: BaseException, what: str) -> DeviceError:
    """Whatever zeep raised, as the finding kind a site integrator expects (the client mapped transport failures).

    A programming error (PROGRAMMING_ERRORS) is raised again, not mapped: it is a bug, not the device.
    """
    if isinstance(error, DeviceError):
        return error
    if isinstance(error, PROGRAMMING_ERRORS):
        raise error
    if isinstance(error, zeep.exceptions.Fault):
        return fault_error(error, what)
    if isinstance(error, (httpx.HTTPError, OSError)):
        return transport_error(error, what)
    return DeviceError(FindingKind.PROTOCOL_ERROR, N_("{what}: unexpected reply ({error})", what=what,
                                                      error=type(error).__name__))
