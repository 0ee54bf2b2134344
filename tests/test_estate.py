"""The estate roll-up end to end: three simulated sites push to one estate over real HTTP.

One site is cut off (the estate down) while it keeps inspecting, and catches up with nothing lost;
a site whose journal was rewritten under its own key (so its own check passes) is flagged; a push
with a wrong key is refused with 401 and logged without the key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import attrs
import pytest
from click.testing import CliRunner

from tests.estate_postgres import fresh_database, postgres_server
from tests.logins import PASSWORD as LOGIN_PASSWORD, shared_fd

from watchkeeper.core.models import Secret
from watchkeeper.evidence.anchor import Anchor, Head, write_anchor
from watchkeeper.evidence.journal import anchor_path, link_hash
from watchkeeper.evidence.witness import read_heads
from watchkeeper.faces.cli import make_cli
from watchkeeper.faces.estate import outbox, push as push_module
from watchkeeper.faces.estate.config import load_estate
from watchkeeper.faces.estate.protocol import PUSH_PATH, SITE_HEADER
from watchkeeper.faces.estate.push import Pusher, PushRefused
from watchkeeper.faces.estate.server import start
from watchkeeper.faces.estate.store import EstateStore, open_store
from watchkeeper.host import open_site
from watchkeeper.plugins.hikvision.simulator import simulate as hikvision
from watchkeeper.rules.runner import collect_checks, run_check
from watchkeeper.site.app import App

PASSWORD = "estate-Pass-2026"
SITES = ("site-a", "site-b", "site-c")
#: Every clause the estate shows; each site pushes a verdict for each.
CLAUSES = [f"R{n}" for n in range(1, 11)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_estate(folder: Path, port: int, database: bool = False) -> Path:
    path = folder / "estate.toml"
    path.write_text(f'[estate]\nname = "District"\nstore = "estate.db"\nport = {port}\ntime_zone = "Asia/Shanghai"\n'
                    + ('database_url = "env:WK_ESTATE_DATABASE"\n' if database else ""), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def postgres() -> Iterator[str | None]:
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Each estate test runs on SQLite and on a real PostgreSQL server; True for PostgreSQL."""
    if request.param == "sqlite":
        return False
    server = request.getfixturevalue("postgres")
    if server is None:
        pytest.skip("PostgreSQL is not installed (Debian: postgresql)")
    name = "estate_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[-40:].lower()
    monkeypatch.setenv("WK_ESTATE_DATABASE", fresh_database(server, name))
    return True


def estate_admin(config: Path, person: str = "admin") -> list[str]:
    """The estate's first person (an admin, password from the tests' shared descriptor), made once;
    the arguments by which a command proves it is them."""
    proof = ["--actor", person, "--password-fd", str(shared_fd())]
    listed = CliRunner().invoke(make_cli(), ["estate", "people", "list", "--config", str(config)])
    if f"{person}\t" not in listed.stdout:
        result = CliRunner().invoke(make_cli(), ["estate", "people", "add", person, "--role", "admin", "--reason",
                                                 "test", "--new-password-fd", str(shared_fd()), "--config",
                                                 str(config)])
        assert result.exit_code == 0, result.output
    return proof


def enrol(config: Path, site_id: str) -> str:
    result = CliRunner().invoke(make_cli(), ["estate", "enrol", site_id, "--config", str(config), "--reason", "test",
                                             *estate_admin(config)])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[0]
    assert key.startswith("wke1_")
    return key


def write_site(folder: Path, site_id: str, camera_port: int, estate_port: int, key: str) -> Path:
    folder.mkdir()
    (folder / "estate.key").write_text(key + "\n", encoding="utf-8")
    path = folder / "site.toml"
    path.write_text(textwrap.dedent(f"""\
        [site]
        name = "Site {site_id}"
        time_zone = "Asia/Shanghai"
        [policies]
        inspection_frames = 2
        frame_interval_seconds = 0.05
        [estate]
        url = "http://127.0.0.1:{estate_port}"
        site_id = "{site_id}"
        key = "file:estate.key"
        timeout_seconds = 5
        [[cameras]]
        id = "gate"
        location = "Main gate"
        purpose = "vehicles entering"
        zone = "public"
        platform = "hikvision"
        host = "127.0.0.1"
        port = {camera_port}
        username = "admin"
        password = "env:WK_ESTATE_PASSWORD"
        timeout_seconds = 2
        """), encoding="utf-8")
    return path


