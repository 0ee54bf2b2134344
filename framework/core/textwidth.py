"""Text measured in terminal columns: a Chinese character or full-width mark takes two, a combining mark none."""

from __future__ import annotations

import unicodedata

# Python's own str.ljust and format specs count characters, so a column of Chinese labels padded to
# 12 characters is 24 columns wide in a terminal and the next column starts in a different place on
# every row. The Unicode East Asian Width property is what terminals follow: W (wide) and F
# (full-width) take two columns; A (ambiguous, e.g. "…") takes one outside a CJK legacy terminal.
_WIDE = frozenset({"W", "F"})


def char_width(char: str) -> int:
    """Columns one character takes: 0 for a combining mark or a zero-width format character, 2 for wide."""
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in _WIDE else 1


def width(text: str) -> int:
    """Columns `text` takes in a terminal."""
    if text.isascii():
        return len(text)
    return sum(char_width(char) for char in text)


def ljust(value: object, columns: int) -> str:
    """`value` as text padded on the right to `columns` display columns (never cut): f"{value:<12}" for
    text a terminal shows, wide characters included."""
    text = str(value)
    return text + " " * max(0, columns - width(text))


def rjust(value: object, columns: int) -> str:
    """`value` as text padded on the left to `columns` display columns (never cut): f"{value:>4}"."""
    text = str(value)
    return " " * max(0, columns - width(text)) + text


def cut(text: str, columns: int, ellipsis: str = "") -> str:
    """`text` shortened to at most `columns` display columns, ending in `ellipsis` when it was cut.
    A wide character is never split: the cut stops before it."""
    if width(text) <= columns:
        return text
    room = columns - width(ellipsis)
    taken, used = [], 0
    for char in text:
        step = char_width(char)
        if used + step > room:
            break
        taken.append(char)
        used += step
    return "".join(taken) + ellipsis


def fit(text: str, columns: int) -> str:
    """`text` cut to `columns` display columns and padded to exactly that many."""
    return ljust(cut(text, columns), columns)
