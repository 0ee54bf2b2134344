"""Clients we did not write (amcrest, aiodahua) read the simulator: proof it speaks real Dahua CGI."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import cv2
import numpy as np
import pytest
from aiodahua import DahuaClient
from aiodahua.parsers import DHAV_MAGIC
from amcrest import AmcrestCamera

from watchkeeper.core.models import DeviceEventKind
from watchkeeper.plugins.dahua import cgi
from watchkeeper.plugins.dahua.simulator import SimulatedDahua

from .conftest import PASSWORD

BEIJING = timezone(timedelta(hours=8))


def amcrest_camera(device: SimulatedDahua):
    return AmcrestCamera("127.0.0.1", device.endpoint.port, "admin", PASSWORD,
                         retries_connection=0, timeout_protocol=5.0).camera


@pytest.mark.asyncio
async def test_amcrest_reads_identity_time_and_snapshot(camera: SimulatedDahua) -> None:
    def read() -> tuple[str, str, datetime, bytes]:
        api = amcrest_camera(camera)
        return api.system_information, api.device_type, api.current_time, api.snapshot(stream=False)

    info, model, device_time, jpeg = await asyncio.to_thread(read)
    assert f"serialNumber={camera.serial}" in info.splitlines()
    assert model == camera.model
    # amcrest reads the naive device-local time; the simulator's zone is GMT+08:00.
    local_now = datetime.now(BEIJING).replace(tzinfo=None)
    assert abs((device_time - local_now).total_seconds()) < 5
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[2] == 3
    # amcrest tries Basic first; the simulator must refuse it (and it never reaches a handler).
    assert camera.http.basic_requests()


@pytest.mark.asyncio
async def test_amcrest_pages_through_file_search(camera: SimulatedDahua) -> None:
    end = datetime.now(BEIJING).replace(tzinfo=None, microsecond=0)
    start = end - timedelta(days=5)

    def search() -> list[str]:
        return list(amcrest_camera(camera).find_files(start, end, channel=1))

    pages = await asyncio.to_thread(search)
    assert len(pages) >= 2, "five days of hourly files need more than one page of 100"
    paths = [line.split("=", 1)[1] for page in pages for line in page.splitlines() if ".FilePath=" in line]
    assert 119 <= len(paths) <= 121 and len(set(paths)) == len(paths)
    assert all(p.startswith("/mnt/sd/") and p.endswith("[R][0@0][0].dav") for p in paths)
    assert not camera.sessions.finders, "amcrest closes and destroys the finder; the simulator must honour it"


@pytest.mark.asyncio
async def test_amcrest_reads_the_event_stream(camera: SimulatedDahua) -> None:
    def first_event() -> tuple[str, dict]:
        api = amcrest_camera(camera)
        for code, payload in api.event_actions("VideoLoss,VideoBlind,StorageFailure", timeout_cmd=(5.0, 10.0)):
            return code, payload
        raise AssertionError("stream ended without an event")

    reader = asyncio.create_task(asyncio.to_thread(first_event))
    for _ in range(50):
        await asyncio.sleep(0.1)
        if camera.subscribers:
            break
    await camera.trigger_event(DeviceEventKind.TAMPER, 1)
    code, payload = await asyncio.wait_for(reader, 15)
    assert code == "VideoBlind"
    assert payload["action"] == "Start" and payload["index"] == "0"
    assert isinstance(payload["data"], dict) and "UTC" in payload["data"]


@pytest.mark.asyncio
async def test_aiodahua_client_reads_storage_recordings_logs_and_clip(nvr: SimulatedDahua) -> None:
    async with DahuaClient("127.0.0.1", "admin", PASSWORD, port=nvr.endpoint.port, timeout=5,
                           basic_auth_fallback=False) as client:
        assert await client.async_get_device_type() == nvr.model
        brand = await client.async_identify()
        assert str(brand.brand).lower().endswith("dahua")
        (disk,) = await client.async_get_storage_info()
        assert disk["healthy"] and disk["name"] == "/dev/sda" and disk["total_bytes"] > 10**12
        now = datetime.now(BEIJING).replace(tzinfo=None, microsecond=0)
        start = (now - timedelta(hours=3)).strftime(cgi.DEVICE_TIME_FORMAT)
        found, files = await client.async_find_recordings(start, now.strftime(cgi.DEVICE_TIME_FORMAT), channel=9)
        assert found == len(files) >= 3 and all(f["record_type"] == "regular" for f in files)
        assert all(f["channel"] == "8" for f in files), "items[].Channel is the 0-based index"
        clip = await client.async_download_clip(files[0]["start_time"], files[0]["end_time"], channel=9)
        assert clip.startswith(DHAV_MAGIC) and len(clip) == files[0]["size_bytes"]
        # log.cgi: a clock change is audited.
        await client.async_get_text(f"global.cgi?action=setCurrentTime&time={now:%Y-%m-%d%%20%H:%M:%S}")
        logs = await client.async_search_logs(start, (now + timedelta(minutes=5)).strftime(cgi.DEVICE_TIME_FORMAT))
        assert any(entry["type"] == "SetTime" and entry["user"] == "admin" for entry in logs)
    assert not nvr.sessions.finders and not nvr.sessions.logs
    assert not nvr.http.basic_requests()


@pytest.mark.asyncio
async def test_aiodahua_stream_events(camera: SimulatedDahua) -> None:
    received: list[bytes] = []
    async with DahuaClient("127.0.0.1", "admin", PASSWORD, port=camera.endpoint.port, timeout=5,
                           basic_auth_fallback=False) as client:
        task = asyncio.create_task(client.stream_events(lambda data, _: received.append(data),
                                                        ["VideoLoss", "StorageFailure"], 0))
        for _ in range(50):
            await asyncio.sleep(0.1)
            if camera.subscribers:
                break
        await camera.trigger_event(DeviceEventKind.DISK_ERROR, 1)
        for _ in range(50):
            if b"StorageFailure" in b"".join(received):
                break
            await asyncio.sleep(0.1)
        task.cancel()
    stream = b"".join(received)
    assert b"Code=StorageFailure;action=Start;index=0" in stream
    assert stream.startswith(b"--myboundary\r\n")
