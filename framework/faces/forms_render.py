"""Printable registers: a register's rows (or blank lines) as an A4 HTML page, printed to PDF and journaled.

Each form carries the journal head it was made from (sequence and hash, in its table footer on every
page), and the printing is itself journaled with the PDF's SHA-256: a paper copy is checked by finding
that head in the journal (`watchkeeper journal heads --all`) after `journal verify` passes.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from watchkeeper.core.i18n import _, current_language, localize
from watchkeeper.faces.forms import Period, Register, display, journal_head, rows
from watchkeeper.faces.pdf import html_to_pdf
from watchkeeper.faces.report_render import templates

#: Empty lines on a blank form: as many as fit one A4 page in each orientation.
BLANK_ROWS = {True: 14, False: 22}


def head_text(seq: int, digest: str) -> str:
    """The line each page of a form carries: the journal head it was made from."""
    if not seq:
        return _("Made from an empty journal (no entries yet).")
    return _("Made from journal entry {seq}, hash {hash}.").format(seq=seq, hash=digest)


def how_to_check(seq: int, digest: str) -> str:
    """How a person checks a paper copy against the journal (docs/forms.md says the same)."""
    return _("To check this copy: on the appliance run “watchkeeper journal verify”, then “watchkeeper journal "
             "heads --all”; the line with seq {seq} must carry the hash {short}…, and the journal entry that "
             "records this printing names the file's SHA-256.").format(seq=seq, short=digest[:16])


#: The signature cell's share of the width, as a column weight.
SIGNATURE_WEIGHT = 1.2


def widths(register: Register) -> list[str]:
    """Each column's width (the signature cell's last) as a CSS percentage, from the columns' weights."""
    weights = [column.weight for column in register.columns] + [SIGNATURE_WEIGHT]
    return [f"{100 * weight / sum(weights):.1f}%" for weight in weights]


def render_form(app: Any, register: Register, period: Period | None, blank: bool = False,
                now: datetime | None = None) -> tuple[str, tuple[int, str]]:
    """The form's HTML and the journal head (seq, hash) it carries."""
    zone = app.site.zone
    seq, digest = journal_head(app)
    data = [] if blank or period is None else rows(app, register, period)
    printed = (now or datetime.now(timezone.utc)).astimezone(zone).strftime("%Y-%m-%d %H:%M")
    language = current_language()
    names = {person.id: person.name or person.id for person in app.people.all()}
    tasks = {task.id: localize(task.title) for task in app.site.maintenance}
    html = templates().get_template("form.html").render(
        register=register, t=_, language=language, colon="：" if language.startswith("zh") else ": ",
        site_name=app.site.name, period_label=period.label if period is not None else "", printed=printed,
        rows=[[display(column, row[column.key], zone, names, row.get(f"{column.key}_msg"), tasks)
               for column in register.columns] for row in data],
        blank=blank, blank_rows=BLANK_ROWS[register.landscape], widths=widths(register),
        head_line=head_text(seq, digest), how_to_check=how_to_check(seq, digest))
    return html, (seq, digest)


def write_form(app: Any, register: Register, period: Period | None, blank: bool, out: Path, *,
               actor: str) -> dict[str, Any]:
    """Print the form to `out` (PDF), journal the printing as `actor` (the proven person who printed
    it), and return what was journaled."""
    html, (seq, digest) = render_form(app, register, period, blank)
    html_to_pdf(html, out)
    record = {"form": register.kind, "period": period.label if period is not None else None, "blank": blank,
              "file": out.name, "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
              "journal_head": {"seq": seq, "hash": digest}}
    app.journal.append("operation", actor, "forms", record)
    return record
