"""The ``name: value`` lines at the top of an event or image block, each kept with its file line.

::: event
title: Winter Gathering
starts: 2027-02-06 09:30

A blank line ends the details; the rest of the block is Markdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from outreach.errors import ContentError

STARTS_FORM = "YYYY-MM-DD HH:MM, like 2027-01-14 09:00"


@dataclass
class Details:
    """A block's details, the line of each, and the Markdown after them."""

    values: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    rest: str = ""
    rest_line: int = 0

    def line(self, name: str, default: int) -> int:
        return self.lines.get(name, default)


def read_details(
    inner: Sequence[str], first_line: int, allowed: Sequence[str], path: str, opening_line: int
) -> Details:
    """Read the ``key: value`` lines of ``inner`` (the block's lines; the first is ``first_line``)."""
    head: list[str] = []
    for raw in inner:
        if not raw.strip():
            break
        head.append(raw)
    details = Details(
        rest="\n".join(inner[len(head) :]).strip("\n"),
        rest_line=first_line + len(head) + 1,
    )
    for offset, raw in enumerate(head):
        name, colon, value = raw.partition(":")
        at = first_line + offset
        if not colon or not name.strip().replace("_", "").isalpha():
            raise ContentError(
                f"write each detail as 'name: value' on its own line, not {raw.strip()!r}", path, at
            )
        key = name.strip().lower()
        if key not in allowed:
            raise ContentError(f"unknown detail '{key}'; valid: {', '.join(allowed)}", path, at)
        details.values[key] = detail_value(value.strip())
        details.lines[key] = at
    return details


def detail_value(text: str) -> Any:
    """A detail's value: quotes removed, yes/no and whole numbers understood, the rest as written."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    if text.lower() in ("true", "yes"):
        return True
    if text.lower() in ("false", "no"):
        return False
    return int(text) if text.isdigit() else text


def when_from_starts(starts: datetime) -> str:
    """What an event given only ``starts:`` says for ``when:`` (in English; a layout in another
    language writes the start in its own words, see outreach.render.compiled)."""
    return f"{starts:%A, %B} {starts.day}, {starts:%Y}, {starts:%-I:%M %p}"


def starts_at(value: Any, path: str, line: int) -> datetime | None:
    """An event's ``starts:`` as a date and time, or a ContentError naming the line and the form."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise ContentError(
        f"'starts: {value}' is not a real date and time; write it as {STARTS_FORM}", path, line
    )


def ends_at(value: Any, starts: datetime | None, path: str, line: int) -> datetime | None:
    """An event's ``ends:``: a time on the day it starts (``13:00``) or a date and time; after ``starts``."""
    if value is None or value == "":
        return None
    if starts is None:
        raise ContentError("'ends:' needs 'starts:' as well (YYYY-MM-DD HH:MM)", path, line)
    text = str(value).strip()
    ends: datetime | None = None
    try:
        ends = datetime.fromisoformat(text)
    except ValueError:
        try:
            clock = time.fromisoformat(text if len(text) > 4 else "0" + text)
            ends = datetime.combine(starts.date(), clock)
        except ValueError:
            ends = None
    if ends is None:
        raise ContentError(
            f"'ends: {value}' is not a time; write 13:00 (the same day) or {STARTS_FORM}", path, line
        )
    if ends <= starts:
        raise ContentError(
            f"'ends: {value}' is not after 'starts: {starts:%Y-%m-%d %H:%M}'; an event ending the next "
            "day gives the date too, like 2027-01-15 01:00",
            path,
            line,
        )
    return ends
