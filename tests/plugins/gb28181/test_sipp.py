"""SIPp, an independent SIP tool, against both ends: as a device to watchkeeper's platform, and as a
platform to watchkeeper's device simulator. Each scenario checks the other side's messages itself."""

from __future__ import annotations

import asyncio
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from watchkeeper.core.models import Endpoint
from watchkeeper.devices.drivers import DeviceError
from watchkeeper.plugins.gb28181.driver import Gb28181Driver
from watchkeeper.plugins.gb28181.simulator import free_udp_and_tcp_port, simulate

SIPP = shutil.which("sipp")
SCENARIOS = Path(__file__).parent / "sipp"
pytestmark = pytest.mark.skipif(SIPP is None, reason="SIPp missing: apt-get install sip-tester")
DEVICE = "34020000001320000099"
PASSWORD = "sipp-device-secret"


async def _sipp(folder: Path, *args: str, timeout: float = 30) -> tuple[int, str]:
    """Run one SIPp call in folder (where it writes its error log); its exit code and what it said."""
    process = await asyncio.create_subprocess_exec(
        SIPP or "sipp", *args, "-m", "1", "-nostdin", "-timeout", "20s", "-timeout_error", "-trace_err",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=folder)
    output, _ = await asyncio.wait_for(process.communicate(), timeout)
    errors = "".join(path.read_text(errors="replace") for path in folder.glob("*_errors.log"))
    return process.returncode or 0, (output.decode(errors="replace") + errors)[-4000:]


async def test_sipp_device_registers_to_the_platform_and_answers_catalog(tmp_path: Path) -> None:
    port = free_udp_and_tcp_port("127.0.0.1")
    device_port = free_udp_and_tcp_port("127.0.0.1")
    driver = Gb28181Driver(Endpoint("gb28181", "127.0.0.1", port, DEVICE, PASSWORD, 15.0))
    asking = asyncio.create_task(driver.channels())
    await asyncio.sleep(0.3)  # the platform is listening once the driver has started it
    device = ("-i", "127.0.0.1", "-p", str(device_port), "-t", "u1", "-s", DEVICE)
    code, output = await _sipp(tmp_path, f"127.0.0.1:{port}", "-sf", str(SCENARIOS / "register.xml"), *device,
                               "-au", DEVICE, "-ap", PASSWORD)
    assert code == 0, output
    # SIPp maps requests to calls by Call-ID, and the platform's query is a new dialog: the same
    # device port is served next by a SIPp UAS that answers it.
    code, output = await _sipp(tmp_path, "-sf", str(SCENARIOS / "answer_catalog.xml"), *device)
    try:
        channels = await asyncio.wait_for(asking, 20)
    finally:
        await driver.close()
    assert code == 0, output
    assert channels == ["34020000001310000091", "34020000001310000092"]


async def test_sipp_device_with_a_wrong_password_is_refused(tmp_path: Path) -> None:
    port = free_udp_and_tcp_port("127.0.0.1")
    driver = Gb28181Driver(Endpoint("gb28181", "127.0.0.1", port, DEVICE, PASSWORD, 8.0))
    asking = asyncio.create_task(driver.device_info())
    await asyncio.sleep(0.3)
    code, output = await _sipp(tmp_path, f"127.0.0.1:{port}", "-sf", str(SCENARIOS / "register.xml"),
                               "-i", "127.0.0.1", "-t", "u1", "-s", DEVICE, "-au", DEVICE, "-ap", "wrong")
    with pytest.raises(DeviceError) as caught:
        await asyncio.wait_for(asking, 20)
    await driver.close()
    assert code != 0 and "403" in output  # SIPp got 403 where its scenario expected 200
    assert caught.value.kind == "auth_failed"


async def test_sipp_platform_verifies_the_simulator_and_reads_its_record_info(tmp_path: Path) -> None:
    port = free_udp_and_tcp_port("127.0.0.1")
    zone = ZoneInfo("Asia/Shanghai")
    end = datetime.now(zone).replace(microsecond=0) - timedelta(hours=1)
    start = end - timedelta(hours=1)
    platform = ("-i", "127.0.0.1", "-p", str(port), "-t", "u1")
    fields = tmp_path / "device.csv"
    # The simulated device's ID and channel are known before it starts (index 0, one channel).
    device_id = "34020000001320000001"
    fields.write_text(f"SEQUENTIAL\n{device_id};{PASSWORD};34020000001310000001;"
                      f"{start:%Y-%m-%dT%H:%M:%S};{end:%Y-%m-%dT%H:%M:%S};\n")
    # SIPp listens first, as a platform is up before its devices register.
    challenging = asyncio.create_task(_sipp(tmp_path, "-sf", str(SCENARIOS / "platform_queries.xml"), *platform,
                                            "-inf", str(fields)))
    await asyncio.sleep(0.5)
    async with simulate(port=port, password=PASSWORD, keepalive_seconds=600) as devices:
        device = devices[0]
        assert (device.device_id, device.channel_ids()[0]) == (device_id, "34020000001310000001")
        code, output = await challenging
        assert code == 0, output
        # The device answers in a new dialog (as devices do), retransmitting until it hears 200 OK.
        code, output = await _sipp(tmp_path, "-sf", str(SCENARIOS / "read_record_info.xml"), *platform)
        assert code == 0, output
        assert device.registered.is_set()
        assert device.log == ["RecordInfo"]
        # The simulator set its clock from SIPp's Date header, as devices do.
        assert device.clock_from_platform is not None
        assert device.clock_from_platform.strftime("%Y-%m-%dT%H:%M:%S") == "2026-11-29T08:00:00"
