"""zeep service clients on onvif-zeep-async's once-per-process WSDLs, over a bounded, defensive transport."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import zeep.exceptions
from zeep.proxy import AsyncOperationProxy, AsyncServiceProxy

# onvif-zeep-async calls logging.basicConfig(level=INFO) when imported, which would print every
# HTTP request of every plugin; the appliance owns the logging configuration, so undo it.
_root, _root_handlers, _root_level = logging.getLogger(), list(logging.getLogger().handlers), logging.getLogger().level
from onvif.client import _DOCUMENT_CACHE, _WSDL_PATH, UsernameDigestTokenDtDiff, ZeepAsyncClient, _cached_document  # noqa: E402
from onvif.definition import SERVICES  # noqa: E402
from onvif.settings import DEFAULT_SETTINGS  # noqa: E402
from onvif.wsa import WsAddressingIfMissingPlugin  # noqa: E402
from onvif.zeep_aiohttp import AIOHTTPTransport  # noqa: E402

_root.handlers[:] = _root_handlers
_root.setLevel(_root_level)

from watchkeeper.devices.drivers import PROGRAMMING_ERRORS, DeviceError
from watchkeeper.core.findings import FindingKind
from watchkeeper.devices.safeparse import MAX_REPLY_BYTES, parse_xml, protocol_error

_XML_TYPES = ("application/soap+xml", "text/xml", "application/xml")


class BoundedTransport(AIOHTTPTransport):
    """Reads at most MAX_REPLY_BYTES, refuses non-XML, DTDs and entities before zeep sees a reply."""

    def __init__(self, session: aiohttp.ClientSession, timeout: float | None = None) -> None:
        # zeep's Transport.__init__ builds a requests.Session this async transport never uses; skipping it
        # is most of what makes the 2nd..Nth camera cheap.
        self.session, self.verify_ssl, self.proxy, self._close_session = session, False, None, False
        self.cache, self.logger = None, logging.getLogger(__name__)
        self._client_timeout = aiohttp.ClientTimeout(total=timeout + 1, connect=timeout) if timeout else session.timeout
        self.load_timeout = self.operation_timeout = self._client_timeout.total
        #: The Date header of the last reply (the device's clock, to a second), when it sent one.
        self.last_reply_date: datetime | None = None

    async def _post_internal(self, address: str, message: str | bytes, headers: dict[str, str]) -> Any:
        headers = dict(headers or {})
        headers.setdefault("Content-Type", 'application/soap+xml; charset="utf-8"')
        data = message.encode("utf-8") if isinstance(message, str) else message
        what = address.rsplit("/", 1)[-1] or "SOAP"
        async with self.session.post(address, data=data, headers=headers, timeout=self._client_timeout) as response:
            self.last_reply_date = _http_date(response.headers.get("Date"))
            if response.status == 401:
                raise DeviceError(FindingKind.AUTH_FAILED, f"{what}: HTTP 401, credentials refused")
            if (response.content_length or 0) > MAX_REPLY_BYTES:
                raise protocol_error(f"{what}: reply declares {response.content_length} bytes")
            content = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                content += chunk
                if len(content) > MAX_REPLY_BYTES:
                    raise protocol_error(f"{what}: reply exceeds {MAX_REPLY_BYTES} bytes")
            if not any(kind in response.headers.get("Content-Type", "").lower() for kind in _XML_TYPES):
                raise protocol_error(f"{what}: HTTP {response.status} reply is not SOAP "
                                     f"({response.headers.get('Content-Type', 'no content type')[:40]})")
            parse_xml(bytes(content), what)  # entities, DTDs, bad UTF-8 and truncation refused here
            return response, bytes(content)


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


def session() -> aiohttp.ClientSession:
    """One connection pool per device; each request carries the driver's timeout."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit_per_host=4),
                                 timeout=aiohttp.ClientTimeout(total=None))


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
        return DeviceError(FindingKind.AUTH_FAILED, f"{what}: device refused the credentials (ter:NotAuthorized)")
    detail = subcodes[-1] if subcodes else (fault.message or "fault")
    return DeviceError(FindingKind.PROTOCOL_ERROR, f"{what}: SOAP fault {detail}"[:200])


def map_error(error: BaseException, what: str) -> DeviceError:
    """Whatever zeep or aiohttp raised, as the finding kind a site integrator expects.

    A programming error (PROGRAMMING_ERRORS) is raised again, not mapped: it is a bug, not the device.
    """
    if isinstance(error, DeviceError):
        return error
    if isinstance(error, PROGRAMMING_ERRORS):
        raise error
    if isinstance(error, zeep.exceptions.Fault):
        return fault_error(error, what)
    if isinstance(error, aiohttp.ClientPayloadError):
        return DeviceError(FindingKind.PROTOCOL_ERROR, f"{what}: reply cut off ({type(error).__name__})")
    if isinstance(error, aiohttp.ServerDisconnectedError):
        # Closed before any reply: the device is not answering, as with a refused connection.
        return DeviceError(FindingKind.UNREACHABLE, f"{what}: connection closed without a reply")
    if isinstance(error, (aiohttp.ClientError, OSError, TimeoutError)):
        return DeviceError(FindingKind.UNREACHABLE, f"{what}: {type(error).__name__}")
    return DeviceError(FindingKind.PROTOCOL_ERROR, f"{what}: unexpected reply ({type(error).__name__})")
