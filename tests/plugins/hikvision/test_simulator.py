"""Wire details of the simulator that clients rely on: the challenge, error documents, paging spellings."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from watchkeeper.plugins.hikvision.driver import HikvisionDriver
from watchkeeper.plugins.hikvision.isapi import NAMESPACE
from watchkeeper.devices.safeparse import parse_xml


def _auth(device) -> httpx.DigestAuth:
    return httpx.DigestAuth(device.endpoint.username, device.endpoint.password.reveal())


async def test_challenge_offers_only_digest(camera) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{camera.endpoint.port}") as client:
        response = await client.get("/ISAPI/System/deviceInfo")
    assert response.status_code == 401
    challenges = response.headers.get_list("WWW-Authenticate")
    assert len(challenges) == 1 and challenges[0].startswith("Digest ")
    assert 'realm="IP Camera(83813)"' in challenges[0] and 'qop="auth"' in challenges[0]


async def test_unknown_and_unsupported_paths_answer_response_status(camera) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{camera.endpoint.port}", auth=_auth(camera)) as client:
        unknown = await client.get("/ISAPI/Nothing/here")
        proxy = await client.get("/ISAPI/ContentMgmt/InputProxy/channels")  # a camera has no IP channels
        outputs = await client.get("/ISAPI/System/IO/outputs")
    for response in (unknown, proxy):
        root = parse_xml(response.content, "reply")
        assert response.status_code == 404 and root.tag == f"{{{NAMESPACE}}}ResponseStatus"
        assert root.find(f"{{{NAMESPACE}}}subStatusCode").text == "notSupport"
    assert parse_xml(outputs.content, "outputs").tag == f"{{{NAMESPACE}}}IOOutputPortList"


async def test_search_accepts_both_position_spellings(camera) -> None:
    driver = HikvisionDriver(camera.endpoint)
    try:
        zone = await driver.zone()
    finally:
        await driver.close()
    end = datetime.now(zone).replace(microsecond=0, tzinfo=None)
    start = end - timedelta(hours=60)

    def request(tag: str, position: int) -> bytes:
        return (f'<?xml version="1.0" encoding="UTF-8"?><CMSearchDescription><searchID>X</searchID>'
                f"<trackIDList><trackID>101</trackID></trackIDList><timeSpanList><timeSpan>"
                f"<startTime>{start.isoformat()}Z</startTime><endTime>{end.isoformat()}Z</endTime></timeSpan>"
                f"</timeSpanList><maxResults>100</maxResults><{tag}>{position}</{tag}></CMSearchDescription>").encode()

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{camera.endpoint.port}", auth=_auth(camera)) as client:
        pages = [parse_xml((await client.post("/ISAPI/ContentMgmt/search", content=request(tag, position))).content, "s")
                 for tag, position in (("searchResultPostion", 0), ("searchResultPosition", 40))]
    status = [page.find(f"{{{NAMESPACE}}}responseStatusStrg").text for page in pages]
    counts = [int(page.find(f"{{{NAMESPACE}}}numOfMatches").text) for page in pages]
    assert status == ["MORE", "OK"] and counts[0] == 40 and 20 <= counts[1] <= 22
    first_times = [page.find(f".//{{{NAMESPACE}}}startTime").text for page in pages]
    assert first_times[0] < first_times[1] and all(t.endswith("Z") for t in first_times)


async def test_simulator_serves_pictures_and_clips_at_the_asked_resolution(tmp_path) -> None:
    import cv2
    import numpy as np
    from watchkeeper.plugins.hikvision.simulator import simulate

    async with simulate(resolution=(1920, 1080)) as (camera,):
        driver = HikvisionDriver(camera.endpoint)
        try:
            first, second = await driver.snapshot(1), await driver.snapshot(1)
            now = datetime.now(camera.zone())
            clip = await driver.download_clip(1, now - timedelta(days=1), now - timedelta(days=1) + timedelta(seconds=4),
                                              tmp_path / "clip.avi")
        finally:
            await driver.close()
    frames = [cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) for data in (first, second)]
    assert all(frame.shape == (1080, 1920, 3) for frame in frames)
    assert np.abs(frames[0].astype(int) - frames[1]).mean() > 0.1  # a live camera: the next frame differs
    capture = cv2.VideoCapture(str(clip))
    ok, frame = capture.read()
    capture.release()
    assert ok and frame.shape == (1080, 1920, 3)
