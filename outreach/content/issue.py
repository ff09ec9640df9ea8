"""Read one issue file into an ``Issue``: front matter validated, body parsed, placeholders held."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from outreach.content.frontmatter import parse_front_matter, split_front_matter
from outreach.content.markdown import parse_body
from outreach.content.placeholders import expressions_in, extract
from outreach.errors import ContentError, ContentErrors
from outreach.models import Audience, Issue

_DATED = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?-")

# A monthly issue is 5-20 KB of Markdown, and anything that renders past Gmail's 102 KB clipping (about
# 40 KB of Markdown) cannot go out whole anyway. 1 MB is 25x that and still reads, renders and checks
# in a few seconds; a bigger file is a mistake (a pasted export, the wrong file) or an attack, and is
# refused before any work is done on it.
MAX_ISSUE_BYTES = 1_000_000


def read_issue(path: Path, zone: ZoneInfo | None = None) -> Issue:
    """Read and validate ``path``; raises ContentError(s) that name ``path:line``."""
    try:
        _check_size(path.stat().st_size, str(path))
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContentError(
            'no such issue file; `outreach new "Title"` makes one in newsletters/', str(path)
        ) from None
    except UnicodeDecodeError as err:
        raise ContentError(f"the file is not UTF-8 (byte {err.start}); save it as UTF-8", str(path)) from None
    return read_issue_text(source, path, zone)


def read_issue_text(source: str, path: Path, zone: ZoneInfo | None = None) -> Issue:
    """Like ``read_issue`` for text already in memory (the preview server re-reads on change)."""
    where = str(path)
    _check_size(len(source), where)  # characters: never more than the file's bytes
    zone = zone or ZoneInfo("America/New_York")
    yaml_text, body, body_line = split_front_matter(source, where)
    problems: list[ContentError] = []
    matter = None
    lines: dict[str, int] = {}
    try:
        matter, lines = parse_front_matter(yaml_text, where, zone)
    except ContentErrors as err:
        problems.extend(err.errors)
    except ContentError as err:
        problems.append(err)
    try:
        tokenised, placeholders = extract(body, where, body_line)
        by_token = {p.token: p.expression for p in placeholders}
        parsed = parse_body(tokenised, where, body_line, by_token)
    except ContentError as err:
        problems.append(err)
    if matter is not None:
        for name in ("subject", "title"):
            try:
                expressions_in(getattr(matter, name), where, lines.get(name, 2))
            except ContentError as err:
                problems.append(err)
    if problems:
        raise problems[0] if len(problems) == 1 else ContentErrors(problems)
    assert matter is not None
    issue_date = matter.date or _date_from_name(path)
    if issue_date is None:
        raise ContentError("add 'date: YYYY-MM-DD' (or name the file YYYY-MM-slug.md)", where, 2)
    sender_name, sender_address = _split_from(matter.from_, where, lines.get("from"))
    return Issue(
        slug=path.stem,
        subject=matter.subject,
        date=issue_date,
        blocks=tuple(parsed.blocks),
        path=path,
        preheader=matter.preheader,
        title=matter.title,
        layout=matter.template,
        audience=Audience(tuple(matter.audience.topics), tuple(matter.audience.segments)),
        send_at=matter.send_at,
        from_name=sender_name,
        from_address=sender_address,
        reply_to=matter.reply_to,
        language=matter.language,
        utm_campaign=matter.utm_campaign,
        status=matter.status,
        placeholders=placeholders,
        links=tuple(parsed.links),
        pictures=tuple(parsed.pictures),
        headings=tuple(parsed.headings),
        source=source,
        body_line=body_line,
        field_lines=lines,
    )


def _check_size(size: int, path: str) -> None:
    if size > MAX_ISSUE_BYTES:
        raise ContentError(
            f"this issue is {size / 1000:,.0f} KB; the limit is {MAX_ISSUE_BYTES // 1000:,} KB "
            "(Gmail clips mail past about 40 KB of Markdown). Is it the right file? "
            "Split a long issue into two",
            path,
            1,
        )


def _date_from_name(path: Path) -> date | None:
    match = _DATED.match(path.name)
    if not match:
        return None
    year, month, day = match.groups()
    try:
        return date(int(year), int(month), int(day or 1))
    except ValueError:
        return None


def _split_from(value: str, path: str, line: int | None) -> tuple[str, str]:
    """``from: "Name <addr>"`` or just an address; either half may be overridden alone."""
    if not value:
        return "", ""
    match = re.fullmatch(r"\s*(.*?)\s*<([^<>\s]+@[^<>\s]+)>\s*", value)
    if match:
        return match.group(1).strip('"'), match.group(2)
    if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value.strip()):
        return "", value.strip()
    if "@" not in value:
        return value.strip(), ""
    raise ContentError(f"'from' must look like 'Name <address@domain>', not {value!r}", path, line)
