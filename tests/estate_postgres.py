"""A real PostgreSQL server for the estate's tests: initdb and pg_ctl in a temporary folder."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres_server() -> Iterator[str | None]:
    """Yields the URL of a fresh server's `postgres` database, or None when PostgreSQL is not installed."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="wk-estate-pg-"))
    # PostgreSQL refuses to run as root: the tests do, in CI, so the server runs as `postgres`.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(folder, "postgres")
    data = folder / "data"
    try:
        subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "estate", "--no-sync"],
                       check=True, capture_output=True, timeout=120)
        for _attempt in range(3):  # a port taken between choosing and binding it: another one
            port = _free_port()
            started = subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-w", "-t", "60",
                                      "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start"],
                                     capture_output=True, timeout=120)
            if started.returncode == 0:
                break
        else:
            log = (folder / "log").read_text(errors="replace") if (folder / "log").exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {started.stderr.decode(errors='replace')}\n{log[-2000:]}")
        try:
            yield f"postgresql://estate@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True,
                           timeout=60)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def fresh_database(server: str, name: str) -> str:
    """A new empty database on the server; its URL."""
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.rsplit("/", 1)[0] + "/" + name
