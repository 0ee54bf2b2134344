"""The CLI proves who acts: a password (descriptor or prompt), an OS account mapped to a person, or,
only behind policies.trust_actor, the name typed (journaled as a warning). Wrong passwords are refused,
journaled and counted toward the lock; the journal records the proven person."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.logins import give_logins, password_fd
from watchkeeper.faces.cli import make_cli
from watchkeeper.faces.cli.common import EXIT_FINDINGS, os_account
from watchkeeper.host import open_site

ADMIN = '\n[[people]]\nid = "admin"\nname = "Admin"\nroles = ["administrator"]\n'


def run(site: Path, *args: str, stdin: str | None = None):
    return CliRunner().invoke(make_cli(config=site), ["--config", str(site), *args], input=stdin)


def journal(site: Path) -> list[dict]:
    app = open_site(site)
    try:
        cursor = app.store.conn.execute("SELECT actor, subject, body FROM journal ORDER BY seq")
        return [{"actor": a, "subject": s, "body": json.loads(b)} for a, s, b in cursor]
    finally:
        app.close()


@pytest.fixture
def site(site_file: Path) -> Path:
    site_file.write_text(site_file.read_text() + ADMIN)
    return site_file


@pytest.fixture
def wrong_fd(tmp_path: Path) -> int:
    folder = tmp_path / "wrong"
    folder.mkdir()
    return password_fd(folder, "not the password at all")


def test_a_wrong_password_is_refused_journaled_and_counted(site: Path, tmp_path: Path, wrong_fd: int) -> None:
    give_logins(site)
    result = run(site, "journal", "add", "--kind", "maintenance", "--text", "wiped", "--actor", "li",
                 "--password-fd", str(wrong_fd))
    assert result.exit_code == EXIT_FINDINGS and "wrong password" in result.output
    entries = journal(site)
    assert not any(e["body"].get("text") == "wiped" for e in entries)
    assert entries[-1] == {"actor": "watchkeeper", "subject": "li",
                           "body": {"login_failed": "wrong_password", "via": "cli", "failures": 1}}
    for _attempt in range(4):
        run(site, "journal", "add", "--kind", "maintenance", "--text", "x", "--actor", "li", "--password-fd",
            str(wrong_fd))
    locked = run(site, "journal", "add", "--kind", "maintenance", "--text", "x", "--actor", "li", "--password-fd",
                 str(password_fd(tmp_path)))
    assert locked.exit_code == EXIT_FINDINGS and "locked" in locked.output
    assert any(e["body"].get("login_locked") == "li" for e in journal(site))


def test_the_journal_records_the_proven_person(site: Path, tmp_path: Path) -> None:
    give_logins(site)
    result = run(site, "journal", "add", "--kind", "maintenance", "--text", "wiped desks", "--actor", "li",
                 "--password-fd", str(password_fd(tmp_path)))
    assert result.exit_code == 0, result.output
    assert journal(site)[-1]["actor"] == "li"
    assert journal(site)[-1]["body"] == {"text": "wiped desks", "proof": "password"}


def test_the_password_fd_may_come_from_the_environment(site: Path, tmp_path: Path, monkeypatch) -> None:
    give_logins(site)
    monkeypatch.setenv("WATCHKEEPER_PASSWORD_FD", str(password_fd(tmp_path)))
    for text in ("one", "two"):  # a regular file is read from its start by every command
        assert run(site, "journal", "add", "--kind", "maintenance", "--text", text, "--actor", "li").exit_code == 0


def test_without_proof_the_actor_is_refused_and_journaled(site: Path) -> None:
    give_logins(site)
    result = run(site, "journal", "add", "--kind", "maintenance", "--text", "x", "--actor", "li")
    assert result.exit_code == EXIT_FINDINGS and "must prove who they are" in result.output
    assert journal(site)[-1]["body"]["login_failed"] == "no_proof"


def test_an_os_account_mapped_to_a_person_needs_no_password(site: Path) -> None:
    site.write_text(site.read_text().replace('id = "li"\n', f'id = "li"\nos_user = "{os_account()}"\n'))
    result = run(site, "journal", "add", "--kind", "maintenance", "--text", "by my account")
    assert result.exit_code == 0, result.output
    assert journal(site)[-1]["actor"] == "li"
    # The account is li's, not zhang's: naming zhang still needs zhang's password.
    assert run(site, "journal", "add", "--kind", "maintenance", "--text", "x", "--actor", "zhang").exit_code == 1


def test_two_people_may_not_share_an_os_account(site: Path) -> None:
    site.write_text(site.read_text().replace('id = "li"\n', 'id = "li"\nos_user = "ops"\n')
                    .replace('id = "zhang"\n', 'id = "zhang"\nos_user = "ops"\n'))
    result = run(site, "config", "check", str(site))
    assert result.exit_code == 2 and "people[id=zhang].os_user" in result.output


def test_trust_actor_is_a_journaled_warning_on_every_use(site: Path) -> None:
    site.write_text(site.read_text().replace("[policies]\n", "[policies]\ntrust_actor = true\n"))
    for _use in range(2):
        result = run(site, "journal", "add", "--kind", "maintenance", "--text", "trusted", "--actor", "li")
        assert result.exit_code == 0 and "taken on trust" in result.output
    warnings = [e for e in journal(site) if "trust_actor" in str(e["body"].get("warning"))]
    assert [e["actor"] for e in warnings] == ["li", "li"]


def test_first_login_is_an_administrators_then_passwords_need_proof(site: Path, tmp_path: Path) -> None:
    new = password_fd(tmp_path)
    refused = run(site, "people", "passwd", "li", "--new-password-fd", str(new))
    assert refused.exit_code == EXIT_FINDINGS and "administrator" in refused.output
    first = run(site, "people", "passwd", "admin", "--new-password-fd", str(new))
    assert first.exit_code == 0, first.output
    assert journal(site)[-1]["body"] == {"password_set": "admin", "via": "cli first login", "first_login": True}
    # Now nobody sets a password without proof: li cannot set their own without one ...
    assert run(site, "people", "passwd", "li", "--new-password-fd", str(new)).exit_code == EXIT_FINDINGS
    # ... the administrator can, proven by theirs.
    by_admin = run(site, "people", "passwd", "li", "--actor", "admin", "--password-fd", str(new),
                   "--new-password-fd", str(new))
    assert by_admin.exit_code == 0 and journal(site)[-1]["actor"] == "admin"
    # A short password is refused, on a terminal or not.
    short = tmp_path / "short"
    short.write_text("short\n")
    assert run(site, "people", "passwd", "li", "--password-fd", str(new), "--new-password-fd",
               str(os.open(short, os.O_RDONLY))).exit_code == 2


def test_api_tokens_are_shown_once_and_stored_hashed(site: Path, tmp_path: Path) -> None:
    give_logins(site)
    result = run(site, "people", "token", "li", "--label", "scripts", "--password-fd", str(password_fd(tmp_path)))
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[0]
    assert token.startswith("wkt_")
    app = open_site(site)
    try:
        stored = [row[0] for row in app.store.conn.execute("SELECT digest FROM api_tokens")]
        assert stored and token not in stored and not any(token in str(e) for e in journal(site))
    finally:
        app.close()
    # Someone else's token needs identity.manage: li is no administrator.
    assert run(site, "people", "token", "zhang", "--actor", "li", "--password-fd",
               str(password_fd(tmp_path))).exit_code == EXIT_FINDINGS


def test_an_administrator_unlocks_a_locked_login(site: Path, tmp_path: Path, wrong_fd: int) -> None:
    give_logins(site)
    for _attempt in range(5):
        run(site, "journal", "add", "--kind", "maintenance", "--text", "x", "--actor", "li", "--password-fd",
            str(wrong_fd))
    right = str(password_fd(tmp_path))
    assert run(site, "journal", "add", "--kind", "maintenance", "--text", "x", "--actor", "li",
               "--password-fd", right).exit_code == EXIT_FINDINGS
    assert run(site, "people", "unlock", "li", "--actor", "admin", "--password-fd", right).exit_code == 0
    assert run(site, "journal", "add", "--kind", "maintenance", "--text", "x", "--actor", "li",
               "--password-fd", right).exit_code == 0
