"""Media over TCP passive (RFC 4571 framing): the platform offers TCP/RTP/AVP with a=setup:passive, the
simulated device connects and streams its PS, and the driver decodes it as it does from UDP."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import attrs
import cv2
import numpy as np
import pytest

from watchkeeper.devices.drivers import DeviceError
from watchkeeper.plugins.gb28181 import media
from watchkeeper.plugins.gb28181.driver import Gb28181Driver
from watchkeeper.plugins.gb28181.simulator import simulate

PASSWORD = "gb-tcp-password"


def test_the_offer_and_its_parse_say_tcp_passive() -> None:
    sdp = media.Offer("34020000001310000001", "127.0.0.1", 30002, "0123456789", None, "tcp").sdp("34020000002000000001")
    assert "m=video 30002 TCP/RTP/AVP 96\r\n" in sdp and "a=setup:passive\r\n" in sdp and "a=connection:new\r\n" in sdp
    parsed = media.parse_sdp(sdp)
    assert (parsed["protocol"], parsed["setup"], parsed["port"]) == ("TCP/RTP/AVP", "passive", "30002")
    udp = media.parse_sdp(media.Offer("3402", "127.0.0.1", 30004, "1").sdp("3402"))
    assert udp["protocol"] == "RTP/AVP" and "setup" not in udp
    packet = next(media.packets(b"\x00\x00\x01\xba" * 10, 7))
    assert media.framed(packet)[:2] == len(packet).to_bytes(2, "big")


async def test_live_and_playback_frames_over_tcp(tmp_path: Path) -> None:
    async with simulate(password=PASSWORD, channels=2) as devices:
        device = devices[0]
        endpoint = attrs.evolve(device.endpoint, options={**device.endpoint.options, "media_transport": "tcp"})
        driver = Gb28181Driver(endpoint)
        try:
            jpeg = await driver.snapshot(2)
            picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            assert picture is not None and picture.shape[2] == 3 and picture.std() > 5  # a scene, not a blank
            end = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
            clip = await driver.download_clip(1, end - timedelta(seconds=4), end, tmp_path / "clip.mp4")
            frames = media.decode(clip.read_bytes(), limit=10)
            assert len(frames) >= 3 and frames[0].shape == picture.shape
        finally:
            await driver.close()
        assert device.log.count("Play") == 1 and device.log.count("Playback") == 1
        assert device.media_transports == ["tcp", "tcp"]


async def test_a_device_that_never_connects_is_known_within_its_timeout(tmp_path: Path) -> None:
    async with simulate(password=PASSWORD) as devices:
        device = devices[0]
        device.refuses_tcp_media = {"Play", "Playback"}
        endpoint = attrs.evolve(device.endpoint, timeout=2.0,
                                options={**device.endpoint.options, "media_transport": "tcp"})
        driver = Gb28181Driver(endpoint)
        try:
            await driver.device_info()  # registered: what follows waits only for the media
            for call in (lambda: driver.snapshot(1),
                         lambda: driver.download_clip(1, datetime.now(timezone.utc) - timedelta(hours=1, seconds=4),
                                                      datetime.now(timezone.utc) - timedelta(hours=1),
                                                      tmp_path / "clip.mp4")):
                started = time.monotonic()
                with pytest.raises(DeviceError) as caught:
                    await call()
                # The same kind as a UDP session that brings nothing (the inspection makes a failed
                # replay playback_unavailable), with the reason naming the TCP connection.
                assert caught.value.kind == "protocol_error" and "never connected" in caught.value.reason
                assert time.monotonic() - started < 2.0 + 2.0 + 10.0  # timeout, BYE's bound, slack for a loaded machine
        finally:
            await driver.close()
