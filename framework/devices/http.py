"""The one HTTP client vendor drivers share: Digest only, bounded replies, strict types, one error mapping.

A driver builds one :class:`DeviceHttp` per device from its :class:`~watchkeeper.core.models.Endpoint`
and asks it for replies of the media types it expects. Everything the network can do wrong ends as a
:class:`~watchkeeper.devices.drivers.DeviceError` of the right kind, through :func:`transport_error`;
a bug in the driver (an AttributeError, a TypeError) is never caught here, so it stays a bug.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from email.message import Message

import attrs
import httpx

from watchkeeper.core.findings import FindingKind
from watchkeeper.core.i18n import N_
from watchkeeper.core.models import Endpoint
from watchkeeper.devices.drivers import DeviceError, OptionCheck, with_timeout
from watchkeeper.devices.safeparse import MAX_REPLY_BYTES, decode_text, parse_xml, protocol_error, tls_context

#: Media types of an XML reply (ISAPI answers application/xml, SOAP application/soap+xml, old firmware text/xml).
XML_TYPES = frozenset({"application/xml", "text/xml", "application/soap+xml"})
#: Media types of a plain-text reply (Dahua CGI's key=value lines).
TEXT_TYPES = frozenset({"text/plain"})
JPEG_TYPES = frozenset({"image/jpeg", "image/jpg"})
#: Declared charsets whose bytes are read as UTF-8; any other declaration is refused, not guessed at.
UTF8_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
#: Replies that mean the credentials were refused, on every vendor's firmware we know.
AUTH_STATUSES = frozenset({401, 403})
#: How much of an error reply is read to explain it; the rest is never read.
ERROR_HEAD_BYTES = 64 * 1024
#: The per-device options DeviceHttp reads: a platform whose drivers use it declares these with its own
#: (`Platform(options={**HTTP_OPTIONS, ...})`), so site.toml may set them on its devices.
HTTP_OPTIONS: dict[str, OptionCheck] = {"https": bool, "verify_tls": bool}


@attrs.frozen
class TransportFailure:
    """One row of the mapping from a failed HTTP exchange to a finding kind."""

    errors: tuple[type[BaseException], ...]
    kind: FindingKind
    reason: str
    #: True: only when the device had not begun its reply; None: either way.
    before_reply: bool | None = None
    #: Only when the error's message says this (upper case), e.g. a refused certificate.
    says: str = ""


#: THE mapping, first matching row wins: a connection closed before any reply is a device that is not
#: answering (unreachable), one closed mid-reply is a broken reply (protocol error).
TRANSPORT_FAILURES: tuple[TransportFailure, ...] = (
    TransportFailure((httpx.TimeoutException, TimeoutError), FindingKind.UNREACHABLE, N_("no reply in time")),
    TransportFailure((httpx.RemoteProtocolError, httpx.ReadError), FindingKind.UNREACHABLE,
                     N_("connection closed without a reply"), before_reply=True),
    TransportFailure((httpx.RemoteProtocolError, httpx.ReadError, httpx.DecodingError), FindingKind.PROTOCOL_ERROR,
                     N_("reply broken off")),
    TransportFailure((httpx.ConnectError,), FindingKind.UNREACHABLE, N_("the device's TLS certificate is not trusted"),
                     says="CERTIFICATE"),
    TransportFailure((httpx.HTTPError, OSError), FindingKind.UNREACHABLE, N_("connection failed")),
)


def transport_error(error: httpx.HTTPError | OSError, what: str, replied: bool = True) -> DeviceError:
    """The finding kind a failed HTTP exchange means, by TRANSPORT_FAILURES.

    `replied` says whether the device had begun its reply. Only transport failures are mapped;
    anything else is re-raised, because it is a bug, not a device.
    """
    if not isinstance(error, (httpx.HTTPError, OSError)):
        raise error
    for row in TRANSPORT_FAILURES:
        if (isinstance(error, row.errors) and not (row.before_reply and replied)
                and row.says in str(error).upper()):
            return DeviceError(row.kind, N_("{what}: {reason} ({error})", what=what, reason=row.reason,
                                                error=type(error).__name__))
    raise AssertionError("the last row of TRANSPORT_FAILURES matches every transport failure")  # pragma: no cover


def media_type(headers: Mapping[str, str]) -> tuple[str, str | None]:
    """`application/xml; charset="UTF-8"` → ("application/xml", "utf-8"); absent → ("", None)."""
    raw = headers.get("Content-Type", "")
    if not raw:
        return "", None
    message = Message()
    message["Content-Type"] = raw
    charset = message.get_param("charset")
    return message.get_content_type().lower(), str(charset).strip().lower() if isinstance(charset, str) else None


@attrs.frozen
class Reply:
    """A whole reply: status, headers, the body (at most MAX_REPLY_BYTES) and its media type."""

    status: int
    headers: httpx.Headers
    body: bytes
    media_type: str
    charset: str | None

    def text(self, what: str) -> str:
        """The body as strict UTF-8 (a declared charset other than UTF-8 was refused already)."""
        return decode_text(self.body, what)


class Stream:
    """A long reply (event stream, clip download) read chunk by chunk, at most `idle` seconds apart."""

    def __init__(self, response: httpx.Response, what: str) -> None:
        self._response, self.what = response, what
        self.status = response.status_code
        self.headers = response.headers
        self.media_type, self.charset = media_type(response.headers)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; silence longer than the idle time ends it as UNREACHABLE."""
        try:
            async for chunk in self._response.aiter_bytes():
                yield chunk
        except httpx.HTTPError as error:
            raise transport_error(error, self.what) from None


