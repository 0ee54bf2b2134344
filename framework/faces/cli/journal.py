"""`watchkeeper journal show|add|verify`: the daily monitoring journal (R6)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import click

from watchkeeper.core.i18n import _, localize
from watchkeeper.core.textwidth import cut, fit, rjust, width
from watchkeeper.evidence.journal import GENESIS, Journal, JournalKeyError, Problem, Verification
from watchkeeper.evidence.store import JOURNAL_KINDS, StoreMissing
from watchkeeper.evidence.witness import WitnessError, WitnessHead, head_line, read_heads
from watchkeeper.faces.bodies import JOURNAL_KIND_LABELS, describe, label, value_text
from watchkeeper.faces.cli.common import State, actor_option, refusing
from watchkeeper.rules import daybook
from watchkeeper.site.app import open_journal_readonly, site_witness_heads
from watchkeeper.site.config import Site


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


def table(entries: list[dict[str, Any]], terminal_width: int) -> list[str]:
    """Entries as an aligned table with a header, the last column cut to the terminal's width."""
    heads = [_("seq"), _("time (site)"), _("kind"), _("actor"), _("subject"), _("what")]
    rows = [[str(e["seq"]), e["time_local"][:19].replace("T", " "),
             label(JOURNAL_KIND_LABELS[e["kind"]]) if e["kind"] in JOURNAL_KIND_LABELS else e["kind"],
             value_text("actor", e["actor"]), value_text("check", e["subject"]), describe(e["body"])] for e in entries]
    widths = [max([width(heads[i])] + [width(row[i]) for row in rows]) for i in range(5)]
    widths[4] = min(widths[4], 24)
    room = max(20, terminal_width - sum(widths) - 2 * 5)
    lines = []
    for row in [heads, ["-" * w for w in widths] + ["-" * min(room, 40)], *rows]:
        cells = [rjust(row[0], widths[0])] + [fit(row[i], widths[i]) for i in range(1, 5)]
        last = cut(row[5], room, "…")
        lines.append("  ".join(cells + [last]).rstrip())
    return lines


@journal.command("show", help=_("Show journal entries, oldest first, as a table in the site's time zone."))
@click.option("--kind", type=click.Choice(JOURNAL_KINDS))
@click.option("--since", help=_("From this date or date-time (site time)."))
@click.option("--until", help=_("Before this date or date-time (site time)."))
@click.option("--json", "as_json", is_flag=True, help=_("One JSON object per line."))
@click.pass_obj
def show(state: State, kind: str | None, since: str | None, until: str | None, as_json: bool) -> None:
    app = state.app()
    zone = app.site.zone
    entries = list(app.journal.entries(kind, _moment(since, zone), _moment(until, zone)))
    if as_json:
        for entry in entries:
            click.echo(json.dumps(dict(entry, body=json.loads(entry["body"])), ensure_ascii=False))
        return
    if not entries:
        return  # nothing to show is shown as nothing: scripts read an empty output
    for line in table(entries, shutil.get_terminal_size((160, 24)).columns):
        click.echo(line)


@journal.command("close-day", help=_("Close a site day (today by default) with your signed daily summary (R6)."))
@click.option("--summary", "text", required=True, help=_("What the day held: operation, faults, handover."))
@click.option("--day", help=_("The site day, YYYY-MM-DD (today by default)."))
@actor_option
@click.pass_obj
@refusing
def close_day(state: State, text: str, day: str | None, actor: str) -> None:
    try:
        which = date.fromisoformat(day) if day else None
    except ValueError:
        raise click.BadParameter(_("{value!r} is not a date (YYYY-MM-DD)").format(value=day)) from None
    seq = daybook.close_day(state.app(), actor, text, which)
    click.echo(_("day closed by {actor}: entry {seq}").format(actor=actor, seq=seq))


@journal.command("add", help=_("Add a manual entry, e.g. an operator's maintenance note (kinds operation, maintenance, inspection)."))
@click.option("--kind", type=click.Choice(JOURNAL_KINDS), required=True)
@click.option("--text", required=True, help=_("What happened."))
@actor_option
@click.option("--subject", default="site", show_default=True, help=_("What the entry is about (a camera id, a door...)."))
@click.pass_obj
@refusing
def add(state: State, kind: str, text: str, actor: str, subject: str) -> None:
    row = state.app().add_note(actor, kind, subject, text)
    click.echo(_("entry {seq} added").format(seq=row["seq"]))


