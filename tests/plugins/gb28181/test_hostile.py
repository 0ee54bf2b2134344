"""The platform under hostile input: garbage, floods and oversized messages cost little and change nothing."""

from __future__ import annotations

import asyncio
import socket

from watchkeeper.plugins.gb28181 import manscdp, sip
from watchkeeper.plugins.gb28181.driver import Gb28181Driver
from watchkeeper.plugins.gb28181.simulator import simulate

PASSWORD = "gb-hostile-password"


async def test_a_flood_of_garbage_and_strangers_leaves_the_platform_serving() -> None:
    async with simulate(password=PASSWORD) as devices:
        device = devices[0]
        driver = Gb28181Driver(device.endpoint)
        try:
            assert (await driver.device_info()).manufacturer
            platform = driver._platform
            assert platform is not None
            target = (device.endpoint.host, device.endpoint.port)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as attacker:
                for index in range(3000):
                    attacker.sendto(bytes([index % 256]) * 300, target)
                    stranger = sip.SipMessage("REGISTER sip:34020000002000000001@3402000000 SIP/2.0", [
                        ("Via", "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx"),
                        ("From", f"<sip:340200000013299{index:05d}@3402000000>;tag=a"),
                        ("To", "<sip:x@3402000000>"), ("Call-ID", f"{index}@evil"), ("CSeq", "1 REGISTER")])
                    attacker.sendto(stranger.encode(), target)
                    attacker.sendto(b"MESSAGE sip:x SIP/2.0\r\nContent-Length: 99999999\r\n\r\n" + b"A" * 60000, target)
                    if index % 200 == 0:
                        await asyncio.sleep(0)
            await asyncio.sleep(0.5)
            # Strangers were refused without a challenge: no state grew for them.
            assert len(platform._nonces) <= 2 and len(platform.registrations) == 1
            assert (await driver.get_clock()).round_trip < 2
        finally:
            await driver.close()


def test_bodies_are_bounded_and_declared_encodings_are_read() -> None:
    gb2312 = manscdp.encode("Response", "Catalog", 7, "34020000001320000001",
                            [("SumNum", 1), ("DeviceList", [[("DeviceID", "34020000001310000001"), ("Name", "北门")]])])
    assert b'encoding="GB2312"' in gb2312 and "北门".encode("gb18030") in gb2312
    body = manscdp.decode(gb2312)
    assert body.items("DeviceList") == [{"DeviceID": "34020000001310000001", "Name": "北门"}]
    for hostile, reason in [
        (b'<?xml version="1.0" encoding="GB2312"?><Response>' + b"\xff\xff" * 10 + b"</Response>", "not valid"),
        (b'<?xml version="1.0" encoding="EBCDIC"?><Response/>', "unknown encoding"),
        (b"<Response>" + b"A" * 40000 + b"</Response>", "over"),
        (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "y">]><Response><CmdType>&x;</CmdType></Response>', "XML"),
        (b"<Query><CmdType>Catalog</CmdType></Query>", "required"),
    ]:
        try:
            manscdp.decode(hostile)
        except manscdp.ManscdpError as error:
            assert reason in str(error), (hostile[:40], error)
        else:
            raise AssertionError(f"accepted {hostile[:40]!r}")
