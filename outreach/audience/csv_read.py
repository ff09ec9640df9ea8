"""Reading the member exports people really have, before anything is validated or written.

Spreadsheets and CRMs produce UTF-8 with or without a BOM, Windows-1252, UTF-16 ("Unicode text", with
or without a BOM), ``,`` or ``;`` or tab separators, quoted fields with line breaks, blank lines, and
headers spelled a dozen ways; newsletter tools add their own columns (``csv_formats.py``). This module
turns such a file into records of (physical line, field -> text), mapping headers through ``--map``,
the detected tool's columns or the alias table; every other column becomes a custom attribute.

Bytes that do not decode (a UTF-16 file cut at an odd length, a lone surrogate) never stop the file:
they are marked, and the row that holds them is rejected with its line and the reason.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from outreach.audience.csv_formats import ExportFormat, detect_format
from outreach.audience.csv_write import unquote_cell
from outreach.errors import ImportRejected

# The subscriber fields an import can fill; ``attributes.NAME`` and ``ignore`` are also mappable.
FIELDS = (
    "email",
    "first_name",
    "last_name",
    "full_name",
    "organisation",
    "role",
    "region",
    "language",
    "time_zone",
    "topics",
    "tags",
    "consent",
    "signup_date",
    "status",
    "unsubscribed_at",
    "cleaned_at",
    "attributes",
)

_ALIASES: dict[str, tuple[str, ...]] = {
    "email": (
        "email",
        "emailaddress",
        "mail",
        "e-mail",
        "emailadress",
        "correo",
        "correoelectronico",
        "primaryemail",
        "workemail",
    ),
    "first_name": ("firstname", "first", "givenname", "forename", "nombre", "fname"),
    "last_name": ("lastname", "last", "surname", "familyname", "apellido", "apellidos", "lname"),
    "full_name": ("name", "fullname", "contactname", "nombrecompleto"),
    "organisation": (
        "organisation",
        "organization",
        "org",
        "company",
        "agency",
        "employer",
        "program",
        "organisationname",
        "organizationname",
        "companyname",
    ),
    "role": ("role", "profession", "occupation", "position", "jobtitle", "discipline"),
    "region": ("region", "area", "regionofvirginia"),
    "language": ("language", "preferredlanguage", "lang", "idioma"),
    "time_zone": ("timezone", "tz"),
    "topics": ("topics", "topic", "interests", "lists", "subscriptions", "newsletters"),
    "tags": ("tags", "tag", "labels", "groups"),
    "consent": (
        "consent",
        "consentbasis",
        "consentsource",
        "source",
        "howsubscribed",
        "optinsource",
        "signupsource",
    ),
    "signup_date": (
        "signupdate",
        "joined",
        "datejoined",
        "membersince",
        "subscribedon",
        "optindate",
        "signedup",
        "subscribedat",
        "optintime",
        "creationdate",
    ),
    # Where the person stands for *mail*; a membership status ("Lapsed") is a custom attribute.
    "status": ("status", "subscriberstatus", "subscriptionstatus", "emailmarketingstatus"),
    "unsubscribed_at": (
        "unsubscribedat",
        "unsubscribedon",
        "unsubscribeddate",
        "dateunsubscribed",
        "unsubscriptiondate",
        "unsubtime",
        "optoutdate",
        "optouttime",
    ),
    "cleaned_at": ("cleanedat", "cleantime", "bouncedat"),
    "attributes": ("attributes", "extraattributes", "metadata", "customfields"),
}
HEADER_ALIASES: dict[str, str] = {
    alias.replace("-", ""): field for field, aliases in _ALIASES.items() for alias in aliases
}
DELIMITERS = (",", ";", "\t")
# What undecodable bytes become: a lone surrogate, which no valid text holds (see ``decode``).
BROKEN = "\udcff"


def _mark_broken(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return BROKEN, error.end


codecs.register_error("outreach-broken", _mark_broken)


@dataclass(frozen=True)
class Record:
    """One data row: the physical line it starts on, mapped fields, and custom attributes."""

    line: int
    fields: Mapping[str, str]
    attributes: Mapping[str, str]
    raw: tuple[str, ...]
    broken: bool = False  # some of its bytes did not decode


@dataclass(frozen=True)
class Table:
    """A whole file, read: its encoding, separator, header and how each column was mapped."""

    encoding: str
    delimiter: str
    header: tuple[str, ...]
    columns: tuple[str, ...]  # per column: a field, ``attributes.NAME`` or ``ignore``
    records: tuple[Record, ...]
    format: str = ""  # the tool the file came from, when recognised ("Mailchimp export")


def header_key(name: str) -> str:
    """What a header is compared by: lower case, letters and digits only."""
    return re.sub(r"[^0-9a-z]", "", name.casefold())


def snake_case(name: str) -> str:
    """A custom attribute's key from its column header: ``Renewal Date`` -> ``renewal_date``."""
    return re.sub(r"[^0-9a-z]+", "_", name.casefold()).strip("_") or "column"


