"""Every CSV file outreach writes goes through here, so a spreadsheet never runs a cell as a formula.

Excel, LibreOffice and Google Sheets treat a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or
a carriage return as a formula: ``=HYPERLINK(...)`` becomes a live link, ``+cmd|' /C calc'!A0`` a
command (OWASP "CSV injection"). Such cells are written with a leading apostrophe, which spreadsheets
show as plain text; the importer removes that apostrophe again, so exports still re-import exactly.
Characters that cannot be encoded (lone surrogates from a damaged file) become U+FFFD instead of
failing the whole file.

``excel=True`` writes a UTF-8 byte order mark first: without it, Excel on Windows reads UTF-8 as
Windows-1252 and shows "RenÃ©e" for "Renée".
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterable
from typing import TextIO

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_BROKEN = re.compile("[\ud800-\udfff]")


def safe_cell(value: object) -> str:
    """The text a cell is written as: a formula-looking start is quoted with an apostrophe."""
    text = "" if value is None else str(value)
    if _BROKEN.search(text):
        text = _BROKEN.sub("\ufffd", text)
    if text.startswith(FORMULA_START):
        return "'" + text
    return text


def unquote_cell(text: str) -> str:
    """What ``safe_cell`` wrote back to the original (the importer reads every cell through this)."""
    if text.startswith("'") and text[1:].startswith(FORMULA_START):
        return text[1:]
    return text


class CsvWriter:
    """``csv.writer`` whose every cell goes through ``safe_cell``."""

    def __init__(self, out: TextIO, *, excel: bool = False, delimiter: str = ",") -> None:
        if excel:
            out.write(codecs.BOM_UTF8.decode("utf-8"))
        self._writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")

    def writerow(self, cells: Iterable[object]) -> None:
        self._writer.writerow([safe_cell(cell) for cell in cells])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(out: TextIO, *, excel: bool = False, delimiter: str = ",") -> CsvWriter:
    """The one way to write CSV in outreach; ``out`` is a text stream opened with ``newline=""``."""
    return CsvWriter(out, excel=excel, delimiter=delimiter)
