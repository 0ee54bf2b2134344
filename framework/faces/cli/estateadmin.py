"""`watchkeeper estate enrol|revoke|clear|verify|people …`: the estate's admin actions, each by a proven person.

Who acts proves it as on the appliance (`faces.cli.common.authenticate`: a password on a terminal,
`--password-fd N` or WATCHKEEPER_PASSWORD_FD), the estate's role check allows it, and the action
goes to the estate's journal with who, what and why; `estate verify` walks that journal.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from watchkeeper.core.i18n import _
from watchkeeper.evidence.journal import JournalKeyError
from watchkeeper.evidence.store import StoreError
from watchkeeper.faces.cli.common import EXIT_ENVIRONMENT, EXIT_FINDINGS, authenticate, refusing
from watchkeeper.faces.cli.logins import _new_password
from watchkeeper.faces.estate.config import EstateConfig
from watchkeeper.faces.estate.people import ROLES, VIEW, EstateApp, open_estate_app
from watchkeeper.faces.estate.store import EnrolError, EstateStore
from watchkeeper.site import identity


class EstateState:
    """What `authenticate` asks of a command's state: the app whose people prove themselves."""

    def __init__(self, app: EstateApp) -> None:
        self._app = app

    def app(self) -> EstateApp:
        return self._app


@contextlib.contextmanager
def opened(config: EstateConfig, store: EstateStore, create_key: bool = True) -> Iterator[EstateApp]:
    """The estate's people and journal acting on `store` (`EstateApp.attach`: old plain `events` rows
    imported at the first open, entries a crash kept from the journal journaled)."""
    try:
        app = open_estate_app(config, create_key)
    except (StoreError, JournalKeyError, OSError) as error:
        store.close()
        click.echo(_("estate journal {path}: {error}").format(path=config.journal_store, error=error), err=True)
        raise SystemExit(EXIT_ENVIRONMENT) from None
    try:
        app.attach(store)
        yield app
    finally:
        app.close()
        store.close()


def prove(app: EstateApp, actor: str | None, password_fd: int | None, action: str, resource: str) -> str:
    """The proven person, when their role allows `action` (a refusal is journaled, exit code 1)."""
    who = authenticate(EstateState(app), actor, password_fd)  # type: ignore[arg-type]
    app.require(who, action, resource)
    return who


@contextlib.contextmanager
def viewing(config: EstateConfig, store: EstateStore, actor: str | None, password_fd: int | None,
            resource: str) -> Iterator[EstateApp]:
    """For a command that reads the sites' data (`report`, `heads`): the person proven and their role
    allowing VIEW, as the dashboard asks of a browser; the store is closed after the body."""
    with opened(config, store) as app:
        prove(app, actor, password_fd, VIEW, resource)
        yield app


def identity_options(function: Any) -> Any:
    function = click.option("--password-fd", type=click.IntRange(min=0), default=None,
                            help=_("Read the password of --actor from this file descriptor."))(function)
    return click.option("--actor", default=None, help=_("Your person id on the estate (proven by your password)."))(
        function)


def enrol_site(config: EstateConfig, store: EstateStore, site_id: str, reason: str, rotate: bool,
               actor: str | None, password_fd: int | None) -> str:
    with opened(config, store) as app:
        who = prove(app, actor, password_fd, "estate.enrol", site_id)
        try:
            return app.act(who, "rotate" if rotate and store.rows("SELECT 1 FROM sites WHERE id = ?", [site_id])
                           else "enrol", site_id, reason, lambda: store.enrol(site_id, who, rotate))
        except EnrolError as error:
            raise click.UsageError(str(error)) from None


def site_action(config: EstateConfig, store: EstateStore, action: str, site_id: str, reason: str,
                actor: str | None, password_fd: int | None) -> None:
    """`revoke` or `clear`, proven, allowed and journaled."""
    with opened(config, store) as app:
        who = prove(app, actor, password_fd, f"estate.{action}", site_id)
        change = (lambda: store.revoke(site_id)) if action == "revoke" else (lambda: store.clear_flag(site_id))
        try:
            app.act(who, "revoke" if action == "revoke" else "clear_flag", site_id, reason, change)
        except EnrolError as error:
            raise click.UsageError(str(error)) from None


def verify_journal(config: EstateConfig, store: EstateStore, as_json: bool) -> None:
    with opened(config, store, create_key=False) as app:
        result = app.journal.verify()
    if as_json:
        click.echo(json.dumps({"ok": result.ok, "status": result.status, "entries": result.entries,
                               "head_seq": result.head_seq, "head_hash": result.head_hash, "key_id": result.key_id,
                               "problems": [{"seq": p.seq, "status": p.status, "reason": p.reason}
                                            for p in result.problems]}))
    elif result.ok:
        click.echo(_("estate journal ok: {entries} entries, head {seq} {digest} (key id {key_id})").format(
            entries=result.entries, seq=result.head_seq, digest=result.head_hash, key_id=result.key_id))
    else:
        for problem in result.problems:
            click.echo(_("estate journal {status} at entry {seq}: {reason}").format(
                status=problem.status, seq=problem.seq, reason=problem.reason))
    if not result.ok:
        raise SystemExit(EXIT_FINDINGS)