@attrs.define
class Estate:
    config: Path
    store: EstateStore
    port: int
    runner: object = None

    async def up(self) -> None:
        self.runner = await start(load_estate(self.config), self.store)

    async def down(self) -> None:
        await self.runner.cleanup()
        self.runner = None


@pytest.fixture
async def estate_and_sites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: bool):
    monkeypatch.setenv("WK_ESTATE_PASSWORD", PASSWORD)
    port = free_port()
    config = write_estate(tmp_path, port, backend)
    keys = {site: enrol(config, site) for site in SITES}
    estate = Estate(config, open_store(load_estate(config)), port)
    await estate.up()
    async with contextlib.AsyncExitStack() as stack:
        cameras = await stack.enter_async_context(hikvision(password=PASSWORD, devices=len(SITES)))
        apps = {site: open_site(write_site(tmp_path / site, site, camera.endpoint.port, port, keys[site]))
                for site, camera in zip(SITES, cameras)}
        try:
            yield estate, apps, keys
        finally:
            for app in apps.values():
                app.close()
            if estate.runner is not None:
                await estate.down()
            estate.store.close()


@contextlib.asynccontextmanager
async def browser(base: str, person: str, password: str = LOGIN_PASSWORD, expect: int = 303):
    """A client of the estate's dashboard logged in through /login as a browser does (the form's token
    from the page; the cookie jar keeps the session, on 127.0.0.1 too)."""
    import re

    from watchkeeper.faces.webauth import CSRF_FIELD

    async with aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        page = await (await client.get("/login")).text()
        token = re.search(rf'name="{CSRF_FIELD}" value="([^"]+)"', page)
        assert token, page
        async with client.post("/login", data={CSRF_FIELD: token.group(1), "person": person, "password": password,
                                               "next": "/"}, allow_redirects=False) as response:
            assert response.status == expect, await response.text()
        yield client


async def inspect(app: App) -> None:
    await run_check(app, collect_checks(app.pm)["inspection"])


def outbox_items(app: App) -> list[tuple[int, str]]:
    return app.store.conn.execute("SELECT seq, digest FROM estate_outbox ORDER BY seq").fetchall()


def estate_items(store: EstateStore, site: str) -> list[tuple[int, str]]:
    return [(row["seq"], row["digest"]) for row in store.rows("SELECT seq, digest FROM items WHERE site = ? ORDER BY seq",
                                                               [site])]


def journal_head(app: App) -> tuple[int, str]:
    return app.store.conn.execute("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").fetchone()


def rewrite_journal(app: App, seq: int) -> None:
    """What someone holding the site's key and its files can do: edit entry `seq`, re-link every entry
    after it under the key and write a matching anchor, so the site's own `journal verify` passes."""
    key = bytes.fromhex(app.journal._key.hex())
    conn = app.store.conn
    conn.execute("DROP TRIGGER journal_no_update")
    rows = conn.execute("SELECT seq, time_utc, time_local, kind, actor, subject, body, prev_hash FROM journal"
                        " WHERE seq >= ? ORDER BY seq", [seq]).fetchall()
    prev = rows[0][7]
    for number, time_utc, time_local, kind, actor, subject, body, _prev in rows:
        if number == seq:
            body = json.dumps({"text": "nothing happened here"})
        digest = link_hash(key, number, time_utc, time_local, kind, actor, subject, body, prev)
        conn.execute("UPDATE journal SET body = ?, prev_hash = ?, hash = ? WHERE seq = ?", [body, prev, digest, number])
        prev = digest
    conn.execute("CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal"
                 " BEGIN SELECT RAISE(ABORT, 'the journal is append-only: UPDATE refused'); END")
    write_anchor(anchor_path(app.site.journal_key), key, Anchor(Head(rows[-1][0], prev)))


