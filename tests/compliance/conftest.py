"""The scenario suite's helpers: a site of simulated cameras, a clause's verdict, journal seqs.

Each scenario builds its evidence through the product's own actions (commands, checks, the door
service) against real simulators, then reads one clause's verdict from the report and checks its
status, the rule branch that decided it and the evidence ids it lists.
"""

from __future__ import annotations

import contextlib
import json
import textwrap
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from watchkeeper.faces.report import build_report
from watchkeeper.host import open_site
from watchkeeper.plugins.hikvision.simulator import simulate as hikvision
from watchkeeper.site.app import App

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "report-schema.json").read_text())
PASSWORD = "scenario-Pass-2026"

PEOPLE = """
[[people]]
id = "li"
name = "Li Wei"
roles = ["operator"]
badges = ["12345"]
trained_on = 2025-03-01

[[people]]
id = "zhang"
name = "Zhang Min"
roles = ["supervisor"]
badges = ["22222"]
trained_on = 2024-09-01

[[people]]
id = "wang"
name = "Wang Fang"
roles = ["maintenance"]

[[people]]
id = "new-op"
name = "New Operator"
roles = ["operator"]

# Li is the operator on duty for every shift, so the scenarios' signatures are a duty operator's (R5).
[[duty]]
shift = "08:00"
operators = ["li"]

[[duty]]
shift = "20:00"
operators = ["li"]
"""


def verdict(app: App, clause: str, period: str = "day", ending: datetime | None = None) -> dict[str, Any]:
    """One clause's verdict from a report built as `watchkeeper report` builds it (schema-checked)."""
    report = build_report(app, period, ending)
    jsonschema.validate(report, SCHEMA)
    return next(c for c in report["clauses"] if c["clause"] == clause)


def seqs(app: App, kind: str | None = None, subject: str | None = None, key: str | None = None) -> list[int]:
    """Journal seqs of the entries matching kind, subject and a body key."""
    return [e["seq"] for e in app.journal.entries(kind) if (subject is None or e["subject"] == subject)
            and (key is None or key in json.loads(e["body"]))]


def backdate(monkeypatch: pytest.MonkeyPatch, days: float) -> datetime:
    """Pretend the site was commissioned `days` ago (duties older than the journal are nobody's)."""
    moment = datetime.now(timezone.utc) - timedelta(days=days)
    monkeypatch.setattr(App, "commissioned_at", lambda self: moment)
    return moment


def write_site(folder: Path, body: str, policies: str = "") -> Path:
    path = folder / "site.toml"
    path.write_text(textwrap.dedent(f"""\
        [site]
        name = "Scenario"
        time_zone = "Asia/Shanghai"
        [policies]
        inspection_frames = 2
        frame_interval_seconds = 0.05
        """) + textwrap.dedent(policies) + body + PEOPLE, encoding="utf-8")
    return path


def camera(camera_id: str, port: int, location: str = "Main lobby", purpose: str = "people entering",
           zone: str = "public") -> str:
    return (f'\n[[cameras]]\nid = "{camera_id}"\nlocation = "{location}"\npurpose = "{purpose}"\nzone = "{zone}"\n'
            f'platform = "hikvision"\nhost = "127.0.0.1"\nport = {port}\nusername = "admin"\n'
            f'password = "env:WK_SCENARIO_PASSWORD"\ntimeout_seconds = 2\n')


@pytest.fixture(autouse=True)
def _device_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WK_SCENARIO_PASSWORD", PASSWORD)


@pytest.fixture
def plain_site(tmp_path: Path) -> AsyncIterator[App]:
    """A site with people and no devices."""
    app = open_site(write_site(tmp_path, ""))
    yield app
    app.close()


@pytest.fixture
async def cameras(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`start(count, policies="")` starts simulated Hikvision cameras and opens a site over them."""
    monkeypatch.setenv("WK_SCENARIO_PASSWORD", PASSWORD)
    async with contextlib.AsyncExitStack() as stack:
        opened: list[App] = []

        async def start(count: int = 1, policies: str = "") -> tuple[App, list[Any]]:
            devices = await stack.enter_async_context(hikvision(password=PASSWORD, devices=count))
            body = "".join(camera(f"cam-{index + 1}", device.endpoint.port, f"Area {index + 1}")
                           for index, device in enumerate(devices))
            app = open_site(write_site(tmp_path, body, policies))
            opened.append(app)
            return app, devices

        yield start
        for app in opened:
            app.close()
