"""Every CSV outreach writes is safe to open in a spreadsheet, and exports still re-import exactly."""

from __future__ import annotations

import codecs
import csv
import io
import re
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from outreach.audience.csv_write import csv_writer, safe_cell, unquote_cell
from outreach.audience.db import transaction
from outreach.audience.export import export_csv
from outreach.audience.subscribers import find_by_email
from outreach.audience.topics import TopicDefinition
from outreach.clock import FixedClock

from .helpers import run_import, write

Topics = tuple[TopicDefinition, ...]
REPO = Path(__file__).resolve().parents[2]
FORMULAS = [
    '=HYPERLINK("http://evil.example","Click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1)",
    "\tx",
    "\rx",
]


@pytest.mark.parametrize("cell", FORMULAS)
def test_formula_starts_are_quoted_and_read_back(cell: str) -> None:
    assert safe_cell(cell) == "'" + cell
    assert unquote_cell(safe_cell(cell)) == cell


@pytest.mark.parametrize("cell", ["Ana", "", "'quoted already", "a=b", "50%", "São Paulo"])
def test_other_cells_are_written_as_they_are(cell: str) -> None:
    assert safe_cell(cell) == cell and unquote_cell(cell) == cell


def test_the_excel_option_writes_a_byte_order_mark() -> None:
    plain, excel = io.StringIO(), io.StringIO()
    csv_writer(plain).writerow(["Renée"])
    csv_writer(excel, excel=True).writerow(["Renée"])
    assert plain.getvalue() == "Renée\r\n"
    assert excel.getvalue().encode("utf-8") == codecs.BOM_UTF8 + "Renée\r\n".encode()


def test_an_export_neutralises_formulas_and_re_imports_exactly(
    synced: Engine, topics: Topics, clock: FixedClock, tmp_path: Path
) -> None:
    source = write(
        tmp_path / "in.csv",
        "Email,First Name,Organisation,Phone\n"
        'mallory@example.org,"=HYPERLINK(""http://evil.example"",""x"")",+cmd|\' /C calc\'!A0,+1 555 0100\n',
    )
    run_import(synced, source, topics, clock, consent="sheet")
    exported = tmp_path / "out.csv"
    with transaction(synced) as session, exported.open("w", encoding="utf-8", newline="") as out:
        export_csv(session, out, None, date(2026, 3, 1))
    rows = list(csv.reader(exported.open(encoding="utf-8", newline="")))
    cells = [cell for row in rows for cell in row]
    assert '\'=HYPERLINK("http://evil.example","x")' in cells
    assert "'+cmd|' /C calc'!A0" in cells and "'+1 555 0100" in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    with transaction(synced) as session:
        before = find_by_email(session, "mallory@example.org")
        assert before is not None
        original = (before.first_name, before.organisation, dict(before.attributes))
    other = tmp_path / "other.db"
    from outreach.audience.db import make_engine
    from tests.databases import migrated_sqlite

    copy = make_engine(f"sqlite:///{migrated_sqlite(other)}")
    try:
        run_import(copy, exported, topics, clock, consent="re-import")
        with transaction(copy) as session:
            again = find_by_email(session, "mallory@example.org")
            assert again is not None
            assert (again.first_name, again.organisation, dict(again.attributes)) == original
    finally:
        copy.dispose()


def test_the_rejects_file_neutralises_formulas(
    synced: Engine, topics: Topics, clock: FixedClock, tmp_path: Path
) -> None:
    source = write(tmp_path / "in.csv", "Email,Notes\n=1+1,@SUM(A1)\n")
    rejects = tmp_path / "rejects.csv"
    run_import(synced, source, topics, clock, consent="sheet", rejects_path=rejects)
    rows = list(csv.reader(rejects.open(encoding="utf-8", newline="")))
    assert rows[1][2:] == ["'=1+1", "'@SUM(A1)"]


def test_every_csv_writer_in_the_code_base_goes_through_csv_write() -> None:
    direct = re.compile(r"csv\.(writer|DictWriter)\(")
    offenders = [
        str(path.relative_to(REPO))
        for folder in ("outreach", "benchmarks", "lists")
        for path in (REPO / folder).rglob("*.py")
        if path.name != "csv_write.py" and direct.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
