"""`watchkeeper service install|status`: the appliance as a systemd service."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import click

from watchkeeper.core.i18n import _
from watchkeeper.faces.cli.run import _listen
from watchkeeper.faces.systemd import UNIT_NAME, install_unit
from watchkeeper.site.config import ConfigError, load_site


def register(cli: click.Group) -> None:
    cli.add_command(service)


@click.group(help=_("Install and inspect the appliance's systemd service."))
def service() -> None:
    pass


@service.command("install", help=_(
    "Write a hardened systemd unit that runs `watchkeeper run` as a dedicated user, with its state "
    "under /var/lib/watchkeeper. Then: systemctl daemon-reload && systemctl enable --now watchkeeper."))
@click.option("--unit-dir", type=click.Path(path_type=Path, file_okay=False), default=Path("/etc/systemd/system"),
              show_default=True)
@click.option("--user", default="watchkeeper", show_default=True, help=_("The system user the service runs as."))
@click.option("--listen", default="127.0.0.1:8080", show_default=True, help=_("Dashboard HOST:PORT."))
@click.pass_context
def install(context: click.Context, unit_dir: Path, user: str, listen: str) -> None:
    _listen(listen)  # a unit that cannot start is not written
    config = Path(context.find_root().params.get("config_option") or "site.toml").resolve()
    if not config.is_file():
        raise click.UsageError(_("no site config at {path}: say which with --config").format(path=config))
    try:
        site = load_site(config)
    except ConfigError as error:
        click.echo(error.render(), err=True)
        raise SystemExit(2) from None
    executable = Path(shutil.which("watchkeeper") or Path(sys.executable).with_name("watchkeeper")).resolve()
    try:
        # ProtectSystem=strict leaves only these writable: the folders the site's evidence goes to.
        writable = (site.store.parent, site.journal_key.parent, site.exports_dir,
                    *((site.backup.folder,) if site.backup else ()))
        path = install_unit(unit_dir, executable, config, user, listen, tuple(p.resolve() for p in writable))
    except OSError as error:
        click.echo(_("cannot write the unit: {error}").format(error=error), err=True)
        raise SystemExit(3) from None
    click.echo(_("wrote {path}").format(path=path))
    click.echo(_("next: useradd --system --home /var/lib/watchkeeper {user}; "
                 "systemctl daemon-reload; systemctl enable --now watchkeeper").format(user=user))


@service.command("status", help=_("What systemd says of the service (active, since, main pid, restarts)."))
def status() -> None:
    if shutil.which("systemctl") is None:
        click.echo(_("systemctl not found: this machine does not run systemd"), err=True)
        raise SystemExit(3)
    result = subprocess.run(["systemctl", "show", UNIT_NAME, "--property",
                             "LoadState,ActiveState,SubState,ActiveEnterTimestamp,MainPID,NRestarts,StatusText"],
                            capture_output=True, text=True, timeout=30)
    if result.returncode:
        click.echo(result.stderr.strip() or _("systemctl failed"), err=True)
        raise SystemExit(3)
    click.echo(result.stdout.rstrip())
