"""The appliance under systemd: a hardened unit for `watchkeeper run`, and sd_notify readiness and watchdog."""

from __future__ import annotations

import os
import shlex
import socket
from pathlib import Path

UNIT_NAME = "watchkeeper.service"
STATE_DIRECTORY = "watchkeeper"  # systemd makes /var/lib/watchkeeper, owned by the service's user
WATCHDOG_SECONDS = 60


def unit_text(executable: Path, config: Path, user: str = "watchkeeper", listen: str = "127.0.0.1:8080",
              writable: tuple[Path, ...] = ()) -> str:
    """The unit: a dedicated system user, state under /var/lib/watchkeeper, the file system read-only
    but for that (and the folders the site config writes to), no new privileges, restarted on
    failure, and a watchdog that `run` feeds."""
    command = " ".join(shlex.quote(str(part)) for part in (executable, "--config", config, "run", "--listen", listen))
    state = Path("/var/lib") / STATE_DIRECTORY
    extra = sorted({str(path) for path in writable if state not in (path, *path.parents)})
    read_write = " ".join([str(state), *extra])
    return f"""[Unit]
Description=watchkeeper: the site's recording-management regulation, carried out every day
Documentation=file://{config.parent}
Wants=network-online.target time-sync.target
After=network-online.target time-sync.target

[Service]
Type=notify
NotifyAccess=main
ExecStart={command}
User={user}
Group={user}
StateDirectory={STATE_DIRECTORY}
StateDirectoryMode=0700
WorkingDirectory=/var/lib/{STATE_DIRECTORY}
Environment=PYTHONUNBUFFERED=1
UMask=0077
Restart=on-failure
RestartSec=5
WatchdogSec={WATCHDOG_SECONDS}
TimeoutStopSec=30
# Hardening: the appliance writes only its state directory (store, journal key, exports, reports).
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths={read_write}
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=no
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
MemoryDenyWriteExecute=no
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
SystemCallArchitectures=native
CapabilityBoundingSet=
AmbientCapabilities=
# OSDP readers on RS-485 adapters are serial devices: the service user needs the dialout group.
SupplementaryGroups=dialout

[Install]
WantedBy=multi-user.target
"""


def install_unit(folder: Path, executable: Path, config: Path, user: str, listen: str,
                 writable: tuple[Path, ...] = ()) -> Path:
    """Write the unit into folder (normally /etc/systemd/system); returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / UNIT_NAME
    temporary = path.with_suffix(".tmp")
    temporary.write_text(unit_text(executable, config, user, listen, writable), encoding="utf-8")
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)
    return path


def notify(message: str) -> bool:
    """Send one sd_notify message (READY=1, WATCHDOG=1, STATUS=..., STOPPING=1); False outside systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.connect(address)
            sock.sendall(message.encode("utf-8"))
        except OSError:
            return False
    return True


def watchdog_interval() -> float | None:
    """Half the watchdog period systemd set for this process, or None when there is none."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000