def people_group(load: Any, config_option: Any) -> click.Group:
    """`estate people add|passwd|revoke|unlock|token|list`; `load(path)` opens config and store."""
    @click.group("people", help=_("The estate's people: who may see its dashboard (viewer) or act on sites (admin)."))
    def people() -> None:
        pass

    @people.command("add", help=_("Add a person with a role and set their password (prompted, or "
                                  "--new-password-fd). The very first person is an admin and needs no --actor."))
    @click.argument("person_id")
    @click.option("--role", type=click.Choice(list(ROLES)), required=True)
    @click.option("--name", default="", help=_("Their name as shown."))
    @click.option("--reason", required=True, help=_("Why they get access (journaled)."))
    @click.option("--new-password-fd", type=click.IntRange(min=0), default=None,
                  help=_("Read the new password from this file descriptor (scripts)."))
    @identity_options
    @config_option
    @refusing
    def add(person_id: str, role: str, name: str, reason: str, new_password_fd: int | None, actor: str | None,
            password_fd: int | None, estate_config: Path) -> None:
        from watchkeeper.site.config import IDENTIFIER

        if not IDENTIFIER.match(person_id):
            raise click.BadParameter(_("a person id is letters, digits, '.', '_' or '-' (at most 64)"),
                                     param_hint="PERSON_ID")
        with opened(*load(estate_config)) as app:
            if not app.anyone():
                # Nobody can prove anything yet: the first person is an admin, who then adds the others.
                if role != "admin":
                    raise click.UsageError(_("the estate has no people yet: the first must be an admin"))
                who = person_id
            else:
                who = prove(app, actor, password_fd, "identity.manage", person_id)
                if identity.active_person(app, person_id) is not None:  # type: ignore[arg-type]
                    raise click.UsageError(_("'{id}' is already a person of the estate").format(id=person_id))
            password = _new_password(new_password_fd, person_id)
            app.add_person(person_id, name, role, who, reason)
            identity.set_password(app, person_id, password, by=who, via="estate cli")  # type: ignore[arg-type]
        click.echo(_("{id} added as {role} by {actor}").format(id=person_id, role=role, actor=who))

    @people.command("passwd", help=_("Change a password: your own (proving the old one) or, as an admin, anyone's."))
    @click.argument("person_id")
    @click.option("--new-password-fd", type=click.IntRange(min=0), default=None,
                  help=_("Read the new password from this file descriptor (scripts)."))
    @identity_options
    @config_option
    @refusing
    def passwd(person_id: str, new_password_fd: int | None, actor: str | None, password_fd: int | None,
               estate_config: Path) -> None:
        with opened(*load(estate_config)) as app:
            who = authenticate(EstateState(app), actor or person_id, password_fd)  # type: ignore[arg-type]
            if who != person_id:
                app.require(who, "identity.manage", person_id)
            identity.set_password(app, person_id, _new_password(new_password_fd, person_id), by=who,  # type: ignore[arg-type]
                                  via="estate cli")
        click.echo(_("password of {id} set by {actor}").format(id=person_id, actor=who))

    @people.command("revoke", help=_("Revoke a person: their logins, sessions and tokens stop working."))
    @click.argument("person_id")
    @click.option("--reason", required=True, help=_("Why (journaled)."))
    @identity_options
    @config_option
    @refusing
    def revoke(person_id: str, reason: str, actor: str | None, password_fd: int | None, estate_config: Path) -> None:
        with opened(*load(estate_config)) as app:
            who = prove(app, actor, password_fd, "identity.manage", person_id)
            try:
                app.revoke_person(person_id, who, reason)
            except KeyError as error:
                raise click.UsageError(str(error.args[0])) from None
        click.echo(_("{id} revoked by {actor}").format(id=person_id, actor=who))

    @people.command("unlock", help=_("Unlock a login locked after wrong passwords (an admin)."))
    @click.argument("person_id")
    @identity_options
    @config_option
    @refusing
    def unlock(person_id: str, actor: str | None, password_fd: int | None, estate_config: Path) -> None:
        with opened(*load(estate_config)) as app:
            who = prove(app, actor, password_fd, "identity.manage", person_id)
            try:
                identity.unlock(app, person_id, who)  # type: ignore[arg-type]
            except KeyError as error:
                raise click.UsageError(str(error.args[0])) from None
        click.echo(_("login {id} unlocked").format(id=person_id))

    @people.command("token", help=_("Issue a person's API token for scripts reading /api/v1/sites, shown once."))
    @click.argument("person_id")
    @click.option("--label", default="", help=_("What it is for (journaled)."))
    @identity_options
    @config_option
    @refusing
    def token(person_id: str, label: str, actor: str | None, password_fd: int | None, estate_config: Path) -> None:
        with opened(*load(estate_config)) as app:
            who = authenticate(EstateState(app), actor or person_id, password_fd)  # type: ignore[arg-type]
            if who != person_id:
                app.require(who, "identity.manage", person_id)
            issued = identity.issue_token(app, person_id, who, label)  # type: ignore[arg-type]
        click.echo(issued)
        click.echo(_("the token is shown only this once; keep it as you would a password"), err=True)

    @people.command("list", help=_("The estate's people and their roles."))
    @config_option
    def list_people(estate_config: Path) -> None:
        with opened(*load(estate_config)) as app:
            for person in app.people.all():
                state = _("revoked") if person.revoked else ", ".join(person.roles)
                click.echo(f"{person.id}\t{person.name}\t{state}")

    return people