def decode(data: bytes) -> tuple[str, str]:
    """A file's text and encoding: BOMs first, then UTF-16 by its zero bytes, strict UTF-8, Windows-1252.

    In UTF-8 and UTF-16 files, bytes that do not decode become ``BROKEN``, so one damaged row is
    rejected and the rest imports.
    """
    if data.startswith(codecs.BOM_UTF8):
        return data.decode("utf-8-sig", errors="outreach-broken"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="outreach-broken"), "utf-16"
    unmarked = _utf16_without_bom(data)
    if unmarked:
        return data.decode(unmarked, errors="outreach-broken"), unmarked
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        # Bytes Windows-1252 leaves undefined: Latin-1 maps every byte, so nothing is lost.
        return data.decode("latin-1"), "latin-1"


def _utf16_without_bom(data: bytes) -> str:
    """``utf-16-le``/``-be`` when most odd (or even) bytes are zero, as in UTF-16 text; else ""."""
    sample = data[:4000]
    if len(sample) < 4:
        return ""
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return ""


def sniff_delimiter(text: str) -> str:
    """The separator used in the header line: whichever of , ; tab occurs most outside quotes."""
    for line in text.splitlines():
        if line.strip():
            unquoted = re.sub(r'"[^"]*"', "", line)
            counts = {d: unquoted.count(d) for d in DELIMITERS}
            best = max(counts, key=lambda d: counts[d])
            return best if counts[best] else ","
    return ","


def parse_mapping(items: list[str]) -> dict[str, str]:
    """``--map "Col Name=field"`` options -> {header key: target}; the target is checked."""
    mapping: dict[str, str] = {}
    for item in items:
        column, sep, target = item.partition("=")
        target = target.strip()
        if not sep or not column.strip() or not target:
            raise ImportRejected(f'--map {item!r}: write it as "Column name=field"')
        if not is_target(target):
            raise ImportRejected(
                f"--map {item!r}: unknown field {target!r}; valid: {', '.join(FIELDS)}, "
                "attributes.NAME, ignore"
            )
        mapping[header_key(column)] = target
    return mapping


def column_target(name: str, mapping: Mapping[str, str], known: ExportFormat | None = None) -> str:
    """One header's target: ``--map`` first, then the tool's own columns, the alias table, else a
    custom attribute."""
    key = header_key(name)
    columns = known.columns if known else {}
    return mapping.get(key) or columns.get(key) or HEADER_ALIASES.get(key) or f"attributes.{snake_case(name)}"


def is_target(target: str) -> bool:
    """Whether a column may be read as ``target``: a field, ``attributes.NAME`` or ``ignore``."""
    return (
        target in FIELDS
        or target == "ignore"
        or (target.startswith("attributes.") and len(target) > len("attributes."))
    )


def map_columns(
    header: tuple[str, ...], mapping: Mapping[str, str], known: ExportFormat | None = None
) -> tuple[str, ...]:
    """Each header's target (``column_target``); two columns read as one field, or no email column,
    is ImportRejected."""
    targets: list[str] = []
    for name in header:
        target = column_target(name, mapping, known)
        if target != "ignore" and target in targets:
            raise ImportRejected(
                f"two columns map to {target!r} (the second is {name!r}); rename one or use "
                f'--map "{name}=ignore"'
            )
        targets.append(target)
    if "email" not in targets:
        raise ImportRejected(
            f"no email column among {', '.join(repr(h) for h in header)}; "
            'name one with --map "Column name=email"'
        )
    return tuple(targets)


