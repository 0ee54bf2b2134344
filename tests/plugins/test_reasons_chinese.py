"""Every vendor's device failures read in Chinese: each platform's simulator is started with its fault
modes, its driver is called, and the reasons of the findings it raises are rendered with
WATCHKEEPER_LANG=zh_CN as the store and the report render them, then scanned for English."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from watchkeeper.core.findings import Finding
from watchkeeper.core.i18n import Text
from watchkeeper.core.models import Capability, Secret
from watchkeeper.devices.drivers import CapabilityMissing, DeviceError, Platform, door_findings
from watchkeeper.evidence.findingstore import _details, reason_of
from watchkeeper.host.pluginhost import collect_platforms, load_plugins
from watchkeeper.simulation.faults import FaultProfile, Hostile
from tests.test_chinese_output import ALLOWED, english_runs

TIMEOUT = 1.5
#: What a faulty device can do wrong that a driver turns into a finding; each vendor's simulator
#: plays the ones its protocol can carry and ignores the rest.
FAULTS = [FaultProfile(wrong_password=True), FaultProfile(drop=True), FaultProfile(slow=TIMEOUT + 1),
          FaultProfile(clock_needs_auth=True), *(FaultProfile(hostile=kind) for kind in Hostile)]
HAN = re.compile(r"[\u4e00-\u9fff]")
PLATFORMS = collect_platforms(load_plugins())


async def _camera_reasons(platform: Platform) -> list[Finding]:
    """Findings of one camera platform's driver against its simulator under every fault (and switched off)."""
    assert platform.camera_driver is not None and platform.simulator is not None
    found: list[Finding] = []
    now = datetime.now(timezone.utc)
    async with platform.simulator(password=secrets.token_hex(8)) as devices:
        device = devices[0]
        for fault in FAULTS:
            device.set_faults(fault)
            driver = platform.camera_driver(attrs.evolve(device.endpoint, timeout=TIMEOUT))
            calls = [driver.device_info, driver.get_clock]
            if Capability.RECORDINGS in driver.capabilities:
                calls.append(lambda: driver.recordings(1, now - timedelta(hours=1), now))
            if Capability.SNAPSHOT in driver.capabilities:
                calls.append(lambda: driver.snapshot(1))
            try:
                for call in calls:
                    try:
                        await asyncio.wait_for(call(), TIMEOUT * 4 + 5)
                    except DeviceError as error:
                        found.append(error.finding("cam", channel=1))
                    except CapabilityMissing:
                        pass
            finally:
                await driver.close()
        dead = attrs.evolve(device.endpoint, timeout=TIMEOUT)
    # the simulator is gone: the device does not answer at all
    driver = platform.camera_driver(dead)
    try:
        await driver.device_info()
    except DeviceError as error:
        found.append(error.finding("cam"))
    finally:
        await driver.close()
    return found


async def _door_reasons(platform: Platform) -> list[Finding]:
    """Findings of one door platform's reader: a wrong key, then the reader switched off."""
    assert platform.door_driver is not None and platform.simulator is not None
    found: list[Finding] = []
    async with platform.simulator(password=secrets.token_hex(16)) as readers:
        endpoint = attrs.evolve(readers[0].endpoint, timeout=TIMEOUT)
        for variant in (attrs.evolve(endpoint, password=Secret(secrets.token_hex(16))),
                        attrs.evolve(endpoint, password=Secret("not hex"))):
            driver = platform.door_driver(variant)
            try:
                await asyncio.sleep(TIMEOUT)
                found += door_findings("door", await driver.status())
                await driver.grant(1.0)
            except DeviceError as error:
                found.append(error.finding("door"))
            finally:
                await driver.close()
    driver = platform.door_driver(endpoint)
    try:
        await asyncio.sleep(TIMEOUT)
        found += door_findings("door", await driver.status())
        await driver.deny()
    except DeviceError as error:
        found.append(error.finding("door"))
    finally:
        await driver.close()
    return found


@pytest.mark.parametrize("name", sorted(name for name, p in PLATFORMS.items() if p.simulator is not None))
async def test_faulty_device_reasons_are_chinese(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    platform = PLATFORMS[name]
    findings = await (_camera_reasons(platform) if platform.camera_driver else _door_reasons(platform))
    assert len({f.reason for f in findings}) >= 2, f"{name}: the faults raised too few findings: {findings}"
    # a reason written as a plain string has no msgid: it would stay English for every reader
    plain = sorted({str(f.reason) for f in findings if not isinstance(f.reason, Text)})
    assert not plain, f"{name}: reasons without a msgid (use N_): {plain}"
    monkeypatch.setenv("WATCHKEEPER_LANG", "zh_CN")
    english: dict[str, list[str]] = {}
    for finding in findings:
        # as the store keeps it (English + reason_msg) and the report and the CLI show it
        row: dict[str, Any] = {"reason": str(finding.reason), "details": json.dumps(_details(finding))}
        shown = reason_of(row)
        assert HAN.search(shown), (str(finding.reason), shown)
        if runs := english_runs(shown, ALLOWED):
            english[shown] = runs
    assert not english, f"{name}:\n" + "\n".join(f"{shown}: {runs}" for shown, runs in english.items())
