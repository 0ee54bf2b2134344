"""One Dahua device session: aiodahua's client over a bounded aiohttp session, errors → DeviceError."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar
from urllib.parse import quote

import aiohttp
from aiodahua import DahuaClient
from aiodahua.digest import DigestAuth
from aiodahua.exceptions import (
    DahuaAuthError,
    DahuaConnectionError,
    DahuaError,
    DahuaTimeoutError,
)

from watchkeeper.devices.drivers import PROGRAMMING_ERRORS, DeviceError, with_timeout
from watchkeeper.core.findings import FindingKind
from watchkeeper.core.models import Endpoint

from .cgi import BoundedResponse, ReplyTooLarge

T = TypeVar("T")

#: aiohttp failures that mean the device answered but broke HTTP, not that it is away.
_BROKEN_REPLY = (aiohttp.ClientPayloadError, aiohttp.ContentTypeError, aiohttp.http_exceptions.HttpProcessingError)


def device_error(error: BaseException, what: str) -> DeviceError:
    """Map what aiodahua and aiohttp raise to the three finding kinds; never echoes a URL.

    A programming error, or anything else this does not know, is raised again: a bug is not the device's.
    """
    if isinstance(error, DeviceError):
        return error
    if isinstance(error, PROGRAMMING_ERRORS) or isinstance(error.__cause__, PROGRAMMING_ERRORS):
        raise error
    if isinstance(error, DahuaAuthError):
        return DeviceError(FindingKind.AUTH_FAILED, f"{what}: credentials rejected")
    if isinstance(error, (DahuaTimeoutError, TimeoutError)):
        return DeviceError(FindingKind.UNREACHABLE, f"{what}: no reply in time")
    if isinstance(error, (ReplyTooLarge, UnicodeDecodeError)):
        return DeviceError(FindingKind.PROTOCOL_ERROR, f"{what}: {type(error).__name__}")
    cause = error.__cause__ or error
    if isinstance(cause, _BROKEN_REPLY):
        return DeviceError(FindingKind.PROTOCOL_ERROR, f"{what}: reply broken off ({type(cause).__name__})")
    if isinstance(error, DahuaConnectionError) or isinstance(error, (aiohttp.ClientConnectionError, OSError)):
        return DeviceError(FindingKind.UNREACHABLE, f"{what}: {type(cause).__name__}")
    if isinstance(error, (DahuaError, aiohttp.ClientError, ValueError)):
        return DeviceError(FindingKind.PROTOCOL_ERROR, f"{what}: {type(error).__name__}")
    raise error


class DahuaSession:
    """aiodahua's DahuaClient for CGI calls, with digest only and bounded bodies; lazily connected."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._session: aiohttp.ClientSession | None = None
        self._client: DahuaClient | None = None

    def __repr__(self) -> str:
        return f"DahuaSession({self.endpoint.label()})"

    @property
    def base_url(self) -> str:
        return f"http://{self.endpoint.host}:{self.endpoint.port}"

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                response_class=BoundedResponse,
                connector=aiohttp.TCPConnector(limit=4, family=socket.AF_UNSPEC),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.endpoint.timeout),
            )
        return self._session

    def client(self) -> DahuaClient:
        if self._client is None:
            # basic_auth_fallback=False: Basic would send the password in the clear.
            self._client = DahuaClient(
                self.endpoint.host, self.endpoint.username, self.endpoint.password.reveal(),
                port=self.endpoint.port, session=self.session(), timeout=self.endpoint.timeout,
                basic_auth_fallback=False,
            )
        return self._client

    async def call(self, awaitable: Awaitable[T], what: str, timeout: float | None = None) -> T:
        """Await one device call under the endpoint timeout; any failure becomes DeviceError."""
        try:
            return await with_timeout(awaitable, timeout or self.endpoint.timeout, what)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # mapped: drivers raise only DeviceError
            raise device_error(error, what) from None

    async def text(self, path: str) -> str:
        """GET `/cgi-bin/<path>` and return the body as strict UTF-8 text."""
        what = path.partition("?")[0] + _action(path)
        return await self.call(self.client().async_get_text(path), what)

    async def binary(self, path: str) -> bytes:
        what = path.partition("?")[0]
        return await self.call(self.client().async_get_bytes(path), what)

    @contextlib.asynccontextmanager
    async def stream(self, path: str, what: str) -> AsyncIterator[aiohttp.ClientResponse]:
        """A digest-authenticated streaming GET (event stream, file download); status checked."""
        auth = DigestAuth(self.endpoint.username, self.endpoint.password.reveal(), self.session())
        try:
            response = await with_timeout(auth.request("GET", f"{self.base_url}/cgi-bin/{path}"),
                                          self.endpoint.timeout, what)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            raise device_error(error, what) from None
        try:
            if response.status == 401:
                raise DeviceError(FindingKind.AUTH_FAILED, f"{what}: credentials rejected")
            if response.status != 200:
                raise DeviceError(FindingKind.PROTOCOL_ERROR, f"{what}: HTTP {response.status}")
            yield response
        finally:
            response.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
            self._client = None


def _action(path: str) -> str:
    query = path.partition("?")[2]
    for item in query.split("&"):
        if item.startswith("action="):
            return "?" + item
    return ""


def q(value: str) -> str:
    """Percent-encode a query value the way firmware accepts (colons and hyphens literal)."""
    return quote(value, safe=":-")
