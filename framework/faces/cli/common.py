"""What the CLI's command modules share: the opened site, proof of who acts (--actor), site times, refusals."""

from __future__ import annotations

import errno
import functools
import os
import pwd
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import pluggy

from watchkeeper.host import open_site
from watchkeeper.host.pluginhost import collect_platforms
from watchkeeper.site import identity
from watchkeeper.site.app import App, Refused
from watchkeeper.site.config import ConfigError, Site, load_site, platform_kinds
from watchkeeper.devices.drivers import DeviceError
from watchkeeper.evidence.journal import PROVEN, JournalKeyError, JournalTampered
from watchkeeper.evidence.store import StoreError, store_problem
from watchkeeper.core.findings import kind_in_text
from watchkeeper.core.i18n import N_, _, error_text, localize, stored_text

#: The exit codes of every command (docs/cli.md).
EXIT_OK = 0
#: The command ran and found something: findings of fault severity from a check (a device that
#: cannot be reached is one), a broken journal; or the site's policy refused the action.
EXIT_FINDINGS = 1
#: A bad argument, an unknown id, a config error.
EXIT_USAGE = 2
#: A device or the environment kept an action from being done: a strike not acknowledged, a clip
#: that cannot be downloaded, a reader another process holds, a port in use.
EXIT_ENVIRONMENT = 3
#: The site's own data cannot be used: its store (corrupt, read-only, disk full) or its journal key.
EXIT_STORE = EXIT_ENVIRONMENT


def store_failure_message(error: BaseException, store: Path | None) -> str | None:
    """The one line a store or disk failure is reported as, or None when `error` is not one."""
    if isinstance(error, (StoreError, JournalKeyError)):
        return localize(error_text(error))
    problem = store_problem(error, store)
    if problem is None:
        return None
    where = getattr(error, "filename", None) or store or _("the store")
    return _("{where}: {problem} ({error})").format(where=where, problem=localize(problem), error=type(error).__name__)


class State:
    """What every command shares: the plugin manager and, opened on first use, the site."""

    def __init__(self, pm: pluggy.PluginManager, config: Path) -> None:
        self.pm = pm
        self.config = config
        self._app: App | None = None

    def app(self) -> App:
        if self._app is None:
            try:
                self._app = open_site(self.config, self.pm)
            except ConfigError as error:
                click.echo(error.render(), err=True)
                raise SystemExit(EXIT_USAGE) from None
            except Exception as error:  # only the store's and the key's failures are handled here
                message = store_failure_message(error, None)
                if message is None:
                    raise
                click.echo(message, err=True)
                raise SystemExit(EXIT_STORE) from None
            if self._app.journal_alarm is not None:
                click.echo(_("journal tampered with: {reason} (alarm journaled, finding opened)").format(
                    reason=self._app.journal_alarm.reason), err=True)
        return self._app

    def site(self) -> Site:
        """The validated site config alone, for commands that must not open (and so change) the store."""
        try:
            return load_site(self.config, platform_kinds(collect_platforms(self.pm)))
        except ConfigError as error:
            click.echo(error.render(), err=True)
            raise SystemExit(EXIT_USAGE) from None


#: A file descriptor to read the password from, for scripts (as --password-fd).
PASSWORD_FD_VARIABLE = "WATCHKEEPER_PASSWORD_FD"
PASSWORD_BYTES = 4096


def read_password_fd(fd: int) -> str:
    """The first line on a file descriptor. A regular file is read from its start each time (os.pread),
    so a script may open one file once (`exec 3<password`) for many commands; a pipe is read once."""
    try:
        raw = os.pread(fd, PASSWORD_BYTES, 0)
    except OSError as error:
        if error.errno == errno.EBADF:
            raise click.UsageError(_("file descriptor {fd} is not open").format(fd=fd)) from None
        chunks = []  # a pipe or a terminal: read what is there
        while (chunk := os.read(fd, PASSWORD_BYTES)) and b"\n" not in chunk and len(chunks) < 4:
            chunks.append(chunk)
        raw = b"".join(chunks) + chunk
    return raw.decode("utf-8", "replace").split("\n", 1)[0].rstrip("\r")


