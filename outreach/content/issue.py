"""Read one issue file into an ``Issue``: front matter validated, body parsed, placeholders held."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from outreach.content.frontmatter import parse_front_matter, split_front_matter
from outreach.content.markdown import parse_body
from outreach.content.placeholders import EXPRESSION, check_expression, extract
from outreach.errors import ContentError, ContentErrors
from outreach.models import Audience, Issue

_DATED = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?-")


def read_issue(path: Path, zone: ZoneInfo | None = None) -> Issue:
    """Read and validate ``path``; raises ContentError(s) that name ``path:line``."""
    try:
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
        parsed = parse_body(tokenised, where, body_line)
    except ContentError as err:
        problems.append(err)
    if matter is not None:
        for expression in EXPRESSION.findall(matter.subject):
            try:
                check_expression(expression.strip(), where, lines.get("subject", 2))
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
