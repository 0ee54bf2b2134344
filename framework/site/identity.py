"""Logins, API tokens and web sessions in the store: who may act, and proof that it is them (R2, R6).

A password is kept only as an argon2id hash; an API token or a session id only as its SHA-256 (they
are 256-bit random, so a fast hash is enough, and a stolen store yields nothing to present). Every
wrong password, every lock and every password change is journaled; the password never is.
Only a person the store knows and has not revoked may log in, whatever the hash says.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import argon2
import sqlite_utils
from sqlite_utils import Migrations

from watchkeeper.core.i18n import _
from watchkeeper.site.config import Person

if TYPE_CHECKING:
    from watchkeeper.site.app import App

migrations = Migrations("watchkeeper.identity")
#: Who writes the journal entries about attempts nobody has proven yet.
SYSTEM = "watchkeeper"
MIN_PASSWORD = 10
TOKEN_PREFIX = "wkt_"
#: A session's last-use time is written at most this often (not at every request).
TOUCH_SECONDS = 30
#: argon2-cffi's defaults (RFC 9106's second recommendation: argon2id, 64 MiB, 3 passes).
HASHER = argon2.PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified when the person has no login, so a refusal takes as long either way. Made at the
    first such refusal, not at import: every process (`run`, each command) would pay ~0.1 s for it."""
    return HASHER.hash(secrets.token_hex(16))


@migrations()
def m001_logins_tokens_sessions(db: sqlite_utils.Database) -> None:
    db["logins"].create({"person": str, "hash": str, "set_by": str, "set_at": str, "failures": int,
                         "locked_at": str}, pk="person", defaults={"failures": 0})
    db["api_tokens"].create({"id": int, "person": str, "digest": str, "label": str, "created_by": str,
                             "created_at": str, "last_used_at": str, "revoked_at": str}, pk="id")
    db["api_tokens"].create_index(["digest"], unique=True)
    db["web_sessions"].create({"digest": str, "person": str, "csrf": str, "created_at": str,
                               "last_seen_at": str, "address": str}, pk="digest")


@migrations()
def m002_login_language(db: sqlite_utils.Database) -> None:
    # The console's language follows the person from one workstation to the next.
    db["logins"].add_column("language", str)


