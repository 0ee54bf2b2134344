"""A register exported as an Excel workbook (xlsx): the store's rows, headers in the site's language.

Cells hold the store's values unchanged (times as site-local date-times), so a re-read workbook
matches the store row for row. Every text is written as a text cell, never a formula: a visitor
named ``=HYPERLINK(...)`` stays that text (formula injection, OWASP "CSV injection").
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Font

from watchkeeper.core.files import replacing
from watchkeeper.core.i18n import _
from watchkeeper.faces.forms import Period, Register, journal_head, local_time, rows

#: Texts a spreadsheet program would read as a formula or a command if they were typed in.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
#: Excel's own limit on a cell's text; longer texts (a long journal body) are cut with a mark.
CELL_TEXT_LIMIT = 32767


def _set(cell: Cell, value: Any) -> None:
    """Put a value in a cell; a text is a text cell whatever it starts with."""
    if isinstance(value, str):
        text = value if len(value) <= CELL_TEXT_LIMIT else value[:CELL_TEXT_LIMIT - 1] + "…"
        cell.value = text
        cell.data_type = "s"  # openpyxl takes a leading "=" for a formula; a stored value never is one
        if text.startswith(FORMULA_STARTS):
            cell.quotePrefix = True  # Excel keeps it text even when someone edits the cell
    else:
        cell.value = value


def cell_values(register: Register, row: dict[str, Any], zone: Any) -> list[Any]:
    """A store row as the workbook's cells: times as site-local date-times to the second (a cell holds
    milliseconds at best, rounded; the journal keeps the exact time), the rest as stored."""
    values = []
    for column in register.columns:
        moment = local_time(row[column.key], zone) if column.kind == "time" else None
        values.append(moment.replace(microsecond=0) if moment is not None else row[column.key])
    return values


def write_xlsx(app: Any, register: Register, period: Period, out: Path, *, actor: str) -> dict[str, Any]:
    """Write the register's rows for the period to `out`, journal the export as `actor` (the proven
    person who exported it), return what was journaled."""
    zone = app.site.zone
    seq, digest = journal_head(app)
    data = rows(app, register, period)
    book = Workbook()
    sheet = book.active
    sheet.title = register.kind
    sheet.append([column.header for column in register.columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for number, row in enumerate(data, start=2):
        for index, value in enumerate(cell_values(register, row, zone), start=1):
            target = sheet.cell(row=number, column=index)
            _set(target, value)
            if register.columns[index - 1].kind == "time" and value is not None:
                target.number_format = "yyyy-mm-dd hh:mm:ss"
    about = book.create_sheet(_("About"))
    for label, value in ((_("Register"), register.title), (_("Site"), app.site.name), (_("Period"), period.label),
                         (_("Time zone"), app.site.time_zone), (_("Rows"), len(data)),
                         (_("Journal head sequence"), seq), (_("Journal head hash"), digest)):
        about.append([label])
        _set(about.cell(row=about.max_row, column=2), value)
    with replacing(out) as temporary:
        book.save(temporary)
    record = {"export": register.kind, "format": "xlsx", "period": period.label, "rows": len(data),
              "file": out.name, "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
              "journal_head": {"seq": seq, "hash": digest}}
    app.journal.append("operation", actor, "export", record)
    return record
