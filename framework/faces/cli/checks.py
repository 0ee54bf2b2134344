"""`watchkeeper clock`, `watchkeeper retention` and `watchkeeper check NAME`: run a rule's check now."""

from __future__ import annotations

import asyncio
import json

import click

from watchkeeper.rules.runner import collect_checks, run_check
from watchkeeper.core.findings import kind_title, severity_name
from watchkeeper.core.i18n import _, localize
from watchkeeper.core.textwidth import ljust
from watchkeeper.faces.cli.common import EXIT_FINDINGS, State, authenticate, optional_actor_options, require_known

#: Checks that get a top-level command of their own, as the design's CLI names them.
SHORTCUTS = {"clock": _("Check every device clock against standard time (R7)."),
             "retention": _("Check recordings cover the retention period without gaps (R8).")}



def register(cli: click.Group) -> None:
    cli.add_command(check)
    for name, help_text in SHORTCUTS.items():
        cli.add_command(_shortcut(name, help_text))


def _run(state: State, name: str, only: tuple[str, ...], actor: str | None, password_fd: int | None,
         as_json: bool) -> None:
    # A check is watchkeeper's own unless a person says they ran it; then they prove it.
    actor = "watchkeeper" if actor in (None, "watchkeeper") else authenticate(state, actor, password_fd)
    app = state.app()
    checks = collect_checks(app.pm)
    if name not in checks:
        raise click.BadParameter(_("no check {name!r}; available: {names}").format(
            name=name, names=", ".join(sorted(checks))))
    site = app.site
    require_known(only, {item.id for item in (*site.cameras, *site.recorders, *site.doors)}, "--only")
    result = asyncio.run(run_check(app, checks[name], actor, frozenset(only) or None))
    if as_json:
        click.echo(json.dumps({"check": name, "findings": [f.to_dict() for f in result.findings],
                               "summary": result.summary}, ensure_ascii=False, indent=2, default=str))
    else:
        for finding in result.findings:
            channel = f"/{finding.channel}" if finding.channel is not None else ""
            click.echo(f"{ljust(severity_name(finding.severity), 8)} {ljust(kind_title(finding.kind), 20)} "
                       f"{finding.subject}{channel}"
                       f"{_(': ')}{localize(finding.reason)}")
        click.echo(_("{name}: {count} finding(s)").format(name=name, count=len(result.findings)))
    if any(str(f.severity) == "fault" for f in result.findings):
        raise SystemExit(EXIT_FINDINGS)


def _options(function: object) -> object:
    function = click.option("--only", multiple=True, help=_("Limit to these device or camera ids."))(function)
    function = optional_actor_options(function)
    return click.option("--json", "as_json", is_flag=True)(function)


@click.command(help=_("Run one registered check now."))
@click.argument("name")
@_options
@click.pass_obj
def check(state: State, name: str, only: tuple[str, ...], actor: str | None, password_fd: int | None,
          as_json: bool) -> None:
    _run(state, name, only, actor, password_fd, as_json)


def _shortcut(name: str, help_text: str) -> click.Command:
    @click.command(name, help=help_text)
    @_options
    @click.pass_obj
    def command(state: State, only: tuple[str, ...], actor: str | None, password_fd: int | None,
                as_json: bool) -> None:
        _run(state, name, only, actor, password_fd, as_json)

    return command