def status_label(status: str) -> str:
    """The name `journal verify` prints for each kind of problem."""
    labels = {
        "broken": _("BROKEN"), "wrong_key": _("WRONG KEY"), "store_missing": _("STORE MISSING"),
        "key_missing": _("KEY MISSING"), "store_unreadable": _("STORE UNREADABLE"), "anchor_missing": _("ANCHOR MISSING"), "anchor_garbled": _("ANCHOR GARBLED"),
        "truncated": _("TRUNCATED"), "anchor_older": _("ANCHOR OLDER THAN THE CHAIN"),
        "anchor_mismatch": _("ANCHOR MISMATCH"), "witness_mismatch": _("WITNESS MISMATCH"),
        "tampered": _("TAMPERED WITH"), "restarted": _("RESTARTED"),
    }
    return labels.get(status, status)


def _readonly(site: Site) -> Journal | Problem:
    try:
        return open_journal_readonly(site)
    except StoreMissing as error:
        return Problem(0, str(error), "store_missing")
    except JournalKeyError as error:
        return Problem(0, str(error), "key_missing")


def _witness(site: Site, files: tuple[Path, ...]) -> list[WitnessHead]:
    """The site's own witness file, then every --witness file; a bad line is a usage error naming it."""
    try:
        heads = site_witness_heads(site)
        for path in files:
            if str(path) == "-":
                heads += read_heads(sys.stdin, site.name)
            else:
                heads += read_heads(path, site.name)
    except WitnessError as error:
        raise click.UsageError(str(error)) from None
    return heads


@journal.command("verify", help=_("Check the journal without changing anything: the chain, its head anchor and"
                                  " the saved heads; exit 1 naming every problem."))
@click.option("--witness", "witness_files", multiple=True, type=click.Path(path_type=Path, allow_dash=True),
              help=_("Saved heads to check against (JSON lines from 'journal heads', or syslog lines); '-' reads stdin."))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def verify(state: State, witness_files: tuple[Path, ...], as_json: bool) -> None:
    site = state.site()
    heads = _witness(site, witness_files)
    opened = _readonly(site)
    if isinstance(opened, Problem):
        result = Verification(False, 0, 0, GENESIS, opened, (opened,))
    else:
        try:
            result = opened.verify(witness=heads)
        except sqlite3.DatabaseError as error:  # not a database, or not watchkeeper's
            problem = Problem(0, f"the store {site.store} cannot be read: {error}", "store_unreadable")
            result = Verification(False, 0, 0, GENESIS, problem, (problem,))
        finally:
            opened.store.close()
    if as_json:
        click.echo(json.dumps({
            "ok": result.ok, "status": result.status, "entries": result.entries, "head_seq": result.head_seq,
            "head_hash": result.head_hash, "key_id": result.key_id,
            "first_bad_seq": result.problem.seq if result.problem else None,
            "reason": result.problem.reason if result.problem else None,
            "problems": [{"seq": p.seq, "status": p.status, "reason": p.reason} for p in result.problems],
        }))
    elif result.ok:
        click.echo(_("journal ok: {entries} entries, head {seq} {digest} (key id {key_id})").format(
            entries=result.entries, seq=result.head_seq, digest=result.head_hash, key_id=result.key_id))
    else:
        for problem in result.problems:
            if problem.status == "broken":
                click.echo(_("journal BROKEN at entry {seq}: {reason}").format(seq=problem.seq,
                                                                              reason=localize(problem.reason)))
            else:
                click.echo(_("journal {status}: {reason}").format(status=status_label(problem.status),
                                                                   reason=localize(problem.reason)))
    if not result.ok:
        raise SystemExit(1)


@journal.command("heads", help=_("Print the journal's head as a witness line to keep outside the appliance;"
                                 " --all prints one for every entry. Changes nothing."))
@click.option("--all", "every", is_flag=True, help=_("One line per entry, oldest first."))
@click.pass_obj
def heads(state: State, every: bool) -> None:
    site = state.site()
    journal = _readonly(site)
    if isinstance(journal, Problem):
        click.echo(_("journal {status}: {reason}").format(status=status_label(journal.status),
                                                           reason=localize(journal.reason)), err=True)
        raise SystemExit(1)
    try:
        sql = "SELECT seq, hash, time_utc FROM journal ORDER BY seq" + ("" if every else " DESC LIMIT 1")
        for seq, digest, time_utc in journal.store.conn.execute(sql):
            click.echo(head_line(site.name, journal.key_id, seq, digest, time_utc))
    finally:
        journal.store.close()
