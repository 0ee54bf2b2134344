"""Enrolment: move a reader out of install mode (default key SCBK-D) onto its own secure channel key."""

from __future__ import annotations

import asyncio
import logging
import time

from watchkeeper.devices.drivers import DeviceError
from watchkeeper.core.findings import FindingKind
from watchkeeper.core.i18n import N_
from watchkeeper.core.models import Endpoint, Secret

from .driver import Panel, parse_scbk

log = logging.getLogger("watchkeeper.osdp")


async def enroll(endpoint: Endpoint, new_scbk: Secret, within: float | None = None) -> None:
    """Give the reader at endpoint the key new_scbk; return once a session with that key is up.

    libosdp does the work when the panel is in install mode: it tries the new key, falls back to
    SCBK-D, sends osdp_KEYSET with the new key and restarts the secure channel to prove it. A
    reader that already holds new_scbk is accepted as enrolled. Raises DeviceError: UNREACHABLE
    when nothing answers, AUTH_FAILED when the reader holds some other key and is not in install mode.
    """
    key = parse_scbk(new_scbk)
    loop = asyncio.get_running_loop()
    panel = Panel(endpoint, key, install_mode=True)
    panel.start()
    deadline = time.monotonic() + (within if within is not None else max(endpoint.timeout, 10.0))
    try:
        while time.monotonic() < deadline:
            if panel.online() and panel.secure() and not panel.sc_with_default_key:
                log.info("%s: reader enrolled with its own key", endpoint.label())
                return
            if panel.online() and not panel.secure():
                # Neither the new key nor SCBK-D worked and libosdp settled for a plain session.
                if panel.declares_secure_channel():
                    raise DeviceError(FindingKind.AUTH_FAILED,
                                      N_("reader is not in install mode and holds another key"))
                raise DeviceError(FindingKind.PROTOCOL_ERROR, N_("reader has no secure channel support"))
            await asyncio.sleep(0.05)
        if time.monotonic() - panel.channel.last_rx < 5.0:
            raise DeviceError(FindingKind.AUTH_FAILED,
                              N_("reader answers but is not in install mode and holds another key"))
        raise DeviceError(FindingKind.UNREACHABLE, N_("reader does not answer"))
    finally:
        await loop.run_in_executor(None, panel.close)
