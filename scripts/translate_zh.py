"""Fill untranslated zh_CN entries from a JSON file of {msgid: translation}: `python scripts/translate_zh.py FILE`."""

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

PO = Path(__file__).resolve().parents[1] / "framework" / "locale" / "zh_CN" / "LC_MESSAGES" / "watchkeeper.po"

translations = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
catalog = read_po(PO.open("rb"))
for message in catalog:
    if message.id in translations:
        message.string = translations[message.id]
with PO.open("wb") as handle:
    write_po(handle, catalog, width=0, sort_output=True)
