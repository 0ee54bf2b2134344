"""OSDP door readers through libosdp: the door driver, the reader simulator and the `door` commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from watchkeeper import hookimpl
from watchkeeper.core.models import Endpoint
from watchkeeper.devices.drivers import DoorDriver, Platform, in_range

#: OSDP over TCP has no assigned port; 4001 is where serial-device servers (Moxa NPort and kin)
#: expose their first RS-485 port in TCP-server mode.
DEFAULT_PORT = 4001


def _door_driver(endpoint: Endpoint) -> DoorDriver:  # imported lazily: `watchkeeper --help` does not load libosdp
    from .driver import OsdpDoor

    return OsdpDoor(endpoint)


def _simulator(**options: Any) -> Any:
    from .simulator import simulate

    return simulate(**options)


@hookimpl
def register_platforms(register: Callable[[Platform], None]) -> None:
    # The reader's address and serial port are the door's own keys (`address`, `serial_port`).
    register(Platform(name="osdp", door_driver=_door_driver, simulator=_simulator, default_port=DEFAULT_PORT,
                      description="OSDP v2 readers (libosdp), secure channel enforced",
                      options={"baudrate": in_range(int, 1200, 921600), "offline_after": in_range(float, 0.2, 60),
                               "retry_seconds": in_range(float, 0.5, 300), "strike_output": in_range(int, 0, 255)}))


@hookimpl
def register_commands(cli: click.Group) -> None:
    from .cli import enroll, probe

    # The `door` group is the host's (`door open|status DOOR_ID` for any door platform, from
    # site.toml); OSDP adds its link-level commands for readers not (yet) in the site to it.
    door = cli.commands["door"]
    assert isinstance(door, click.Group)  # the host's `door` group
    for command in (probe, enroll):
        door.add_command(command)
