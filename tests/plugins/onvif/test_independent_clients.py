"""Clients we did not write (onvif-zeep-async, npm `onvif` by agsh, npm `node-onvif`) against the simulator."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from onvif import ONVIFCamera

from watchkeeper.plugins.onvif.simulator import simulate

JS = Path(__file__).parent / "js"
NODE = shutil.which("node")


@pytest.mark.asyncio
async def test_onvif_zeep_async_client() -> None:
    async with simulate(channels=2) as (device,):
        endpoint = device.endpoint
        camera = ONVIFCamera(endpoint.host, endpoint.port, endpoint.username, endpoint.password.reveal(),
                             adjust_time=True)
        try:
            await camera.update_xaddrs()
            assert "http://www.onvif.org/ver10/search/wsdl" in camera.xaddrs
            management = await camera.create_devicemgmt_service()
            info = await management.GetDeviceInformation()
            assert (info.Manufacturer, info.Model) == ("Watchkeeper Sim", "WK-ONVIF-NVR")
            clock = await management.GetSystemDateAndTime()
            utc = clock.UTCDateTime
            device_time = datetime(utc.Date.Year, utc.Date.Month, utc.Date.Day, utc.Time.Hour, utc.Time.Minute,
                                   utc.Time.Second, tzinfo=timezone.utc)
            assert abs((device_time - datetime.now(timezone.utc)).total_seconds()) < 3
            media = await camera.create_media_service()
            profiles = await media.GetProfiles()
            assert [p.token for p in profiles] == ["Profile_1", "Profile_1_sub", "Profile_2", "Profile_2_sub"]
            snapshot = await media.GetSnapshotUri({"ProfileToken": "Profile_2"})
            assert snapshot.Uri == f"http://127.0.0.1:{endpoint.port}/onvif/snapshot/2.jpg"
            image = await camera.get_snapshot("Profile_2")  # its own HTTP digest client
            assert image and image.startswith(b"\xff\xd8")
            stream = await media.GetStreamUri({"StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
                                               "ProfileToken": "Profile_1_sub"})
            assert stream.Uri.startswith("rtsp://127.0.0.1:") and stream.Uri.endswith("/ch1/sub")
            search = await camera.create_search_service()
            summary = await search.GetRecordingSummary()
            assert summary.NumberRecordings == 2
        finally:
            await camera.close()


def _node_client(which: str, endpoint: object) -> dict:
    completed = subprocess.run(
        [NODE, str(JS / "clients.js"), which, endpoint.host, str(endpoint.port), endpoint.username,
         endpoint.password.reveal()], capture_output=True, text=True, timeout=30)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.asyncio
@pytest.mark.parametrize("which", ["agsh", "node-onvif"])
async def test_node_clients(which: str) -> None:
    if NODE is None or not (JS / "node_modules" / ("onvif" if which == "agsh" else which)).is_dir():
        pytest.skip("node or tests/plugins/onvif/js/node_modules missing: run `npm ci --prefix tests/plugins/onvif/js`")
    async with simulate(channels=2) as (device,):
        result = await asyncio.to_thread(_node_client, which, device.endpoint)
        assert result["ok"], result
        assert (result["manufacturer"], result["model"]) == ("Watchkeeper Sim", "WK-ONVIF-NVR")
        assert result["profiles"] == ["Profile_1", "Profile_1_sub", "Profile_2", "Profile_2_sub"]
        assert result["snapshot"] == f"http://127.0.0.1:{device.endpoint.port}/onvif/snapshot/1.jpg"
        assert result["stream"].startswith("rtsp://127.0.0.1:") and result["stream"].endswith("/ch1/main")
        if which == "agsh":
            device_time = datetime.fromisoformat(result["time"].replace("Z", "+00:00"))
        else:
            t = {k: int(v) for part in result["time"].values() for k, v in part.items()}
            device_time = datetime(t["Year"], t["Month"], t["Day"], t["Hour"], t["Minute"], t["Second"],
                                   tzinfo=timezone.utc)
        assert abs((device_time - datetime.now(timezone.utc)).total_seconds()) < 5
        # Authenticated calls really were authenticated: WS-UsernameToken digest, nothing in the clear.
        assert not any(r.authorization.lower().startswith("basic") for r in device.log)

