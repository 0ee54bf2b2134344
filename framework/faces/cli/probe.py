"""`watchkeeper probe platform://user:pass@host:port`: connect one device and say what it is."""

from __future__ import annotations

import asyncio
import json
import os
from urllib.parse import unquote, urlsplit

import click

from watchkeeper.devices.drivers import DeviceError
from watchkeeper.core.i18n import N_, _, localize
from watchkeeper.core.findings import kind_in_text
from watchkeeper.core.textwidth import rjust
from watchkeeper.core.models import Endpoint
from watchkeeper.host.pluginhost import collect_platforms
from watchkeeper.faces.cli.common import EXIT_FINDINGS, State


#: What a person reads for each key of the probe's answer (--json keeps the keys).
PROBE_LABELS = {
    "manufacturer": N_("manufacturer"), "model": N_("model"), "serial_number": N_("serial number"),
    "firmware_version": N_("firmware version"), "kind": N_("device kind"), "channels": N_("number of channels"),
    "device_time": N_("device time"), "clock_offset_seconds": N_("clock offset (s)"),
    "round_trip_seconds": N_("round trip (s)"), "time_zone": N_("device time zone"),
    "ntp_enabled": N_("NTP enabled"), "capabilities": N_("capabilities"),
}


def _shown(key: str, value: object) -> str:
    """A probe value for a person: yes/no, the device kind's name; a device's own words as it gives them."""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return _(value) if key == "kind" and isinstance(value, str) else str(value)


def register(cli: click.Group) -> None:
    cli.add_command(probe)


def parse_device_url(url: str, default_ports: dict[str, int]) -> Endpoint:
    """`hikvision://admin:pw@10.0.0.5:80` → Endpoint; a password may also come from WATCHKEEPER_PASSWORD."""
    parts = urlsplit(url)
    if parts.scheme not in default_ports:
        raise click.BadParameter(_("unknown platform {scheme!r}; installed: {names}").format(
            scheme=parts.scheme, names=", ".join(sorted(default_ports))))
    if not parts.hostname:
        raise click.BadParameter(_("no host in {url}").format(url=url.split("@")[-1]))
    try:
        port = parts.port or default_ports[parts.scheme]
    except ValueError:
        raise click.BadParameter(_("bad port in {url}").format(url=url.split("@")[-1])) from None
    password = unquote(parts.password) if parts.password else os.environ.get("WATCHKEEPER_PASSWORD", "")
    return Endpoint(parts.scheme, parts.hostname, port, unquote(parts.username or ""), password)


async def _probe(driver: object) -> dict[str, object]:
    try:
        info = await driver.device_info()
        clock = await driver.get_clock()
    finally:
        await driver.close()
    return {
        "manufacturer": info.manufacturer, "model": info.model, "serial_number": info.serial_number,
        "firmware_version": info.firmware_version, "kind": str(info.kind), "channels": info.channels,
        "device_time": clock.device_time.isoformat(), "clock_offset_seconds": round(clock.offset, 3),
        "round_trip_seconds": round(clock.round_trip, 3), "time_zone": clock.time_zone,
        "ntp_enabled": clock.ntp_enabled, "capabilities": sorted(str(c) for c in driver.capabilities),
    }


@click.command(help=_("Connect one device, print its info, clock offset and capabilities."))
@click.argument("url")
@click.option("--timeout", default=5.0, show_default=True, help=_("Seconds per device call."))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def probe(state: State, url: str, timeout: float, as_json: bool) -> None:
    platforms = collect_platforms(state.pm)
    cameras = {name: p.default_port for name, p in platforms.items() if p.camera_driver is not None}
    endpoint = parse_device_url(url, cameras)
    endpoint = Endpoint(endpoint.platform, endpoint.host, endpoint.port, endpoint.username,
                        endpoint.password, timeout)
    driver = platforms[endpoint.platform].camera_driver(endpoint)
    try:
        result = asyncio.run(_probe(driver))
    except DeviceError as error:
        message = {"finding": str(error.kind), "reason": error.reason}
        click.echo(json.dumps(message) if as_json else kind_in_text(error.kind) + _(": ") + localize(error.reason),
                   err=not as_json)
        raise SystemExit(EXIT_FINDINGS) from None  # what probing found: the device's finding
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        click.echo(rjust(localize(PROBE_LABELS[key]), 22) + _(": ") + _shown(key, value))
