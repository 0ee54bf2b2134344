"""A demo site served with the console, people with passwords, and a headless Chromium (Playwright).

Screenshots go to test-artifacts/browser/ at the repository's top (git-ignored; WATCHKEEPER_ARTIFACTS
overrides) and their folder is printed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ROOT = Path(__file__).resolve().parents[2]
#: Chromium on a machine without internet: nothing of its own fetched, no profile reused.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
PASSWORDS = {"li": "li-console-pass-1", "zhang": "zhang-console-pass-1", "liu": "liu-console-pass-1"}


def artifacts() -> Path:
    folder = Path(os.environ.get("WATCHKEEPER_ARTIFACTS", ROOT / "test-artifacts")) / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.asynccontextmanager
async def console_site(folder: Path) -> AsyncIterator[tuple[Any, str]]:
    """The demo site (inspection left unsigned), a second supervisor, passwords, served on loopback."""
    from watchkeeper.core.models import Endpoint  # noqa: F401  (the demo's imports, loaded once)
    from watchkeeper.faces.demo import run_demo
    from watchkeeper.faces.web import serve
    from watchkeeper.host import open_site
    from watchkeeper.rules.door_service import Access
    from watchkeeper.site import identity
    from watchkeeper.site.config import Person

    await run_demo(folder, say=lambda line: None, sign=False)
    app = open_site(folder / "site.toml")
    try:
        # A second supervisor, added by the first as the people screen's CLI does (journaled as zhang's act).
        Access(app).add_person("zhang", Person("liu", "Liu Yang", ("supervisor",)))
        for person, password in PASSWORDS.items():
            identity.set_password(app, person, password, by="watchkeeper", via="test")
        runner, url = await serve(app, "127.0.0.1", 0)
        try:
            yield app, url.rstrip("/")
        finally:
            await runner.cleanup()
    finally:
        app.close()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if CHROMIUM is None:
        pytest.skip("Chromium not installed (.ci/apt-packages installs it)")
    playwright_api = pytest.importorskip("playwright.async_api", reason="pip install -e .[test] installs playwright")
    async with playwright_api.async_playwright() as driver:
        # launch() gives Chromium a fresh, temporary profile of its own (its --user-data-dir).
        launched = await driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield launched
        finally:
            await launched.close()
