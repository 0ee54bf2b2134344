"""`watchkeeper forms KIND` (printable registers, PDF) and `watchkeeper export KIND` (xlsx)."""

from __future__ import annotations

from pathlib import Path

import click

from watchkeeper.core.i18n import _
from watchkeeper.faces.cli.common import EXIT_ENVIRONMENT, State, actor_option
from watchkeeper.faces.forms import EXPORT_KINDS, FORM_KINDS, Period, PeriodError, parse_period, registers
from watchkeeper.faces.pdf import PdfError


def register(cli: click.Group) -> None:
    cli.add_command(forms)
    cli.add_command(export)


def _period(state: State, text: str | None, required: bool) -> Period | None:
    if text is None:
        if required:
            raise click.UsageError(_("give --period (day, week, month, a date, a month or a range), or --blank"))
        return None
    try:
        return parse_period(text, state.app().site.zone)
    except PeriodError as error:
        raise click.BadParameter(str(error), param_hint="--period") from None


def _out(out: Path) -> Path:
    if out.is_dir():
        raise click.BadParameter(_("{path} is a folder; give a file name").format(path=out), param_hint="--out")
    if not out.parent.is_dir():
        raise click.BadParameter(_("folder {path} does not exist").format(path=out.parent), param_hint="--out")
    return out


@click.command(help=_("Print a register (登记表) as an A4 PDF with signature lines, filled from the store for a "
                      "period, or --blank; it carries the journal head it was made from."))
@click.argument("kind", type=click.Choice(FORM_KINDS))
@click.option("--period", help=_("day, week, month (ending today), a date 2026-11-28, a month 2026-11, or "
                                 "2026-11-01..2026-11-30 (site dates)."))
@click.option("--blank", is_flag=True, help=_("An empty form to fill in by hand."))
@click.option("--out", type=click.Path(path_type=Path), required=True, help=_("The PDF file to write."))
@actor_option
@click.pass_obj
def forms(state: State, kind: str, period: str | None, blank: bool, out: Path, actor: str) -> None:
    from watchkeeper.faces.forms_render import write_form

    target = _out(out)
    chosen = _period(state, period, required=not blank)
    try:
        record = write_form(state.app(), registers()[kind], chosen, blank, target, actor=actor)
    except PdfError as error:
        click.echo(str(error), err=True)
        raise SystemExit(EXIT_ENVIRONMENT) from None
    click.echo(_("{file}: {form}, journal head {seq}").format(file=target, form=registers()[kind].title,
                                                                seq=record["journal_head"]["seq"]))


@click.command(help=_("Export a register (journal, access log, visitors, findings, inspections, retrievals, "
                      "handovers, room care) for a period as a spreadsheet."))
@click.argument("kind", type=click.Choice(EXPORT_KINDS))
@click.option("--period", required=True, help=_("day, week, month (ending today), a date 2026-11-28, a month "
                                                "2026-11, or 2026-11-01..2026-11-30 (site dates)."))
@click.option("--format", "file_format", type=click.Choice(["xlsx"]), default="xlsx", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help=_("The file to write."))
@actor_option
@click.pass_obj
def export(state: State, kind: str, period: str, file_format: str, out: Path, actor: str) -> None:
    from watchkeeper.faces.forms_export import write_xlsx

    target = _out(out)
    chosen = _period(state, period, required=True)
    assert chosen is not None
    record = write_xlsx(state.app(), registers()[kind], chosen, target, actor=actor)
    click.echo(_("{file}: {rows} rows, journal head {seq}").format(file=target, rows=record["rows"],
                                                                    seq=record["journal_head"]["seq"]))