def _rows(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    previous = 0
    for row in reader:
        start = previous + 1
        previous = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        yield start, row


# What a person may choose instead of the detected encoding and separator (the admin app offers them).
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1")


@dataclass(frozen=True)
class Peek:
    """A file's first rows before any column is mapped: what the admin app shows to choose a mapping."""

    encoding: str
    delimiter: str
    header: tuple[str, ...]
    samples: tuple[tuple[str, ...], ...]  # per column, the first few non-empty values
    format: ExportFormat | None


def peek(path: Path, *, encoding: str | None = None, delimiter: str | None = None, rows: int = 3) -> Peek:
    """The header and a few values of each column, read as ``read_table`` would; ImportRejected if
    the file cannot be read at all."""
    text, encoding, delimiter = _text(path, encoding, delimiter)
    found = _rows(text[:1_000_000], delimiter)
    try:
        header = tuple(cell.strip().replace(BROKEN, "\ufffd") for cell in next(found)[1])
        samples: list[list[str]] = [[] for _ in header]
        for _, row in found:
            for index, cell in enumerate(row[: len(header)]):
                if cell.strip() and len(samples[index]) < rows:
                    samples[index].append(cell.strip().replace(BROKEN, "\ufffd"))
            if all(len(values) >= rows for values in samples):
                break
    except StopIteration:
        raise ImportRejected(f"{path.name} is empty") from None
    except csv.Error:
        pass  # a cut-off sample (or a malformed file: the import says where)
    known = detect_format({header_key(name) for name in header})
    return Peek(encoding, delimiter, header, tuple(tuple(v) for v in samples), known)


def _text(path: Path, encoding: str | None, delimiter: str | None) -> tuple[str, str, str]:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ImportRejected(f"cannot read {path}: {err.strerror}") from err
    if encoding:
        if encoding not in ENCODINGS:
            raise ImportRejected(f"unknown encoding {encoding!r}; valid: {', '.join(ENCODINGS)}")
        text = data.decode(encoding, errors="outreach-broken")
    else:
        text, encoding = decode(data)
    if delimiter and delimiter not in DELIMITERS:
        raise ImportRejected(f"unknown separator {delimiter!r}; valid: comma, semicolon, tab")
    return text, encoding, delimiter or sniff_delimiter(text)


def read_table(
    path: Path,
    mapping: Mapping[str, str] | None = None,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> Table:
    """Read a CSV export into records; a file that cannot be read at all is ImportRejected.

    ``encoding`` and ``delimiter`` replace the detected ones when a person knows better.
    """
    text, encoding, delimiter = _text(path, encoding, delimiter)
    rows = _rows(text, delimiter)
    try:
        first = next(rows)
    except StopIteration:
        raise ImportRejected(f"{path} is empty") from None
    except csv.Error as err:
        raise ImportRejected(f"{path}: not a CSV file: {err}") from err
    header = tuple(cell.strip().replace(BROKEN, "\ufffd") for cell in first[1])
    known = detect_format({header_key(name) for name in header})
    columns = map_columns(header, mapping or {}, known)
    try:
        records = [_record(line, row, columns, known) for line, row in rows]
    except csv.Error as err:
        raise ImportRejected(f"{path}: the CSV is malformed: {err}") from err
    return Table(encoding, delimiter, header, columns, tuple(records), known.name if known else "")


def _record(line: int, row: list[str], columns: tuple[str, ...], known: ExportFormat | None) -> Record:
    fields: dict[str, str] = {}
    attributes: dict[str, str] = {}
    broken = False
    for target, cell in zip(columns, row, strict=False):
        value = cell.strip()
        if target == "ignore" or not value:
            continue
        if value[0] == "'":
            value = unquote_cell(value)
        broken = broken or BROKEN in value
        if target.startswith("attributes."):
            attributes[target.removeprefix("attributes.")] = value
        else:
            fields[target] = value
    if len(row) > len(columns) and any(c.strip() for c in row[len(columns) :]):
        fields["__extra__"] = str(len(row))
    if known and known.unconfirmed_without and not fields.get(known.unconfirmed_without):
        fields.setdefault("status", "unconfirmed")
    return Record(line, fields, attributes, tuple(row), broken)
