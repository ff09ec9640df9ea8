"""Dirty bytes and free text: cleaned the same way on every way in, and a bad row never sinks an import.

On PostgreSQL a NUL or an over-long value used to fail the whole import (nothing imported); on SQLite
the NUL was stored. UTF-16 files with a lone surrogate or an odd length used to end in a traceback.
"""

from __future__ import annotations

import codecs
import unicodedata
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from outreach.audience.db import transaction
from outreach.audience.free_text import clean_text
from outreach.audience.subscribers import find_by_email
from outreach.audience.topics import TopicDefinition
from outreach.clock import FixedClock

from .helpers import run_import, write

Topics = tuple[TopicDefinition, ...]
ENCODED_WORD = "=?utf-8?b?DQpSZXBseS1UbzogeEBldmlsLmV4YW1wbGUNCg0KQ2FsbCArMSA1NTUgMDEwMCBub3c=?="
BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _unsafe(c: str) -> bool:
    return unicodedata.category(c) in ("Cc", "Cs") or c in BIDI or c in "\u2028\u2029"


@given(st.text(alphabet=st.characters(codec=None), max_size=80))
def test_clean_text_leaves_no_control_character_and_is_stable(text: str) -> None:
    cleaned = clean_text(text)
    assert not any(_unsafe(c) for c in cleaned)
    assert cleaned == cleaned.strip()
    assert clean_text(cleaned) == cleaned
    assert unicodedata.is_normalized("NFC", cleaned)
    cleaned.encode("utf-8")  # storable in both databases


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=80))
def test_text_without_controls_keeps_every_character(text: str) -> None:
    kept = "".join(c for c in text if c not in BIDI)
    assert clean_text(text) == unicodedata.normalize("NFC", kept).strip()


def test_an_encoded_word_stays_those_characters_and_line_breaks_go() -> None:
    assert clean_text(ENCODED_WORD) == ENCODED_WORD
    assert clean_text("Ana\r\nReply-To: x@evil.example\x00") == "Ana  Reply-To: x@evil.example"
    assert clean_text("  Rene\u0301e\t") == "Renée"


def test_a_nul_in_a_name_is_dropped_on_both_databases(
    synced: Engine, topics: Topics, clock: FixedClock, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "in.csv",
        "Email,First Name,Organisation,County\n"
        'ana@example.org,An\x00a,"CSB\r\x1b",Hen\x00rico\n'
        f"ben@example.org,{ENCODED_WORD},,\n",
    )
    report = run_import(synced, path, topics, clock, consent="sheet")
    assert (report.new, report.rejected) == (2, 0)
    with transaction(synced) as session:
        ana, ben = find_by_email(session, "ana@example.org"), find_by_email(session, "ben@example.org")
        assert ana is not None and ben is not None
        assert (ana.first_name, ana.organisation, ana.attributes) == ("Ana", "CSB", {"county": "Henrico"})
        assert ben.first_name == ENCODED_WORD


def test_an_over_long_value_rejects_its_row_only_on_both_databases(
    synced: Engine, topics: Topics, clock: FixedClock, tmp_path: Path
) -> None:
    long = "x" * 301
    path = write(
        tmp_path / "in.csv",
        f"Email,Organisation,Tags\nana@example.org,{long},\n"
        f"ben@example.org,CSB,{'t' * 101}\ncy@example.org,CSB,ok\n",
    )
    rejects = tmp_path / "rejects.csv"
    report = run_import(synced, path, topics, clock, consent="sheet", rejects_path=rejects)
    assert (report.new, report.rejected) == (1, 2)
    text = rejects.read_text(encoding="utf-8")
    assert "organisation is 301 characters long; the limit is 300" in text
    assert "is longer than 100 characters" in text


def test_broken_utf16_rejects_only_the_damaged_rows(
    synced: Engine, topics: Topics, clock: FixedClock, tmp_path: Path
) -> None:
    def utf16(text: str) -> bytes:
        return text.encode("utf-16-le")

    data = (
        codecs.BOM_UTF16_LE
        + utf16("Email\tFirst Name\nana@example.org\tAna\nben@example.org\tB")
        + b"\x00\xd8"  # a lone high surrogate
        + utf16("n\ncy@example.org\tCy\n")
        + b"A"  # an odd length: half a character at the end
    )
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    rejects = tmp_path / "rejects.csv"
    report = run_import(synced, path, topics, clock, consent="sheet", rejects_path=rejects)
    assert (report.encoding, report.new, report.rejected) == ("utf-16", 2, 2)
    lines = rejects.read_text(encoding="utf-8").splitlines()
    assert lines[1].startswith("3,some of its bytes are not valid text") and "\ufffd" in lines[1]
    assert lines[2].startswith("5,some of its bytes are not valid text")


def test_utf16_without_a_byte_order_mark_is_recognised(
    synced: Engine, topics: Topics, clock: FixedClock, tmp_path: Path
) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes("Email,First Name\nana@example.org,Zoë\n".encode("utf-16-le"))
    report = run_import(synced, path, topics, clock, consent="sheet")
    assert (report.encoding, report.new) == ("utf-16-le", 1)
    with transaction(synced) as session:
        ana = find_by_email(session, "ana@example.org")
        assert ana is not None and ana.first_name == "Zoë"
