"""`watchkeeper people passwd|token|unlock`: logins for the web console and the CLI's proof of who acts."""

from __future__ import annotations

import sys

import click

from watchkeeper.core.i18n import _
from watchkeeper.faces.cli.common import (EXIT_FINDINGS, State, actor_option, authenticate, read_password_fd,
                                          refusing)
from watchkeeper.site import identity

#: The role the first login must have: whoever holds it then sets everybody else's.
FIRST_ROLE = "administrator"


def register(cli: click.Group) -> None:
    people = cli.commands["people"]
    assert isinstance(people, click.Group)
    for command in (passwd, token, unlock):
        people.add_command(command)


def _new_password(fd: int | None, person_id: str) -> str:
    if fd is not None:
        password = read_password_fd(fd)
    elif sys.stdin.isatty():
        password = click.prompt(_("New password for {id}").format(id=person_id), hide_input=True,
                                confirmation_prompt=True, err=True)
    else:
        raise click.UsageError(_("give the new password on a terminal or with --new-password-fd N"))
    problem = identity.password_problem(person_id, password)
    if problem:
        raise click.UsageError(problem)
    return password


def _refuse(message: str) -> SystemExit:
    click.echo(_("refused: {reason}").format(reason=message), err=True)
    return SystemExit(EXIT_FINDINGS)


def _proven(state: State, person_id: str, actor: str | None, password_fd: int | None, action: str) -> str:
    """Who acts on `person_id`'s login: themselves, or someone `authorize` allows `action` (administrators)."""
    who = authenticate(state, actor or person_id, password_fd)
    if who != person_id:
        state.app().require(who, action, person_id)
    return who


@click.command("passwd", help=_("Set a person's password (prompted twice, or --new-password-fd). The very "
                                "first login is an administrator's and needs none; after that a person "
                                "changes their own (proving the old one) or an administrator sets it."))
@click.argument("person_id")
@click.option("--actor", default=None, help=_("Who sets it (default: the person themselves)."))
@click.option("--password-fd", type=click.IntRange(min=0), default=None,
              help=_("Read the current password of --actor from this file descriptor."))
@click.option("--new-password-fd", type=click.IntRange(min=0), default=None,
              help=_("Read the new password from this file descriptor (scripts)."))
@click.pass_obj
@refusing
def passwd(state: State, person_id: str, actor: str | None, password_fd: int | None,
           new_password_fd: int | None) -> None:
    app = state.app()
    person = identity.active_person(app, person_id)
    if person is None:
        raise _refuse(_("'{id}' is not a current person on this site").format(id=person_id))
    if not identity.any_login(app):
        # First run: nobody can prove anything yet, so the first login is an administrator's (journaled).
        if FIRST_ROLE not in person.roles:
            raise _refuse(_("no login exists yet: the first one must be an administrator's, and {id} is not one")
                          .format(id=person_id))
        identity.set_password(app, person_id, _new_password(new_password_fd, person_id), by=person_id,
                              via="cli first login")
        click.echo(_("first login set: {id} is the administrator who sets the others'").format(id=person_id))
        return
    who = _proven(state, person_id, actor, password_fd, "identity.manage")
    identity.set_password(app, person_id, _new_password(new_password_fd, person_id), by=who, via="cli")
    click.echo(_("password of {id} set by {actor}").format(id=person_id, actor=who))


@click.command("token", help=_("Issue a person's API token for scripts (Authorization: Bearer), shown once; "
                               "--revoke ends all of theirs."))
@click.argument("person_id")
@click.option("--label", default="", help=_("What it is for (journaled)."))
@click.option("--revoke", is_flag=True, help=_("Revoke every token of the person instead."))
@click.option("--actor", default=None, help=_("Who issues it (default: the person themselves)."))
@click.option("--password-fd", type=click.IntRange(min=0), default=None,
              help=_("Read the password of --actor from this file descriptor."))
@click.pass_obj
@refusing
def token(state: State, person_id: str, label: str, revoke: bool, actor: str | None, password_fd: int | None) -> None:
    who = _proven(state, person_id, actor, password_fd, "identity.manage")
    app = state.app()
    if revoke:
        count = identity.revoke_tokens(app, person_id, who)
        click.echo(_("{count} token(s) of {id} revoked").format(count=count, id=person_id))
        return
    try:
        issued = identity.issue_token(app, person_id, who, label)
    except identity.AuthFailed as failure:
        raise _refuse(str(failure)) from None
    click.echo(issued)
    click.echo(_("the token is shown only this once; keep it as you would a password"), err=True)


@click.command("unlock", help=_("Unlock a login locked after wrong passwords (an administrator)."))
@click.argument("person_id")
@actor_option
@click.pass_obj
@refusing
def unlock(state: State, person_id: str, actor: str) -> None:
    state.app().require(actor, "identity.manage", person_id)
    identity.unlock(state.app(), person_id, actor)
    click.echo(_("login {id} unlocked").format(id=person_id))