def _check_type(kind: str, charset: str | None, expect: Collection[str] | None, what: str, status: int) -> None:
    if expect is not None and kind not in expect:
        expected = " | ".join(sorted(expect))
        if not kind:
            raise protocol_error(N_("{what}: HTTP {status} reply has no content type, expected {expected}",
                                    what=what, status=status, expected=expected))
        raise protocol_error(N_("{what}: HTTP {status} reply is {type}, expected {expected}", what=what,
                                status=status, type=kind[:40], expected=expected))
    if charset is not None and charset not in UTF8_CHARSETS:
        raise protocol_error(N_("{what}: reply declares charset {charset!r}, expected UTF-8", what=what,
                                charset=charset[:20]))


class DeviceHttp:
    """One device's HTTP over a keep-alive pool: Digest from the first request, never Basic.

    `explain` turns the start of an error reply into a short reason (a vendor's status document);
    `auth_statuses` are the replies that mean the credentials were refused.
    """

    def __init__(self, endpoint: Endpoint, *, accept: str = "*/*",
                 explain: Callable[[bytes], str] | None = None,
                 auth_statuses: Collection[int] = AUTH_STATUSES,
                 max_reply_bytes: int = MAX_REPLY_BYTES) -> None:
        self.endpoint = endpoint
        self.accept, self.explain = accept, explain
        self.auth_statuses, self.max_reply_bytes = frozenset(auth_statuses), max_reply_bytes
        host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
        scheme = "https" if endpoint.option("https", False) else "http"
        self.base_url = f"{scheme}://{host}:{endpoint.port}"
        #: The Date header of the last reply, refusals included (a device's clock, to the second).
        self.last_date: str | None = None
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"DeviceHttp({self.base_url}, user={self.endpoint.username!r})"

    @property
    def client(self) -> httpx.AsyncClient:
        """Built on first use, so a driver costs nothing until it talks to its device."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                # Digest only: a Basic attempt, even as a fallback, puts the password on the wire in the clear.
                auth=httpx.DigestAuth(self.endpoint.username, self.endpoint.password.reveal()),
                timeout=httpx.Timeout(self.endpoint.timeout),
                headers={"Accept": self.accept},
                verify=tls_context(self.endpoint.option("verify_tls", True)),
                follow_redirects=False,
            )
        return self._client

    def _build(self, method: str, path: str, body: bytes | None, content_type: str | None,
               params: Mapping[str, str] | None, headers: Mapping[str, str] | None,
               timeout: httpx.Timeout | None = None) -> httpx.Request:
        merged = dict(headers or {})
        if body is not None and content_type:
            merged.setdefault("Content-Type", content_type)
        return self.client.build_request(method, path, content=body, params=params, headers=merged,
                                         timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT)

    async def _send(self, request: httpx.Request, what: str) -> httpx.Response:
        try:
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError as error:
            raise transport_error(error, what, replied=False) from None
        self.last_date = response.headers.get("Date")
        return response

    async def _read(self, response: httpx.Response, what: str, limit: int) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise protocol_error(N_("{what}: reply declares {size} bytes, over {limit}", what=what, size=declared,
                                    limit=limit))
        chunks, size = [], 0
        try:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise protocol_error(N_("{what}: reply exceeds {limit} bytes", what=what, limit=limit))
                chunks.append(chunk)
        except httpx.HTTPError as error:
            raise transport_error(error, what) from None
        return b"".join(chunks)

    async def _head(self, response: httpx.Response, what: str) -> bytes:
        """The start of an error reply, enough to explain it; the rest is not read."""
        data = b""
        try:
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) >= ERROR_HEAD_BYTES:
                    break
        except httpx.HTTPError:
            pass  # the status already says what went wrong; a broken explanation adds nothing
        return data[:ERROR_HEAD_BYTES]

    def check_status(self, status: int, headers: httpx.Headers, head: bytes, what: str,
                     ok: Collection[int] = ()) -> None:
        """401/403 → AUTH_FAILED; any other status that is neither 2xx nor in `ok` → PROTOCOL_ERROR."""
        if status in self.auth_statuses:
            offered = headers.get("WWW-Authenticate", "")
            if status == 401 and offered and not offered.lower().lstrip().startswith("digest"):
                raise DeviceError(FindingKind.AUTH_FAILED, N_(
                    "{what}: device offers only {scheme} authentication; the password is sent by Digest only",
                    what=what, scheme=offered.split()[0][:20]))
            reason = self.explain(head) if self.explain and head else ""
            raise DeviceError(FindingKind.AUTH_FAILED,
                              N_("{what}: device refused the credentials (HTTP {status}) {detail}", what=what,
                                 status=status, detail=reason) if reason else
                              N_("{what}: device refused the credentials (HTTP {status})", what=what, status=status))
        if 200 <= status < 300 or status in ok:
            return
        reason = self.explain(head) if self.explain and head else ""
        raise protocol_error(N_("{what}: HTTP {status} {detail}", what=what, status=status, detail=reason) if reason
                             else N_("{what}: HTTP {status}", what=what, status=status))

    async def request(self, method: str, path: str, what: str, *, body: bytes | None = None,
                      content_type: str | None = None, params: Mapping[str, str] | None = None,
                      headers: Mapping[str, str] | None = None, expect: Collection[str] | None = None,
                      ok: Collection[int] = ()) -> Reply:
        """One exchange within endpoint.timeout: status checked, body bounded, media type in `expect`.

        `ok` lists non-2xx statuses whose body the caller reads itself (a SOAP fault comes with 400 or 500).
        """

        async def exchange() -> Reply:
            response = await self._send(self._build(method, path, body, content_type, params, headers), what)
            try:
                status = response.status_code
                if status in self.auth_statuses or not (200 <= status < 300 or status in ok):
                    self.check_status(status, response.headers, await self._head(response, what), what, ok)
                kind, charset = media_type(response.headers)
                _check_type(kind, charset, expect, what, status)
                data = await self._read(response, what, self.max_reply_bytes)
                return Reply(status, response.headers, data, kind, charset)
            finally:
                await response.aclose()

        return await with_timeout(exchange(), self.endpoint.timeout, what)

    async def text(self, method: str, path: str, what: str, *, expect: Collection[str] = TEXT_TYPES,
                   body: bytes | None = None, content_type: str | None = None,
                   params: Mapping[str, str] | None = None) -> str:
        """A text reply of a media type in `expect`, strict UTF-8."""
        reply = await self.request(method, path, what, body=body, content_type=content_type, params=params,
                                   expect=expect)
        return reply.text(what)

    async def xml(self, method: str, path: str, what: str, *, body: bytes | None = None,
                  content_type: str | None = None, params: Mapping[str, str] | None = None) -> ElementTree.Element:
        """An XML reply, strict UTF-8, parsed without DTDs or entities."""
        reply = await self.request(method, path, what, body=body, content_type=content_type, params=params,
                                   expect=XML_TYPES)
        decode_text(reply.body, what)
        return parse_xml(reply.body, what)

    @asynccontextmanager
    async def stream(self, method: str, path: str, what: str, idle: float, *, body: bytes | None = None,
                     content_type: str | None = None, params: Mapping[str, str] | None = None,
                     expect: Collection[str] | None = None) -> AsyncIterator[Stream]:
        """A long reply: headers within endpoint.timeout, then at most `idle` seconds between chunks."""
        timeout = httpx.Timeout(self.endpoint.timeout, read=idle)
        request = self._build(method, path, body, content_type, params, None, timeout)
        response = await with_timeout(self._send(request, what), self.endpoint.timeout, what)
        try:
            if not 200 <= response.status_code < 300:
                head = await with_timeout(self._head(response, what), self.endpoint.timeout, what)
                self.check_status(response.status_code, response.headers, head, what)
            kind, charset = media_type(response.headers)
            _check_type(kind, charset, expect, what, response.status_code)
            yield Stream(response, what)
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
