"""`watchkeeper door probe|enroll`: look at one OSDP reader by its link, or give a new one its own key."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from watchkeeper.devices.drivers import DeviceError
from watchkeeper.core.i18n import N_, _, localize
from watchkeeper.core.textwidth import rjust
from watchkeeper.core.findings import Finding, kind_in_text
from watchkeeper.core.models import Endpoint, Secret
from watchkeeper.core.secrets import SecretError, resolve_secret

from . import DEFAULT_PORT

#: The reader's status as `osdp status` prints it for a person (--json keeps the keys).
STATUS_LABELS = {"online": N_("online"), "secure_channel": N_("secure channel"), "tamper": N_("tamper"),
                 "last_seen": N_("last seen")}

#: The reader failed the command itself (the host's exit code for a device failure, docs/cli.md).
EXIT_DEVICE = 3


def _endpoint(host: str, port: int, serial_port: str | None, address: int, key: Secret, timeout: float) -> Endpoint:
    options: dict[str, object] = {"address": address}
    if serial_port:
        options["serial_port"] = serial_port
    return Endpoint("osdp", host, port, password=key, timeout=timeout, options=options)


def _link_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--host", default="127.0.0.1", show_default=True, help=_("Serial-device server or simulator.")),
        click.option("--port", default=DEFAULT_PORT, show_default=True),
        click.option("--serial-port", default=None, help=_("RS-485 adapter, e.g. /dev/ttyUSB0 (instead of TCP).")),
        click.option("--address", default=0, show_default=True, help=_("The reader's OSDP address.")),
        click.option("--timeout", default=5.0, show_default=True, help=_("Seconds per reader call.")),
    ]):
        command = option(command)
    return command


@click.command("probe", help=_("Connect an OSDP reader by its link and key (not from site.toml: that is "
                                "`door status DOOR_ID`) and print online, secure channel and tamper state."))
@_link_options
@click.option("--key", "key_ref", required=True,
              help=_("The reader's key as env:NAME or file:PATH (32 hex digits)."))
@click.option("--json", "as_json", is_flag=True)
def probe(host: str, port: int, serial_port: str | None, address: int, timeout: float, key_ref: str,
          as_json: bool) -> None:
    try:
        key, inline = resolve_secret(key_ref, Path.cwd())
    except SecretError as error:
        raise click.BadParameter(str(error), param_hint="--key") from None
    if inline:
        click.echo(_("warning: a key on the command line ends up in shell history; use env: or file:"), err=True)
    endpoint = _endpoint(host, port, serial_port, address, key, timeout)
    try:
        result, findings = asyncio.run(_status(endpoint))
    except DeviceError as error:  # a key that is not 32 hex digits: nothing was sent to the reader
        raise click.BadParameter(localize(error.reason), param_hint="--key") from None
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        for name, label in STATUS_LABELS.items():
            value = result[name]
            shown = _("yes") if value is True else _("no") if value is False else value or "-"
            click.echo(rjust(localize(label), 15) + _(": ") + str(shown))
        for finding in findings:
            click.echo(rjust(kind_in_text(finding.kind), 15) + _(": ") + localize(finding.reason))
    if result["findings"]:
        raise SystemExit(1)


async def _status(endpoint: Endpoint) -> tuple[dict[str, Any], list[Finding]]:
    from .driver import OsdpDoor

    driver = OsdpDoor(endpoint)
    try:
        deadline = asyncio.get_running_loop().time() + endpoint.timeout
        while asyncio.get_running_loop().time() < deadline:
            state = await driver.status()
            if state.online or state.secure_channel_failed:  # waiting does not mend a wrong key
                break
            await asyncio.sleep(0.1)
        state = await driver.status()
        findings = await driver.findings()
    finally:
        await driver.close()
    return {"online": state.online, "secure_channel": state.secure_channel, "tamper": state.tamper,
            "last_seen": state.last_seen.isoformat() if state.last_seen else None,
            "findings": [{"kind": str(f.kind), "reason": f.reason} for f in findings]}, findings


@click.command(help=_("Enrol an OSDP reader in install mode: give it a new key, kept in KEY_FILE (created 0600 if absent)."))
@_link_options
@click.argument("key_file", type=click.Path(dir_okay=False, path_type=Path))
def enroll(host: str, port: int, serial_port: str | None, address: int, timeout: float, key_file: Path) -> None:
    from .driver import parse_scbk
    from .enrollment import enroll as enroll_reader

    if key_file.exists():
        try:
            key = Secret(key_file.read_text(encoding="utf-8").strip())
            parse_scbk(key)
        except (OSError, UnicodeDecodeError, DeviceError) as error:
            reason = localize(error.reason) if isinstance(error, DeviceError) else type(error).__name__
            raise click.BadParameter(f"{key_file}: {reason}", param_hint="KEY_FILE") from None
    else:
        key = Secret(secrets.token_hex(16))
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(key.reveal() + "\n")
    endpoint = _endpoint(host, port, serial_port, address, key, timeout)
    try:
        asyncio.run(enroll_reader(endpoint, key))
    except DeviceError as error:
        click.echo(f"{error.kind}: {localize(error.reason)}", err=True)
        raise SystemExit(EXIT_DEVICE) from None
    click.echo(_("reader enrolled; its key is in {path}").format(path=key_file))