def os_account() -> str:
    """The name of the real user running this process (the real uid: not `sudo -u`'s or an env var's word)."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return f"uid {os.getuid()}"


def _refused(message: str) -> SystemExit:
    click.echo(_("refused: {reason}").format(reason=message), err=True)
    return SystemExit(EXIT_FINDINGS)


def proved(person: str, how: str) -> None:
    """Note how this command proved `person`, for the journal, until the command ends (in-process
    callers such as tests run many commands in one process)."""
    PROVEN.set((person, how))
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(lambda: PROVEN.set(None))


def authenticate(state: State, claimed: str | None, password_fd: int | None) -> str:
    """Who runs this command, proven: the password (from a descriptor, or prompted on a terminal), the
    OS account mapped to a person (`os_user`), or, only where `policies.trust_actor` says so, the
    `--actor` named (journaled as a warning every time). Anything else is refused, and journaled."""
    app = state.app()
    fd = password_fd
    if fd is None and os.environ.get(PASSWORD_FD_VARIABLE, "").strip():
        try:
            fd = int(os.environ[PASSWORD_FD_VARIABLE])
        except ValueError:
            raise click.UsageError(_("{variable} must be a file descriptor number").format(
                variable=PASSWORD_FD_VARIABLE)) from None
    account = os_account()
    mapped = next((p.id for p in app.site.people if p.os_user and p.os_user == account), None)
    if fd is None and mapped is not None and claimed in (None, mapped):
        if identity.active_person(app, mapped) is None:
            raise _refused(_("'{id}' (OS account {account}) is not a current person on this site").format(
                id=mapped, account=account))
        proved(mapped, "os_user")
        return mapped
    if not claimed:
        raise click.UsageError(_("say who you are with --actor (your OS account {account} maps to nobody)").format(
            account=account))
    if fd is None and app.site.policies.trust_actor:
        command = click.get_current_context().command_path
        app.journal.append("operation", claimed, claimed, {
            "warning": N_("unauthenticated actor trusted by policies.trust_actor"), "command": command,
            "os_user": account})
        click.echo(_("warning: {actor} is taken on trust (policies.trust_actor); this is journaled").format(
            actor=claimed), err=True)
        proved(claimed, "trust_actor")
        return claimed
    if fd is not None:
        password = read_password_fd(fd)
    elif sys.stdin.isatty():
        password = click.prompt(_("Password for {actor}").format(actor=claimed), hide_input=True, err=True)
    else:
        app.journal.append("operation", identity.SYSTEM, claimed[:64], {
            "login_failed": "no_proof", "via": "cli", "os_user": account})
        raise _refused(_("{actor} must prove who they are: a password (on a terminal, --password-fd N or "
                         "{variable}), or an OS account mapped to them (os_user)").format(
            actor=claimed, variable=PASSWORD_FD_VARIABLE))
    try:
        person = identity.check_password(app, claimed, password, "cli")
    except identity.AuthFailed as failure:
        raise _refused(str(failure)) from None
    proved(person, "password")
    return person


def _identity_options(function: Callable[..., Any], actor_help: str) -> Callable[..., Any]:
    function = click.option("--password-fd", type=click.IntRange(min=0), default=None,
                            help=_("Read your password from this file descriptor (scripts); else "
                                   "WATCHKEEPER_PASSWORD_FD, else a prompt on a terminal."))(function)
    return click.option("--actor", default=None, help=actor_help)(function)


def optional_actor_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """`--actor` and `--password-fd` for a group that proves who acts only when it acts itself
    (`inspect`, `backup`): it calls `authenticate` then."""
    return _identity_options(function, _("Your person id (proven as for every action)."))


def actor_option(function: Callable[..., Any]) -> Callable[..., Any]:
    """`--actor ID` and `--password-fd N`, proven by `authenticate`: the command gets the proven id as `actor`."""

    @functools.wraps(function)
    def wrapper(*args: Any, actor: str | None, password_fd: int | None, **kwargs: Any) -> Any:
        state = click.get_current_context().find_object(State)
        assert state is not None
        return function(*args, actor=authenticate(state, actor, password_fd), **kwargs)

    return _identity_options(wrapper, _("Your person id from the site config (proven by your password, "
                                        "or implied by your OS account's os_user)."))


def site_time(state: Any, value: str) -> datetime:
    """A date-time typed at the console means the site's local time unless it names a zone."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(_("{value!r} is not a date-time like 2026-11-28T09:00").format(value=value)) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=state.app().site.zone)


def refusing(function: Callable[..., Any]) -> Callable[..., Any]:
    """A policy refusal becomes a message and exit code 1, a device failure exit code 3, a bad
    argument (unknown id, impossible interval) a usage error with exit code 2. Never a traceback."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Refused as error:
            click.echo(_("refused: {reason}").format(reason=localize(error.reason)), err=True)
            raise SystemExit(EXIT_FINDINGS) from None
        except JournalTampered as error:
            click.echo(_("refused: the journal was tampered with: {reason} (alarm journaled as entry {seq})").format(
                reason=localize(error.problem.reason), seq=error.alarm_seq), err=True)
            raise SystemExit(EXIT_FINDINGS) from None
        except DeviceError as error:
            click.echo(f"{kind_in_text(error.kind)}{_(': ')}{localize(error.reason)}", err=True)
            raise SystemExit(EXIT_ENVIRONMENT) from None
        except (KeyError, ValueError) as error:
            # str() of a KeyError is the repr of its message; the message itself is what to show.
            raise click.UsageError(str(error.args[0]) if error.args else type(error).__name__) from None

    return wrapper


def settled(reply: dict[str, Any]) -> dict[str, Any]:
    """The running appliance's reply to a control request: its result, or the message and exit code
    the same failure has when the command does the work itself (see `refusing`)."""
    if reply["ok"]:
        return reply
    error = reply.get("error")
    if error == "refused":
        click.echo(_("refused: {reason}").format(reason=stored_text(reply["reason"], reply.get("reason_msg"))),
                   err=True)
        raise SystemExit(EXIT_FINDINGS)
    if error == "usage":
        raise click.UsageError(reply["reason"])
    reason = stored_text(reply["reason"], reply.get("reason_msg"))
    click.echo(kind_in_text(reply.get("kind", "error")) + _(": ") + reason, err=True)
    raise SystemExit(EXIT_ENVIRONMENT)


def require_known(given: tuple[str, ...], known: set[str], option: str) -> None:
    """Ids named on the command line that the site does not have: a usage error, not a silent nothing."""
    unknown = [value for value in given if value not in known]
    if unknown:
        raise click.BadParameter(_("not in the site config: {ids}; known: {known}").format(
            ids=", ".join(unknown), known=", ".join(sorted(known)) or _("none")), param_hint=option)
