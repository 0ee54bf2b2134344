"""Shared fixtures: a minimal valid site config in a temporary folder, and an opened App."""

from __future__ import annotations

import os
import socket
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import argon2
import pytest

from watchkeeper.host import open_site
from watchkeeper.simulation.ntp import SntpServer
from watchkeeper.site import config, identity
from watchkeeper.site.app import App

SITE = """\
[site]
name = "Test site"
time_zone = "Asia/Shanghai"
store = "data/watchkeeper.db"
journal_key = "keys/journal.key"

[policies]
clock_tolerance_seconds = 30
retention_days = 30

[[people]]
id = "li"
name = "Li Wei"
roles = ["operator"]
trained_on = 2025-03-01

[[people]]
id = "zhang"
name = "Zhang Min"
roles = ["supervisor"]

[[people]]
id = "new-op"
name = "New Operator"
roles = ["operator"]
"""


@pytest.fixture
def site_file(tmp_path: Path) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(textwrap.dedent(SITE), encoding="utf-8")
    return path


@pytest.fixture
def app(site_file: Path):
    opened = open_site(site_file)
    yield opened
    opened.close()


#: How to install what pip cannot: the README gives the same command.
SYSTEM_INSTALL = ("xargs -a .ci/apt-packages apt-get install -y --no-install-recommends"
                  " && npm ci --prefix tests/plugins/onvif/js")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line saying which tests a machine without the Debian or npm packages skipped, and why."""
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if any(marker in reason for marker in ("apt-get install", ".ci/apt-packages", "npm ci")):
            reason = reason.removeprefix("Skipped: ")
            reasons[reason] = reasons.get(reason, 0) + 1
    if reasons:
        total = sum(reasons.values())
        why = "; ".join(f"{count} × {reason}" for reason, count in reasons.items())
        terminalreporter.write_line(
            f"{total} tests skipped for want of system packages ({why}). Install them: {SYSTEM_INSTALL}",
            yellow=True, bold=True)


@pytest.fixture(scope="session")
def reference_clock():
    """A real SNTP server on 127.0.0.1 serving this host's time: the tests' standard time (R7)."""
    with SntpServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _table_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables (`journal show`) fit the terminal's width, so what a test reads from one depended on
    where pytest ran: 160 columns off a terminal (CI), but 80 under pytest-xdist (which sets COLUMNS)
    or in a narrow terminal, cutting the text the tests look for. Every test gets CI's width; a test of
    the fitting sets its own."""
    monkeypatch.setenv("COLUMNS", "160")


@pytest.fixture(autouse=True)
def _ntp_on_loopback(reference_clock: SntpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests talk only to 127.0.0.1: a site naming no NTP servers gets the local one, never China's
    national time service or a public pool (the defaults a real site gets)."""
    monkeypatch.setattr(config, "DEFAULT_NTP_SERVERS", (reference_clock.address,))


#: Passwords the tests set in this process are hashed at argon2id's lowest cost: at the production
#: cost (64 MiB, 3 passes; ~0.17 CPU-s a hash or a check) the suite's hundreds of logins were CPU
#: spent on nothing a test checks. A check reads the cost from the stored hash, so a command run as a
#: subprocess checks these cheaply too. tests/test_password_cost.py (marked `production_kdf`) keeps
#: the production cost tested.
TEST_HASHER = argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def _cheap_password_hashes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("production_kdf") is None:
        monkeypatch.setattr(identity, "HASHER", TEST_HASHER)


#: The Redis of the distributed-inspection tests (docs/distributed.md; `.ci/run` starts it).
TEST_REDIS = os.environ.get("WATCHKEEPER_TEST_REDIS", "redis://127.0.0.1:6390")
#: The databases those tests may use on it, in order of preference. 11 comes last: earlier versions of
#: these tests used it without a claim.
TEST_REDIS_DATABASES = (12, 13, 14, 15, 10, 9, 8, 11)
#: Claims live in database 0, which no test flushes; a claim a killed run left behind expires.
REDIS_CLAIM, REDIS_CLAIM_SECONDS = "watchkeeper-tests:database:{}", 3 * 3600


@pytest.fixture(scope="session")
def redis_database() -> Iterator[int | None]:
    """A Redis database no other test process uses meanwhile (None without a Redis): the flushes and
    key counts of tests running at the same time (pytest-xdist workers, or another checkout's suite on
    the same Redis) would otherwise clear or count each other's tasks."""
    import redis

    parts = urlsplit(TEST_REDIS)
    client = redis.Redis(host=parts.hostname, port=parts.port or 6379, db=0)
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
    try:
        number = next((n for n in TEST_REDIS_DATABASES
                       if client.set(REDIS_CLAIM.format(n), token, nx=True, ex=REDIS_CLAIM_SECONDS)), None)
    except (OSError, redis.RedisError):
        client.close()
        yield None
        return
    if number is None:
        client.close()
        raise AssertionError(f"every test database on {TEST_REDIS} {TEST_REDIS_DATABASES} is claimed by another run")
    try:
        yield number
    finally:
        if client.get(REDIS_CLAIM.format(number)) == token.encode():
            client.delete(REDIS_CLAIM.format(number))
        client.close()
