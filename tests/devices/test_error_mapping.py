"""One mapping of device failures: transport failures become findings, programming errors stay bugs (issue 13
item 3, issue 14). Every vendor's HTTP goes through devices.http.transport_error; ONVIF adds only SOAP faults."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import zeep.exceptions

from watchkeeper.core.findings import FindingKind
from watchkeeper.core.models import Endpoint
from watchkeeper.devices.drivers import PROGRAMMING_ERRORS, DeviceError
from watchkeeper.devices.http import DeviceHttp, transport_error
from watchkeeper.plugins.onvif.transport import map_error

BUGS = [AttributeError("'Proxy' object has no attribute 'Renew'"), TypeError("takes 1 positional argument"),
        NameError("name 'x' is not defined"), AssertionError(), NotImplementedError()]


@pytest.mark.parametrize("bug", BUGS, ids=lambda e: type(e).__name__)
def test_onvif_mapper_raises_programming_errors(bug: Exception) -> None:
    with pytest.raises(type(bug)):
        map_error(bug, "Renew")


def test_onvif_mapper_still_maps_device_failures() -> None:
    request = httpx.Request("POST", "http://127.0.0.1/onvif/device_service")
    assert map_error(httpx.ConnectError("refused", request=request), "x").kind is FindingKind.UNREACHABLE
    assert map_error(TimeoutError(), "x").kind is FindingKind.UNREACHABLE
    assert map_error(zeep.exceptions.Fault("boom"), "x").kind is FindingKind.PROTOCOL_ERROR
    assert map_error(zeep.exceptions.XMLParseError("bad"), "x").kind is FindingKind.PROTOCOL_ERROR


@pytest.mark.parametrize("bug", BUGS, ids=lambda e: type(e).__name__)
def test_the_transport_mapping_raises_programming_errors(bug: Exception) -> None:
    with pytest.raises(type(bug)):
        transport_error(bug, "ISAPI/System/time")  # type: ignore[arg-type]


class _BuggyTransport(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise TypeError("a bug below the client")


def test_the_shared_client_lets_a_bug_through_and_maps_a_dead_device() -> None:
    async def scenario() -> None:
        buggy = DeviceHttp(Endpoint("acme", "127.0.0.1", 9, "admin", "pw", timeout=2.0))
        buggy._client = httpx.AsyncClient(transport=_BuggyTransport(), base_url=buggy.base_url)
        with pytest.raises(TypeError):
            await buggy.request("GET", "/", "probe")
        await buggy.aclose()
        dead = DeviceHttp(Endpoint("acme", "127.0.0.1", 9, "admin", "pw", timeout=2.0))  # the discard port
        with pytest.raises(DeviceError) as caught:
            await dead.request("GET", "/", "probe")
        await dead.aclose()
        assert caught.value.kind is FindingKind.UNREACHABLE
    asyncio.run(scenario())


def test_programming_errors_are_not_device_errors() -> None:
    assert not any(issubclass(kind, (DeviceError, OSError, ValueError)) for kind in PROGRAMMING_ERRORS)
