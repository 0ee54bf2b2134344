"""`watchkeeper backup|restore`: copies of the site's evidence that can be verified and restored."""

from __future__ import annotations

import os
from pathlib import Path

import click

from watchkeeper.core.i18n import _, error_text, localize
from watchkeeper.core.models import Secret
from watchkeeper.faces.cli.common import State, authenticate, optional_actor_options, proved, refusing
from watchkeeper.host import open_site
from watchkeeper.site.app import journal_anchor
from watchkeeper.site.context import ActionRequest, SiteView
from watchkeeper.site.people import ConfigPeople
from watchkeeper.site.backup import (BackupError, backup_site, backups, prune, restore_files, take_backup,
                                      verify_backup)
from watchkeeper.site.config import ConfigError, load_site

PASSPHRASE_ENV = "WATCHKEEPER_BACKUP_PASSPHRASE"


def register(cli: click.Group) -> None:
    cli.add_command(backup)
    cli.add_command(restore)


def _passphrase(passphrase_file: Path | None, confirm: bool) -> Secret:
    """From a file (scripts), the environment (the service), or typed at the console (never echoed)."""
    if passphrase_file is not None:
        try:
            with passphrase_file.open("rb") as handle:
                text = handle.read(4097).decode("utf-8").strip("\r\n")
        except (OSError, UnicodeDecodeError) as error:
            raise click.UsageError(_("cannot read the passphrase file: {error}").format(error=error)) from None
        if len(text) > 4096:
            raise click.UsageError(_("the passphrase file is longer than 4096 bytes"))
        return Secret(text)
    if os.environ.get(PASSPHRASE_ENV):
        return Secret(os.environ[PASSPHRASE_ENV])
    return Secret(click.prompt(_("Backup passphrase"), hide_input=True, confirmation_prompt=confirm))


def _failed(error: BackupError) -> SystemExit:
    click.echo(_("backup refused: {reason}").format(reason=localize(error_text(error))), err=True)
    return SystemExit(1)


passphrase_option = click.option(
    "--passphrase-file", type=click.Path(path_type=Path, dir_okay=False),
    help=_("Read the passphrase from this file (or set WATCHKEEPER_BACKUP_PASSPHRASE)."))


@click.group(invoke_without_command=True, help=_(
    "Back up the store (consistently, while the appliance runs), the config and journal key (sealed "
    "with a passphrase) and the journal's head anchor."))
@click.option("--to", "folder", type=click.Path(path_type=Path, file_okay=False),
              help=_("Folder for the backup (default: [backup] folder in the site config)."))
@optional_actor_options
@passphrase_option
@click.pass_context
@refusing
def backup(context: click.Context, folder: Path | None, actor: str | None, password_fd: int | None,
           passphrase_file: Path | None) -> None:
    if context.invoked_subcommand is not None:
        return
    state: State = context.obj
    actor = authenticate(state, actor, password_fd)
    app = state.app()
    configured = app.site.backup
    target = folder or (configured.folder if configured else None)
    if target is None:
        raise click.UsageError(_("say where with --to, or set [backup] folder in the site config"))
    app.require(actor, "backup.take", str(target))
    secret = _passphrase(passphrase_file, confirm=True)
    try:
        made = take_backup(app, target, secret, actor)
    except BackupError as error:
        raise _failed(error) from None
    except OSError as error:
        click.echo(_("backup failed, nothing was kept: {error}").format(error=error), err=True)
        raise SystemExit(3) from None
    click.echo(_("backup written: {path}").format(path=made))
    if configured is not None and folder is None:
        for removed in prune(target, configured.keep):
            click.echo(_("removed old backup {path}").format(path=removed))


@backup.command("verify", help=_("Check a backup without changing it: hashes, sealed key, journal chain."))
@click.argument("path", type=click.Path(path_type=Path, file_okay=False, exists=True))
@passphrase_option
def verify(path: Path, passphrase_file: Path | None) -> None:
    try:
        check = verify_backup(path, _passphrase(passphrase_file, confirm=False))
    except BackupError as error:
        raise _failed(error) from None
    click.echo(_("backup ok: journal {entries} entries, head {seq} {hash}").format(
        entries=check.verification.entries, seq=check.verification.head_seq, hash=check.verification.head_hash))


@backup.command("list", help=_("The complete backups in a folder, oldest first."))
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False, exists=True))
def list_backups(folder: Path) -> None:
    for path in backups(folder):
        click.echo(str(path))


@click.command(help=_(
    "Restore a verified backup: the store, the journal key and anchor (and the config with "
    "--with-config). Refuses a backup whose files, chain or anchor do not verify."))
@click.argument("path", type=click.Path(path_type=Path, file_okay=False, exists=True))
# The store being restored over may not exist (a bare machine), so no password can be checked: the
# backup's passphrase is the proof, and the named person is authorized by the backup's own config.
@click.option("--actor", required=True, help=_("Your person id from the site config."))
@passphrase_option
@click.option("--with-config", is_flag=True, help=_("Also write the backup's config to --config (kept aside if it exists)."))
@click.option("--replace", is_flag=True, help=_("Restore over an existing store, keeping it aside (renamed)."))
@click.pass_obj
@refusing
def restore(state: State, path: Path, actor: str, passphrase_file: Path | None, with_config: bool,
            replace: bool) -> None:
    secret = _passphrase(passphrase_file, confirm=False)
    config = Path(state.config)
    try:
        check = verify_backup(path, secret)
        # The passphrase that opened the backup is this command's proof: the refusal or the restore
        # entry written below says so, as a password or a session does on other entries.
        proved(actor, "backup_passphrase")
        if with_config or not config.exists():
            site = backup_site(check, config)
        else:
            try:
                site = load_site(config)
            except ConfigError as error:
                click.echo(error.render(), err=True)
                raise SystemExit(2) from None
        # Who may restore is decided before anything is touched: by the site being restored over,
        # or, on a bare machine, by the people of the backup's own config.
        # The store being restored over may not exist: the view opens it only if a policy reads it.
        request = ActionRequest(actor, "backup.restore", str(path), SiteView(site.store))
        if not state.pm.hook.authorize(actor=actor, action="backup.restore", resource=str(path), site=site,
                                       people=ConfigPeople(site), request=request):
            if site.store.exists() and not with_config:
                app = open_site(config, state.pm)
                try:
                    app.require(actor, "backup.restore", str(path))
                finally:
                    app.close()
            click.echo(_("refused: {reason}").format(reason=f"{actor} may not backup.restore"), err=True)
            raise SystemExit(1)
        restore_files(check, site.store, site.journal_key, journal_anchor(site),
                      config=config if (with_config or not config.exists()) else None, replace=replace)
    except BackupError as error:
        raise _failed(error) from None
    app = open_site(config, state.pm)
    try:
        app.journal.append("operation", actor, str(path), {
            "restored": path.name, "journal_head": {"seq": check.verification.head_seq,
                                                   "hash": check.verification.head_hash}})
    finally:
        app.close()
    click.echo(_("restored {path}: journal {entries} entries verified").format(
        path=path, entries=check.verification.entries))
