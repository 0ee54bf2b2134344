"""Every transport's error mapper: device failures become findings, programming errors stay bugs (issue 13, item 3)."""

from __future__ import annotations

import asyncio

import aiohttp
import httpx
import pytest
import zeep.exceptions

from watchkeeper.core.findings import FindingKind
from watchkeeper.devices.drivers import PROGRAMMING_ERRORS, DeviceError
from watchkeeper.devices.safeparse import fetch, http_error
from watchkeeper.plugins.dahua.transport import device_error
from watchkeeper.plugins.onvif.transport import map_error

BUGS = [AttributeError("'Proxy' object has no attribute 'Renew'"), TypeError("takes 1 positional argument"),
        NameError("name 'x' is not defined"), AssertionError(), NotImplementedError()]


@pytest.mark.parametrize("bug", BUGS, ids=lambda e: type(e).__name__)
def test_onvif_mapper_raises_programming_errors(bug: Exception) -> None:
    with pytest.raises(type(bug)):
        map_error(bug, "Renew")


def test_onvif_mapper_still_maps_device_failures() -> None:
    assert map_error(aiohttp.ClientConnectionError(), "x").kind is FindingKind.UNREACHABLE
    assert map_error(TimeoutError(), "x").kind is FindingKind.UNREACHABLE
    assert map_error(zeep.exceptions.Fault("boom"), "x").kind is FindingKind.PROTOCOL_ERROR
    assert map_error(zeep.exceptions.XMLParseError("bad"), "x").kind is FindingKind.PROTOCOL_ERROR


@pytest.mark.parametrize("bug", BUGS, ids=lambda e: type(e).__name__)
def test_dahua_mapper_raises_programming_errors(bug: Exception) -> None:
    with pytest.raises(type(bug)):
        device_error(bug, "getCurrentTime")
    wrapped = aiohttp.ClientError("wrapped")
    wrapped.__cause__ = bug  # a library that wrapped its own bug is still a bug
    with pytest.raises(aiohttp.ClientError):
        device_error(wrapped, "getCurrentTime")


def test_dahua_mapper_still_maps_device_failures() -> None:
    assert device_error(aiohttp.ClientConnectionError(), "x").kind is FindingKind.UNREACHABLE
    assert device_error(ValueError("not a number"), "x").kind is FindingKind.PROTOCOL_ERROR


@pytest.mark.parametrize("bug", BUGS, ids=lambda e: type(e).__name__)
def test_safeparse_mapper_raises_programming_errors(bug: Exception) -> None:
    with pytest.raises(type(bug)):
        http_error(bug, "ISAPI/System/time")  # type: ignore[arg-type]


class _BuggyTransport(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise TypeError("a bug below the client")


def test_safeparse_fetch_lets_a_bug_through_and_maps_a_dead_device() -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient(transport=_BuggyTransport()) as client:
            with pytest.raises(TypeError):
                await fetch(client, client.build_request("GET", "http://127.0.0.1:9/"), "probe")
        async with httpx.AsyncClient() as client:  # nothing listens on the discard port
            with pytest.raises(DeviceError) as caught:
                await fetch(client, client.build_request("GET", "http://127.0.0.1:9/"), "probe")
            assert caught.value.kind is FindingKind.UNREACHABLE
    asyncio.run(scenario())


def test_programming_errors_are_not_device_errors() -> None:
    assert not any(issubclass(kind, (DeviceError, OSError, ValueError)) for kind in PROGRAMMING_ERRORS)
