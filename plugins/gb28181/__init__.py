"""GB/T 28181 devices (the national video-networking standard): watchkeeper as their SIP platform."""

from __future__ import annotations

from collections.abc import Callable

from watchkeeper import hookimpl
from watchkeeper.devices.drivers import Platform, option_problem

from .driver import Gb28181Driver
from .simulator import simulate


def _digits(count: int) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        problem = option_problem(str, value)
        if problem or (isinstance(value, str) and len(value) == count and value.isdigit()):
            return problem
        return f"must be {count} digits, not {value!r}"

    return check


def _zone(value: object) -> str | None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    problem = option_problem(str, value)
    if problem or not isinstance(value, str):
        return problem
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {value!r} (an IANA name such as Asia/Shanghai)"
    return None


def _port_range(value: object) -> str | None:
    problem = option_problem(str, value)
    first, _, last = str(value).partition("-")
    if problem or (first.isdigit() and last.isdigit() and 1024 <= int(first) <= int(last) <= 65535):
        return problem
    return f"must be a port range like 30000-30999, not {value!r}"


def _transport(value: object) -> str | None:
    problem = option_problem(str, value)
    if problem or value in ("udp", "tcp"):
        return problem
    return f"must be udp or tcp (TCP passive: the device connects), not {value!r}"


@hookimpl
def register_platforms(register: Callable[[Platform], None]) -> None:
    register(Platform(
        name="gb28181", camera_driver=Gb28181Driver, simulator=simulate, default_port=5060,
        description="GB/T 28181 cameras and NVRs registering to watchkeeper's SIP platform (UDP and TCP)",
        options={"platform_id": _digits(20), "domain": _digits(10), "time_zone": _zone, "media_address": str,
                 "rtp_ports": _port_range, "media_transport": _transport},
    ))
