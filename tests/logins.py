"""Real logins for tests: set a person's password in the store, log a test client in, send its CSRF token.

Nothing here skips the checks: passwords are argon2id-hashed (at its lowest cost: tests/conftest.py) and
verified, sessions and CSRF tokens are the server's own. Import from tests (`from tests.logins import login`).
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from collections.abc import AsyncIterator
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from watchkeeper.faces.webauth import CSRF_FIELD, SESSION_COOKIE
from watchkeeper.site import identity

PASSWORD = "correct horse battery staple"


def give_login(app: Any, person: str, password: str = PASSWORD) -> None:
    identity.set_password(app, person, password, by=person, via="test")


def give_logins(site_file: Path, password: str = PASSWORD) -> None:
    """Every current person of the site gets `password` (for CLI tests that then prove it)."""
    from watchkeeper.host import open_site

    app = open_site(site_file)
    try:
        for person in app.people.all():
            if not person.revoked:
                give_login(app, person.id, password)
    finally:
        app.close()


def password_fd(tmp_path: Path, password: str = PASSWORD) -> int:
    """A file descriptor holding the password, re-readable by every command (`--password-fd`)."""
    path = tmp_path / ".password"
    path.write_text(password + "\n")
    path.chmod(0o600)
    return os.open(path, os.O_RDONLY)


async def login(client: TestClient, person: str, password: str = PASSWORD, expect: int = 303) -> Any:
    """Log in through /login as a browser does (form token from the page, the cookie jar keeps the session)."""
    page = await (await client.get("/login")).text()
    token = re.search(rf'name="{CSRF_FIELD}" value="([^"]+)"', page)
    assert token, page
    response = await client.post("/login", data={CSRF_FIELD: token.group(1), "person": person,
                                                 "password": password, "next": "/"}, allow_redirects=False)
    assert response.status == expect, await response.text()
    return response


def csrf(client: TestClient, app: Any) -> str:
    """The CSRF token of the client's session, as a page would embed it."""
    cookie = next(c for c in client.session.cookie_jar if c.key == SESSION_COOKIE)
    found = identity.session_of(app, cookie.value)
    assert found is not None
    return found[1]


@contextlib.asynccontextmanager
async def logged_in(app: Any, person: str = "li", web_app: Any = None, token: bool = False
                    ) -> AsyncIterator[TestClient]:
    """A test client of the site's dashboard (or `web_app`) with `person` logged in through /login,
    or, with `token`, sending their API token (issued before the server starts: no journal entry
    is written while it serves, for tests that count the journal's walks)."""
    from watchkeeper.faces.web import make_web_app

    headers = {}
    if token:
        headers["Authorization"] = "Bearer " + identity.issue_token(app, person, person, "test")
    elif not identity.has_login(app, person):
        give_login(app, person)
    server = TestServer(web_app if web_app is not None else make_web_app(app))
    async with TestClient(server, headers=headers) as client:
        if not token:
            await login(client, person)
        yield client


_FD: list[int] = []


def shared_fd() -> int:
    """One descriptor on a file holding PASSWORD for the whole test process (read with pread, so
    every command reads it from the start); pass it on to a subprocess with pass_fds=(shared_fd(),)."""
    if not _FD:
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="wk-password-"))
        _FD.append(password_fd(folder))
    return _FD[0]


def ensure_login(config: Path, person: str) -> None:
    """Give `person` the test password unless their site's store already has a login for them (a
    config or store that cannot be opened is left for the command under test to report)."""
    import sqlite3

    from watchkeeper.host import open_site
    from watchkeeper.site.config import ConfigError, load_site

    try:
        store = load_site(config).store
    except (ConfigError, OSError):
        return
    if store.exists():
        conn = sqlite3.connect(store)
        try:
            found = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'logins'").fetchone() and \
                conn.execute("SELECT 1 FROM logins WHERE person = ?", [person]).fetchone()
        except sqlite3.Error:
            return  # a store broken on purpose: the command under test reports it
        finally:
            conn.close()
        if found:
            return
    try:
        app = open_site(config)
    except Exception:  # noqa: BLE001 - a broken site is what some tests hand the command
        return
    try:
        if identity.active_person(app, person) is not None:
            give_login(app, person)
    finally:
        app.close()


def proven(args: list[str]) -> list[str]:
    """A command line whose `--actor` proves who they are with their password, as a script does
    (`--password-fd`), the person having been given one first. Lines without --actor are unchanged."""
    args = [str(a) for a in args]
    if "--actor" not in args or "--password-fd" in args or "--config" not in args or "restore" in args:
        return args  # restore's proof is the backup's passphrase: it takes no password
    ensure_login(Path(args[args.index("--config") + 1]), args[args.index("--actor") + 1])
    return [*args, "--password-fd", str(shared_fd())]
