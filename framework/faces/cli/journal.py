"""`watchkeeper journal show|add|verify`: the daily monitoring journal (R6)."""

from __future__ import annotations

import json
from datetime import date, datetime, time

import click

from watchkeeper.core.i18n import _
from watchkeeper.faces.cli.common import actor_option, refusing
from watchkeeper.evidence.store import JOURNAL_KINDS
from watchkeeper.faces.cli.common import State


def register(cli: click.Group) -> None:
    cli.add_command(journal)


def _moment(value: str | None, zone: object) -> datetime | None:
    """A date or date-time on the command line means the site's local time unless it says otherwise."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(_("{value!r} is not a date (YYYY-MM-DD) or date-time").format(value=value)) from None
    if len(value) == 10:
        parsed = datetime.combine(date.fromisoformat(value), time())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


@click.group(help=_("The daily monitoring journal: operation, maintenance, inspection, retrieval and more."))
def journal() -> None:
    pass


@journal.command("show", help=_("Show journal entries, oldest first, in the site's time zone."))
@click.option("--kind", type=click.Choice(JOURNAL_KINDS))
@click.option("--since", help=_("From this date or date-time (site time)."))
@click.option("--until", help=_("Before this date or date-time (site time)."))
@click.option("--json", "as_json", is_flag=True, help=_("One JSON object per line."))
@click.pass_obj
def show(state: State, kind: str | None, since: str | None, until: str | None, as_json: bool) -> None:
    app = state.app()
    zone = app.site.zone
    for entry in app.journal.entries(kind, _moment(since, zone), _moment(until, zone)):
        if as_json:
            entry = dict(entry, body=json.loads(entry["body"]))
            click.echo(json.dumps(entry, ensure_ascii=False))
            continue
        body = json.loads(entry["body"])
        text = body.get("text") if isinstance(body, dict) and set(body) == {"text"} else json.dumps(body, ensure_ascii=False)
        if len(text) > 160:
            text = text[:157] + "..."
        click.echo(f"{entry['seq']:>6}  {entry['time_local']}  {entry['kind']:<11} {entry['actor']:<12} {entry['subject']}: {text}")


@journal.command("add", help=_("Add a manual entry, e.g. an operator's maintenance note."))
@click.option("--kind", type=click.Choice(JOURNAL_KINDS), required=True)
@click.option("--text", required=True, help=_("What happened."))
@actor_option
@click.option("--subject", default="site", show_default=True, help=_("What the entry is about (a camera id, a door...)."))
@click.pass_obj
@refusing
def add(state: State, kind: str, text: str, actor: str, subject: str) -> None:
    app = state.app()
    app.require(actor, "journal.add", subject)
    row = app.journal.append(kind, actor, subject, {"text": text})
    click.echo(_("entry {seq} added").format(seq=row["seq"]))


@journal.command("verify", help=_("Check the hash chain; exit 1 naming the first bad entry."))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def verify(state: State, as_json: bool) -> None:
    result = state.app().journal.verify()
    if as_json:
        click.echo(json.dumps({
            "ok": result.ok, "entries": result.entries, "head_seq": result.head_seq, "head_hash": result.head_hash,
            "first_bad_seq": result.problem.seq if result.problem else None,
            "reason": result.problem.reason if result.problem else None,
        }))
    elif result.ok:
        click.echo(_("journal ok: {entries} entries, head {seq} {digest}").format(
            entries=result.entries, seq=result.head_seq, digest=result.head_hash))
    else:
        click.echo(_("journal BROKEN at entry {seq}: {reason}").format(seq=result.problem.seq, reason=result.problem.reason))
    if not result.ok:
        raise SystemExit(1)