async def test_three_sites_push_cut_off_catch_up_rewrite_flagged_wrong_key_refused(
        estate_and_sites, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    estate, apps, keys = estate_and_sites
    pushers = {site: Pusher(app, app.site.estate) for site, app in apps.items()}
    async with aiohttp.ClientSession() as session:
        # 1. Every site inspects and pushes: the estate holds each site's verdicts, run and head.
        for site, app in apps.items():
            await inspect(app)
            acked = await pushers[site].once(session)
            assert acked == outbox_items(app)[-1][0]
            assert estate_items(estate.store, site) == outbox_items(app)
        for site, app in apps.items():
            row = estate.store.rows("SELECT * FROM sites WHERE id = ?", [site])[0]
            assert (row["tip_seq"], row["tip_hash"]) == journal_head(app)
            assert row["flag"] is None
            clauses = estate.store.rows("SELECT clause, status FROM verdicts WHERE site = ?", [site])
            assert sorted(c["clause"] for c in clauses) == sorted(CLAUSES)
            assert estate.store.rows("SELECT count(*) AS n FROM inspections WHERE site = ?", [site])[0]["n"] == 1

        # 2. The estate goes down. Site B's push loop runs in the background as in `watchkeeper run`,
        # failing and backing off, while B keeps inspecting and journaling: nothing waits on the estate.
        await estate.down()
        monkeypatch.setattr(push_module, "BACKOFF_SECONDS", (0.05,))
        b = apps["site-b"]
        pushers["site-b"].link = attrs.evolve(b.site.estate, interval_seconds=0.1)
        loop_task = asyncio.create_task(pushers["site-b"].run())
        for _ in range(3):
            await inspect(b)
            b.journal.append("maintenance", "li", "room", {"task": "daily wipe"})
            await asyncio.sleep(0.2)
        assert pushers["site-b"].failures >= 2
        assert outbox.backlog(b) > 0
        apps["site-a"].journal.append("operation", "li", "note", {"text": "while the estate is down"})
        with pytest.raises(aiohttp.ClientConnectionError):
            await pushers["site-a"].once(session)  # a one-shot push fails fast, too
        # 3. The estate comes back; B's loop sends the backlog in order, with nothing lost.
        await estate.up()
        for _ in range(200):
            if outbox.backlog(b) == 0 and pushers["site-b"].failures == 0:
                break
            await asyncio.sleep(0.05)
        loop_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop_task
        assert outbox.backlog(b) == 0
        assert estate_items(estate.store, "site-b") == outbox_items(b)
        assert [seq for seq, _ in estate_items(estate.store, "site-b")] == list(range(1, len(outbox_items(b)) + 1))
        row = estate.store.rows("SELECT * FROM sites WHERE id = 'site-b'")[0]
        assert (row["tip_seq"], row["tip_hash"]) == journal_head(b) and row["flag"] is None
        assert estate.store.rows("SELECT count(*) AS n FROM inspections WHERE site = 'site-b'")[0]["n"] == 4
        assert {h["status"] for h in estate.store.rows("SELECT status FROM heads WHERE site = 'site-b'")} <= {
            "first", "extends"}

        # 4. Site C's journal is rewritten under its own key, anchor and all: its own check passes,
        # and the estate, holding the chain it accepted before, flags the next head it is pushed.
        c = apps["site-c"]
        rewrite_journal(c, 3)
        assert c.journal.verify().ok
        c.journal.append("operation", "li", "note", {"text": "after the rewrite"})
        await pushers["site-c"].once(session)
        row = estate.store.rows("SELECT * FROM sites WHERE id = 'site-c'")[0]
        assert row["flag_status"] == "rewritten", row
        assert "rewritten" in row["flag"]
        # The heads the estate accepted, fed back to the site as witnesses, show the rewrite there too.
        result = CliRunner().invoke(make_cli(), ["estate", "heads", "site-c", "--config", str(estate.config),
                                                 *estate_admin(estate.config)])
        assert result.exit_code == 0, result.output
        (tmp_path / "heads-c.jsonl").write_text(result.stdout, encoding="utf-8")
        checked = c.journal.verify(witness=read_heads(tmp_path / "heads-c.jsonl", c.site.name))
        assert not checked.ok and "witness_mismatch" in [p.status for p in checked.problems]
        result = CliRunner().invoke(make_cli(), ["estate", "heads", "site-b", "--config", str(estate.config),
                                                 *estate_admin(estate.config)])
        (tmp_path / "heads-b.jsonl").write_text(result.stdout, encoding="utf-8")
        assert b.journal.verify(witness=read_heads(tmp_path / "heads-b.jsonl", b.site.name)).ok
        # Site A is untouched and unflagged.
        assert estate.store.rows("SELECT flag FROM sites WHERE id = 'site-a'")[0]["flag"] is None

        # 5. A push with a wrong key is refused (401) and logged, and the key it offered is not in the log.
        wrong = "wke1_" + "x" * 43
        caplog.set_level(logging.INFO)
        before = estate.store.rows("SELECT count(*) AS n FROM items WHERE site = 'site-a'")[0]["n"]
        async with session.post(f"http://127.0.0.1:{estate.port}{PUSH_PATH}", json={"items": []},
                                headers={"Authorization": f"Bearer {wrong}", SITE_HEADER: "site-a"}) as response:
            assert response.status == 401
        pushers["site-a"].link = attrs.evolve(apps["site-a"].site.estate, key=Secret(keys["site-b"]))
        apps["site-a"].journal.append("operation", "li", "note", {"text": "pushed with B's key"})
        with pytest.raises(PushRefused):
            await pushers["site-a"].once(session)
        refusals = estate.store.rows("SELECT * FROM refusals WHERE site = 'site-a'")
        # Two refusals of one kind within a minute: one row, counted twice.
        assert [(r["reason"], r["count"]) for r in refusals] == [("wrong site key", 2)]
        assert estate.store.rows("SELECT count(*) AS n FROM items WHERE site = 'site-a'")[0]["n"] == before
        logged = "\n".join(record.getMessage() for record in caplog.records)
        assert "refused push from 127.0.0.1 for site 'site-a': wrong site key" in logged
        assert wrong not in logged and keys["site-b"] not in logged and keys["site-a"] not in logged

        # 6. The dashboard shows every site's clauses, the flagged site first, with its drill-down,
        # to a person of the estate logged in.
        async with browser(f"http://127.0.0.1:{estate.port}", "admin") as dashboard:
            async with dashboard.get("/") as response:
                page = await response.text()
            order = [page.index(f'data-site="{site}"') for site in ("site-c", "site-a", "site-b")]
            assert order[0] == min(order)
            assert page.count('data-clause="R') == 30
            async with dashboard.get("/sites/site-c") as response:
                detail = await response.text()
            assert 'id="flag"' in detail and 'data-status="rewritten"' in detail
            async with dashboard.get("/sites/nowhere") as response:
                assert response.status == 404

    # 7. The estate's evaluation for the week, in English and in Chinese.
    await estate.down()
    result = CliRunner().invoke(make_cli(), ["estate", "report", "--config", str(estate.config), "--period", "week",
                                             "--output", str(tmp_path / "out"), *estate_admin(estate.config)])
    assert result.exit_code == 0, result.output
    html = Path(result.stdout.splitlines()[0]).read_text(encoding="utf-8")
    assert all(f'data-site="{site}"' in html for site in SITES)
    data = json.loads(Path(result.stdout.splitlines()[1]).read_text(encoding="utf-8"))
    assert data["sites"][0]["id"] == "site-c" and data["sites"][0]["flag"]
    assert sum(data["totals"]["R1"].values()) == 3


async def test_run_pushes_in_the_background_and_a_dead_estate_blocks_nothing(tmp_path: Path,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    from watchkeeper.faces.service import Appliance

    dead = free_port()
    (tmp_path / "estate.key").write_text("wke1_" + "k" * 43 + "\n")
    path = tmp_path / "site.toml"
    path.write_text(f'[site]\nname = "Offline"\n[estate]\nurl = "http://127.0.0.1:{dead}"\nsite_id = "offline"\n'
                    'key = "file:estate.key"\ntimeout_seconds = 1\n', encoding="utf-8")
    app = open_site(path)
    try:
        appliance = Appliance(app)
        await asyncio.wait_for(appliance.start(), 30)
        for _ in range(100):  # the first try is made at start, and fails
            if "estate push" in caplog.text:
                break
            await asyncio.sleep(0.05)
        # The appliance goes on: the journal takes entries while the estate is dead; they wait in the outbox.
        started = asyncio.get_running_loop().time()
        app.journal.append("operation", "li", "note", {"text": "the WAN is down"})
        assert asyncio.get_running_loop().time() - started < 5
        assert outbox.backlog(app) > 0
        assert "estate push to" in caplog.text and "failed" in caplog.text
        assert "wke1_" not in caplog.text
        await asyncio.wait_for(appliance.stop(), 30)
    finally:
        app.close()


@pytest.mark.parametrize(("table", "where", "reason"), [
    ('url = "http://estate.example.org"\nsite_id = "a"\nkey = "env:X"', "estate.url", "must be https"),
    ('url = "https://e.example.org"\nsite_id = "a b"\nkey = "env:X"', "estate.site_id", ""),
    ('url = "https://e.example.org"\nsite_id = "a"', "estate.key", "required key is missing"),
    ('url = "https://e.example.org"\nsite_id = "a"\nkey = "env:X"\ninterval_seconds = 1', "estate.interval_seconds",
     "from 5 to 86400"),
    ('url = "https://e.example.org"\nsite_id = "a"\nkey = "env:X"\ncert = "c.pem"', "estate.cert", "go together"),
    ('url = "https://e.example.org"\nsite_id = "a"\nkey = "env:X"\nsecret = 1', "estate.secret", "unknown key"),
])
def test_an_estate_table_error_names_its_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: str,
                                             where: str, reason: str) -> None:
    from watchkeeper.site.config import ConfigError, load_site

    monkeypatch.setenv("X", "wke1_secret")
    path = tmp_path / "site.toml"
    path.write_text(f'[site]\nname = "S"\n[estate]\n{table}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_site(path)
    assert any(p.path == where and reason in p.reason for p in caught.value.problems), caught.value.render()
    assert "wke1_secret" not in caught.value.render()


def _certificates(folder: Path) -> dict[str, Path]:
    """A CA, the estate's certificate for 127.0.0.1 and a site's client certificate, all signed by the CA."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("test CA")).issuer_name(name("test CA"))
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now - dt.timedelta(hours=1))
          .not_valid_after(now + dt.timedelta(days=1)).add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
          .sign(ca_key, hashes.SHA256()))
    paths = {"ca": folder / "ca.pem"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for who, usage, serial in (("estate", ExtendedKeyUsageOID.SERVER_AUTH, 2), ("site", ExtendedKeyUsageOID.CLIENT_AUTH, 3)):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(name(who)).issuer_name(ca.subject).public_key(key.public_key())
                   .serial_number(serial).not_valid_before(now - dt.timedelta(hours=1))
                   .not_valid_after(now + dt.timedelta(days=1)).add_extension(x509.ExtendedKeyUsage([usage]), False))
        if who == "estate":
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        paths[who] = folder / f"{who}.pem"
        paths[who].write_bytes(builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
        paths[f"{who}_key"] = folder / f"{who}.key.pem"
        paths[f"{who}_key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    return paths


async def test_mutual_tls_push(tmp_path: Path) -> None:
    """Over TLS with client certificates: a site with its certificate pushes; without one it cannot connect."""
    certs = _certificates(tmp_path)
    port = free_port()
    config = tmp_path / "estate.toml"
    config.write_text(f'[estate]\nstore = "estate.db"\nport = {port}\n[tls]\ncert = "{certs["estate"]}"\n'
                      f'key = "{certs["estate_key"]}"\nclient_ca = "{certs["ca"]}"\n', encoding="utf-8")
    key = enrol(config, "tls-site")
    store = EstateStore(load_estate(config).store)
    runner = await start(load_estate(config), store)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "estate.key").write_text(key + "\n")
    site_toml = tmp_path / "site" / "site.toml"
    common = (f'[site]\nname = "TLS"\n[estate]\nurl = "https://127.0.0.1:{port}"\nsite_id = "tls-site"\n'
              f'key = "file:estate.key"\nca = "{certs["ca"]}"\ntimeout_seconds = 5\n')
    try:
        site_toml.write_text(common, encoding="utf-8")
        app = open_site(site_toml)
        try:
            with pytest.raises(aiohttp.ClientError):  # no client certificate: the handshake is refused
                async with aiohttp.ClientSession() as session:
                    await Pusher(app, app.site.estate).once(session)
            assert estate_items(store, "tls-site") == [] and outbox.backlog(app) > 0
        finally:
            app.close()
        site_toml.write_text(common + f'cert = "{certs["site"]}"\ncert_key = "{certs["site_key"]}"\n', encoding="utf-8")
        app = open_site(site_toml)
        try:
            async with aiohttp.ClientSession() as session:
                acked = await Pusher(app, app.site.estate).once(session)
            assert acked > 0 and estate_items(store, "tls-site") == outbox_items(app)
        finally:
            app.close()
    finally:
        await runner.cleanup()
        store.close()


def test_an_unreachable_database_is_named_without_its_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WK_ESTATE_DATABASE", f"postgresql://estate:Sup3rSecret@127.0.0.1:{free_port()}/estate")
    config = write_estate(tmp_path, free_port(), database=True)
    result = CliRunner().invoke(make_cli(), ["estate", "enrol", "site-1", "--config", str(config), "--reason", "r"])
    assert result.exit_code == 3, result.output
    assert "cannot connect to PostgreSQL" in result.output and "Sup3rSecret" not in result.output
    assert "Traceback" not in result.output


def test_a_batch_commits_its_parts_together_and_a_failing_part_alone_is_undone(tmp_path: Path, backend: bool) -> None:
    config = write_estate(tmp_path, free_port(), backend)
    store = open_store(load_estate(config))
    try:
        def failing(writer: EstateStore) -> None:
            writer.refusal("10.0.0.2", "b", "wrong site key")
            raise ValueError("a bad push")

        results = store.batch([lambda w: w.refusal("10.0.0.1", "a", "wrong site key"), failing,
                               lambda w: w.refusal("10.0.0.3", "c", "unknown site")])
        assert results[0] is True and isinstance(results[1], ValueError) and results[2] is True
        assert [r["remote"] for r in store.rows("SELECT remote FROM refusals ORDER BY id")] == ["10.0.0.1", "10.0.0.3"]
    finally:
        store.close()


def cli(*args: object) -> object:
    return CliRunner().invoke(make_cli(), [str(a) for a in args])


def estate_journal(config: Path) -> list[dict]:
    import sqlite3

    conn = sqlite3.connect(load_estate(config).journal_store)
    try:
        return [{"seq": seq, "actor": actor, "subject": subject, "body": json.loads(body)} for seq, actor, subject, body
                in conn.execute("SELECT seq, actor, subject, body FROM journal ORDER BY seq")]
    finally:
        conn.close()


async def test_the_dashboard_needs_a_person_with_a_role_and_pushes_do_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: bool) -> None:
    from watchkeeper.faces.estate.server import EstateConfigError

    port = free_port()
    config = write_estate(tmp_path, port, backend)
    admin = estate_admin(config)
    result = cli("estate", "people", "add", "vera", "--role", "viewer", "--reason", "regional auditor",
                 "--new-password-fd", shared_fd(), "--config", config, *admin)
    assert result.exit_code == 0, result.output
    enrol(config, "s1")
    store = open_store(load_estate(config))
    store.backend.execute("UPDATE sites SET flag = 'rewritten chain', flag_status = 'rewritten' WHERE id = 's1'")
    # The shared viewer token of earlier versions is refused, saying what replaced it.
    monkeypatch.setenv("WATCHKEEPER_ESTATE_TOKEN", "t" * 20)
    with pytest.raises(EstateConfigError, match="WATCHKEEPER_ESTATE_TOKEN is no longer used.*estate people add"):
        await start(load_estate(config), store)
    monkeypatch.delenv("WATCHKEEPER_ESTATE_TOKEN")
    runner = await start(load_estate(config), store)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(base_url=base) as anonymous:
            async with anonymous.get("/", allow_redirects=False) as response:
                assert response.status == 303 and response.headers["Location"].startswith("/login")
            async with anonymous.get("/api/v1/sites") as response:
                assert response.status == 401
            async with anonymous.post("/sites/s1/clear", data={"reason": "x"}) as response:
                assert response.status == 401
            async with anonymous.post(PUSH_PATH, json={"items": []},
                                      headers={SITE_HEADER: "nobody", "Authorization": "Bearer wke1_x"}) as response:
                assert response.status == 401 and (await response.json())["error"] == "unknown site"
            async with anonymous.get("/healthz") as response:
                assert response.status == 200
        async with browser(base, "vera", password="not her password", expect=401):
            pass
        async with browser(base, "vera") as viewer:
            async with viewer.get("/") as response:
                assert response.status == 200 and 'data-site="s1"' in await response.text()
                assert response.headers["X-Frame-Options"] == "DENY"
            page = await (await viewer.get("/sites/s1")).text()
            token = page.split('name="csrf_token" value="')[1].split('"')[0]
            async with viewer.post("/sites/s1/clear", data={"csrf_token": token, "reason": "looked"}) as response:
                assert response.status == 403
            async with viewer.post("/sites/s1/clear", data={"reason": "no token"}) as response:
                assert response.status == 403
        assert store.rows("SELECT flag FROM sites WHERE id = 's1'")[0]["flag"] == "rewritten chain"
        refused = [e for e in estate_journal(config) if e["body"].get("refused") == "estate.clear"]
        assert [(e["actor"], e["subject"]) for e in refused] == [("vera", "/sites/s1/clear")]
        async with browser(base, "admin") as administrator:
            page = await (await administrator.get("/sites/s1")).text()
            token = page.split('name="csrf_token" value="')[1].split('"')[0]
            async with administrator.post("/sites/s1/clear", data={"csrf_token": token, "reason": "restored from a"
                                          " backup, ticket 7"}, allow_redirects=False) as response:
                assert response.status == 303
        assert store.rows("SELECT flag FROM sites WHERE id = 's1'")[0]["flag"] is None
        cleared = estate_journal(config)[-1]
        assert len(cleared["body"].pop("action_id")) == 32  # the key that journals an action once
        assert (cleared["actor"], cleared["subject"], cleared["body"]) == (
            "admin", "s1", {"estate": "clear_flag", "reason": "restored from a backup, ticket 7", "proof": "session"})
        # A script reads the JSON with a person's own API token.
        issued = cli("estate", "people", "token", "vera", "--label", "report script", "--config", config,
                     "--password-fd", shared_fd())
        assert issued.exit_code == 0, issued.output
        async with aiohttp.ClientSession(base_url=base) as script:
            async with script.get("/api/v1/sites", headers={"Authorization": "Bearer "
                                                            + issued.stdout.strip()}) as response:
                assert response.status == 200 and (await response.json())[0]["id"] == "s1"
    finally:
        await runner.cleanup()
        store.close()
    verified = cli("estate", "verify", "--config", config)
    assert verified.exit_code == 0 and "estate journal ok" in verified.output, verified.output


def test_admin_actions_need_a_proven_admin_and_are_journaled(tmp_path: Path) -> None:
    config = write_estate(tmp_path, free_port())
    admin = estate_admin(config)
    cli("estate", "people", "add", "vera", "--role", "viewer", "--reason", "r", "--new-password-fd", shared_fd(),
        "--config", config, *admin)
    unproven = cli("estate", "enrol", "s1", "--reason", "r", "--config", config, "--actor", "admin")
    assert unproven.exit_code == 1 and "must prove who they are" in unproven.output
    viewer = cli("estate", "enrol", "s1", "--reason", "r", "--config", config, "--actor", "vera", "--password-fd",
                 shared_fd())
    assert viewer.exit_code == 1 and "may not estate.enrol" in viewer.output
    enrol(config, "s1")
    for command in ("revoke", "clear"):
        result = cli("estate", command, "s1", "--reason", f"{command} because", "--config", config, *admin)
        assert result.exit_code == 0, result.output
    actions = [(e["actor"], e["subject"], e["body"].get("estate"), e["body"].get("reason"))
               for e in estate_journal(config) if "estate" in e["body"]]
    assert actions == [("admin", "s1", "enrol", "test"), ("admin", "s1", "revoke", "revoke because"),
                       ("admin", "s1", "clear_flag", "clear because")]
    store = open_store(load_estate(config))
    try:
        assert store.rows("SELECT count(*) AS n FROM events")[0]["n"] == 0  # the plain table is no longer written
    finally:
        store.close()


@pytest.mark.parametrize("tamper", ["edit", "delete_middle", "delete_last"])
def test_an_edited_or_deleted_estate_event_is_caught(tmp_path: Path, tamper: str) -> None:
    import sqlite3

    config = write_estate(tmp_path, free_port())
    for site in ("s1", "s2", "s3"):
        enrol(config, site)
    assert cli("estate", "verify", "--config", config).exit_code == 0
    entries = estate_journal(config)
    target = next(e["seq"] for e in entries if e["body"].get("estate") == "enrol" and e["subject"] == "s2")
    last = entries[-1]["seq"]
    conn = sqlite3.connect(load_estate(config).journal_store)
    conn.execute("DROP TRIGGER journal_no_update")
    conn.execute("DROP TRIGGER journal_no_delete")
    if tamper == "edit":  # someone rewrites why a site was enrolled
        conn.execute("UPDATE journal SET body = ? WHERE seq = ?",
                     [json.dumps({"estate": "enrol", "reason": "nothing to see"}), target])
    else:
        conn.execute("DELETE FROM journal WHERE seq = ?", [target if tamper == "delete_middle" else last])
    conn.commit()
    conn.close()
    result = cli("estate", "verify", "--config", config, "--json")
    assert result.exit_code == 1, result.output
    verdict = json.loads(result.stdout)
    assert not verdict["ok"]
    expected = {"edit": ("broken", target), "delete_middle": ("broken", target), "delete_last": ("truncated", last)}
    assert (verdict["problems"][0]["status"], verdict["problems"][0]["seq"]) == expected[tamper]


def test_old_plain_events_are_imported_into_the_journal_once(tmp_path: Path) -> None:
    config = write_estate(tmp_path, free_port())
    store = open_store(load_estate(config))
    store.backend.execute("INSERT INTO events (time, actor, action, site, reason) VALUES"
                          " ('2026-01-01T00:00:00+00:00', 'root', 'enrol', 'old-site', 'before the journal')")
    store.close()
    estate_admin(config)
    estate_admin(config)
    imported = [e for e in estate_journal(config) if e["body"].get("imported_from") == "events"]
    assert [(e["actor"], e["subject"], e["body"]["estate"], e["body"]["reason"]) for e in imported] == [
        ("root", "old-site", "enrol", "before the journal")]


def test_serve_and_push_as_commands(tmp_path: Path) -> None:
    """`estate serve` as its own process, `estate push` from a site, then SIGTERM: a clean stop."""
    import os
    import signal
    import subprocess
    import sys
    import time

    port = free_port()
    config = write_estate(tmp_path, port)
    key = enrol(config, "cmd-site")
    server = subprocess.Popen([sys.executable, "-m", "watchkeeper.faces.cli", "estate", "serve", "--config", str(config)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        assert f"127.0.0.1:{port}" in line, line + server.stderr.read()
        site = tmp_path / "site"
        site.mkdir()
        (site / "estate.key").write_text(key + "\n")
        (site / "site.toml").write_text(f'[site]\nname = "Cmd"\n[estate]\nurl = "http://127.0.0.1:{port}"\n'
                                        'site_id = "cmd-site"\nkey = "file:estate.key"\n', encoding="utf-8")
        env = {**os.environ, "WATCHKEEPER_CONFIG": str(site / "site.toml")}
        pushed = subprocess.run([sys.executable, "-m", "watchkeeper.faces.cli", "estate", "push"], env=env,
                                capture_output=True, text=True, timeout=120)
        assert pushed.returncode == 0, pushed.stderr
        assert "the estate holds items up to" in pushed.stdout
        (site / "estate.key").write_text("wke1_" + "w" * 43 + "\n")
        refused = subprocess.run([sys.executable, "-m", "watchkeeper.faces.cli", "estate", "push"], env=env,
                                 capture_output=True, text=True, timeout=120)
        assert refused.returncode == 3 and "refused" in refused.stderr and "Traceback" not in refused.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        started = time.monotonic()
        out, err = server.communicate(timeout=60)
    assert server.returncode == 0, err
    assert time.monotonic() - started < 30
    assert "refused push from 127.0.0.1 for site 'cmd-site': wrong site key" in err and "wwwww" not in err


async def test_a_dead_writer_process_fails_its_batch_and_a_new_one_takes_over(tmp_path: Path) -> None:
    """The writer process killed outright: the push in hand is refused (503, the site resends), the next
    push gets a new writer, and the server's stop ends that one."""
    import os
    import signal

    from watchkeeper.faces.estate.server import WRITER

    port = free_port()
    config = write_estate(tmp_path, port)
    key = enrol(config, "s1")
    store = open_store(load_estate(config))
    runner = await start(load_estate(config), store)
    headers = {"Authorization": f"Bearer {key}", SITE_HEADER: "s1"}
    try:
        writer = runner.app[WRITER]
        first = next(iter(writer.pool._processes))
        os.kill(first, signal.SIGKILL)
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as session:
            statuses = []
            for _attempt in range(5):
                async with session.post(PUSH_PATH, json={"items": []}, headers=headers) as response:
                    statuses.append(response.status)
                if response.status == 200:
                    break
            assert statuses[0] == 503 and statuses[-1] == 200, statuses
        second = next(iter(writer.pool._processes))
        assert second != first
    finally:
        await runner.cleanup()
        store.close()
    with pytest.raises(ProcessLookupError):  # ended with the server, not left behind
        for _attempt in range(50):
            os.kill(second, 0)
            await asyncio.sleep(0.1)


def test_verify_never_makes_a_new_journal_key(tmp_path: Path) -> None:
    config = write_estate(tmp_path, free_port())
    enrol(config, "s1")
    key = load_estate(config).journal_key
    key.unlink()
    result = cli("estate", "verify", "--config", config)
    assert result.exit_code == 3 and "estate journal" in result.output and "Traceback" not in result.output
    assert not key.exists()