class AuthFailed(Exception):
    """The proof was refused (journaled before this is raised); `code` says why, for tests and the web."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _now() -> datetime:
    return datetime.now(timezone.utc)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _clean(claimed: str) -> str:
    """A claimed id as it may be journaled: what someone typed, bounded and printable."""
    return "".join(c for c in claimed[:64] if c.isprintable()) or "?"


def active_person(app: App, person_id: str) -> Person | None:
    """The person, if the store knows them and they are not revoked: nobody else may log in."""
    person = app.people.get(person_id)
    return person if person is not None and not person.revoked else None


def any_login(app: App) -> bool:
    return app.store.conn.execute("SELECT 1 FROM logins LIMIT 1").fetchone() is not None


def has_login(app: App, person_id: str) -> bool:
    return app.store.conn.execute("SELECT 1 FROM logins WHERE person = ?", [person_id]).fetchone() is not None


def password_problem(person_id: str, password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return _("a password needs {count} or more characters").format(count=MIN_PASSWORD)
    if password.strip().lower() == person_id.lower():
        return _("a password may not be the person's id")
    return None


def set_password(app: App, person_id: str, password: str, by: str, via: str) -> None:
    """Store a new password (hashed), clear failures and any lock, and journal who set it."""
    if active_person(app, person_id) is None:
        raise AuthFailed("unknown", _("'{id}' is not a current person on this site").format(id=person_id))
    problem = password_problem(person_id, password)
    if problem:
        raise ValueError(problem)
    first = not any_login(app)
    hashed = HASHER.hash(password)
    with app.store.transaction():
        app.store.db["logins"].upsert({"person": person_id, "hash": hashed, "set_by": by,
                                       "set_at": _now().isoformat(timespec="seconds"), "failures": 0,
                                       "locked_at": None}, pk="person")
    app.journal.append("operation", by, person_id, {"password_set": person_id, "via": via,
                                                     **({"first_login": True} if first else {})})


def _locked(app: App, row: dict[str, Any], now: datetime) -> bool:
    if not row.get("locked_at"):
        return False
    until = datetime.fromisoformat(row["locked_at"]) + timedelta(minutes=app.site.identity.lockout_minutes)
    return now < until


class Attempt:
    """One password check in three steps, so the slow hash can run off the event loop (`verify`)."""

    def __init__(self, app: App, claimed: str, via: str, address: str | None = None) -> None:
        self.app, self.claimed, self.via, self.address = app, claimed, via, address
        self.person = active_person(app, claimed)
        found = app.store.db["logins"].rows_where("person = ?", [claimed]) if self.person else iter(())
        self.row: dict[str, Any] | None = next(iter(found), None)
        self.hash = self.row["hash"] if self.row else _dummy_hash()

    def verify(self, password: str) -> bool:
        """The argon2id check alone (thread-safe: it touches no store)."""
        try:
            return HASHER.verify(self.hash, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False

    def finish(self, correct: bool) -> str:
        """Journal the outcome; return the person id, or raise AuthFailed."""
        now = _now()
        if self.person is None or self.row is None:
            code = "unknown" if self.person is None else "no_login"
            self._journal_failure(code, None)
            raise AuthFailed(code, _("login refused: unknown person, revoked, or no password set"))
        if _locked(self.app, self.row, now):
            self._journal_failure("locked", self.row["failures"])
            raise AuthFailed("locked", _("login '{id}' is locked after too many wrong passwords; an administrator "
                                         "unlocks it (`watchkeeper people unlock`) or wait {minutes:g} minutes").format(
                id=self.claimed, minutes=self.app.site.identity.lockout_minutes))
        if correct:
            if self.row["failures"] or self.row["locked_at"]:
                self.app.store.conn.execute("UPDATE logins SET failures = 0, locked_at = NULL WHERE person = ?",
                                            [self.claimed])
            return self.claimed
        # A lock that has run out starts the count again.
        failures = (0 if self.row["locked_at"] else self.row["failures"] or 0) + 1
        limit = self.app.site.identity.lockout_attempts
        locks = failures >= limit
        self.app.store.conn.execute("UPDATE logins SET failures = ?, locked_at = ? WHERE person = ?",
                                    [failures, now.isoformat(timespec="seconds") if locks else None, self.claimed])
        self._journal_failure("wrong_password", failures)
        if locks:
            self.app.journal.append("operation", SYSTEM, self.claimed, {
                "login_locked": self.claimed, "failures": failures, "via": self.via,
                "minutes": self.app.site.identity.lockout_minutes})
            raise AuthFailed("locked", _("wrong password; login '{id}' is now locked").format(id=self.claimed))
        raise AuthFailed("wrong_password", _("wrong password for '{id}'").format(id=self.claimed))

    def _journal_failure(self, code: str, failures: int | None) -> None:
        body: dict[str, Any] = {"login_failed": code, "via": self.via}
        if failures is not None:
            body["failures"] = failures
        if self.address:
            body["address"] = self.address
        self.app.journal.append("operation", SYSTEM, _clean(self.claimed), body)


def check_password(app: App, claimed: str, password: str, via: str, address: str | None = None) -> str:
    """The person id if `password` is theirs; otherwise AuthFailed, journaled (and counted toward the lock)."""
    attempt = Attempt(app, claimed, via, address)
    return attempt.finish(attempt.verify(password))


def unlock(app: App, person_id: str, by: str) -> None:
    if not has_login(app, person_id):
        raise KeyError(_("'{id}' has no login").format(id=person_id))
    with app.store.transaction() as conn:
        conn.execute("UPDATE logins SET failures = 0, locked_at = NULL WHERE person = ?", [person_id])
    app.journal.append("operation", by, person_id, {"login_unlocked": person_id})


def issue_token(app: App, person_id: str, by: str, label: str) -> str:
    """A new API token for the person, returned once; the store keeps its SHA-256 only."""
    if active_person(app, person_id) is None:
        raise AuthFailed("unknown", _("'{id}' is not a current person on this site").format(id=person_id))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with app.store.transaction():
        row = app.store.db["api_tokens"].insert({
            "person": person_id, "digest": digest(token), "label": label, "created_by": by,
            "created_at": _now().isoformat(timespec="seconds")})
    app.journal.append("operation", by, person_id, {"api_token_issued": row.last_pk, "label": label})
    return token


def revoke_tokens(app: App, person_id: str, by: str) -> int:
    with app.store.transaction() as conn:
        count = conn.execute("UPDATE api_tokens SET revoked_at = ? WHERE person = ? AND revoked_at IS NULL",
                             [_now().isoformat(timespec="seconds"), person_id]).rowcount
    app.journal.append("operation", by, person_id, {"api_tokens_revoked": count})
    return count


def token_person(app: App, token: str) -> str | None:
    """Whose current token this is (None for an unknown, revoked or revoked person's token)."""
    row = app.store.conn.execute("SELECT id, person, last_used_at FROM api_tokens WHERE digest = ? AND revoked_at IS NULL",
                                 [digest(token)]).fetchone()
    if row is None or active_person(app, row[1]) is None:
        return None
    _touch(app, "UPDATE api_tokens SET last_used_at = ? WHERE id = ?", row[0], row[2])
    return str(row[1])


def _touch(app: App, sql: str, key: Any, last: str | None) -> None:
    now = _now()
    if last is None or now - datetime.fromisoformat(last) > timedelta(seconds=TOUCH_SECONDS):
        app.store.conn.execute(sql, [now.isoformat(timespec="seconds"), key])


def open_session(app: App, person_id: str, address: str | None) -> tuple[str, str]:
    """A new web session: (the id for the cookie, its CSRF token). Journaled as the login."""
    session, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = _now().isoformat(timespec="seconds")
    with app.store.transaction():
        app.store.db["web_sessions"].insert({"digest": digest(session), "person": person_id, "csrf": csrf,
                                             "created_at": now, "last_seen_at": now, "address": address})
    app.journal.append("operation", person_id, person_id, {"login": "web", "address": address})
    return session, csrf


def session_of(app: App, session: str, now: Callable[[], datetime] = _now) -> tuple[str, str] | None:
    """(person, CSRF token) of a live session; an idle, too old or revoked person's one is ended."""
    key = digest(session)
    row = app.store.conn.execute("SELECT person, csrf, created_at, last_seen_at FROM web_sessions WHERE digest = ?",
                                 [key]).fetchone()
    if row is None:
        return None
    person, csrf, created, seen = row
    moment, limits = now(), app.site.identity
    if (moment - datetime.fromisoformat(seen) > timedelta(minutes=limits.session_idle_minutes)
            or moment - datetime.fromisoformat(created) > timedelta(hours=limits.session_hours)
            or active_person(app, person) is None):
        app.store.conn.execute("DELETE FROM web_sessions WHERE digest = ?", [key])
        return None
    if moment - datetime.fromisoformat(seen) > timedelta(seconds=TOUCH_SECONDS):
        app.store.conn.execute("UPDATE web_sessions SET last_seen_at = ? WHERE digest = ?",
                               [moment.isoformat(timespec="seconds"), key])
    return str(person), str(csrf)


def preferred_language(app: App, person_id: str) -> str | None:
    """The language the person last chose in the console, or None."""
    row = app.store.conn.execute("SELECT language FROM logins WHERE person = ?", [person_id]).fetchone()
    return str(row[0]) if row and row[0] else None


def prefer_language(app: App, person_id: str, language: str) -> None:
    """Keep the person's choice of language (a display preference: not journaled)."""
    app.store.conn.execute("UPDATE logins SET language = ? WHERE person = ?", [language, person_id])


def close_session(app: App, session: str) -> str | None:
    """End a session (logout); returns whose it was, journaled."""
    key = digest(session)
    row = app.store.conn.execute("SELECT person FROM web_sessions WHERE digest = ?", [key]).fetchone()
    if row is None:
        return None
    app.store.conn.execute("DELETE FROM web_sessions WHERE digest = ?", [key])
    app.journal.append("operation", row[0], row[0], {"logout": "web"})
    return str(row[0])


__all__ = ["AuthFailed", "Attempt", "HASHER", "SYSTEM", "active_person", "any_login", "check_password",
           "close_session", "digest", "has_login", "issue_token", "migrations", "open_session", "password_problem",
           "prefer_language", "preferred_language", "revoke_tokens", "session_of", "set_password", "token_person", "unlock"]
