"""Drift between an issue's language editions: what one edition offers readers and another does not.

Editions are translated by hand, weeks apart, often by different people: a date fixed in English and
not in Spanish, a registration button left out, a link updated in one file only. Readers of the
other edition then go to the wrong day or cannot register. Every edition is compared with the default
one (``slug.md``) and each difference is a warning that names both files and the lines:

- an event in one edition and not the other (events are paired by their link, then in order);
- a paired event with a different date or time (``starts:``);
- a button, or any other link, in one edition and not the other.

Wording is never compared: the editions are in different languages.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from outreach.content.editions import Editions
from outreach.content.placeholders import TOKEN
from outreach.models import Block, Button, Columns, Event, Finding, Issue, Severity

CODE = "edition-drift"


def check_drift(editions: Editions) -> list[Finding]:
    """Warnings for every difference between each edition and the default one."""
    found: list[Finding] = []
    for other in editions.others:
        found += _events(editions.default, other)
        found += _buttons(editions.default, other)
        found += _links(editions.default, other)
    return found


def _walk(blocks: tuple[Block, ...]) -> Iterator[Block]:
    for block in blocks:
        if isinstance(block, Columns):
            yield from _walk(block.left)
            yield from _walk(block.right)
        else:
            yield block


def _name(issue: Issue) -> str:
    return Path(issue.path).name if issue.path else issue.slug


def _at(issue: Issue, line: int) -> str:
    return f"{_name(issue)}:{line}"


def _warning(issue: Issue, line: int, message: str) -> Finding:
    return Finding(CODE, Severity.WARNING, message, str(issue.path or ""), line)


def _events(default: Issue, other: Issue) -> list[Finding]:
    mine = [b for b in _walk(default.blocks) if isinstance(b, Event)]
    theirs = [b for b in _walk(other.blocks) if isinstance(b, Event)]
    pairs: list[tuple[Event, Event]] = []
    # Paired by link first (titles are translated, links are not), then the rest in order.
    for event in list(mine):
        match = next((e for e in theirs if event.url and e.url == event.url), None)
        if match is not None:
            pairs.append((event, match))
            mine.remove(event)
            theirs.remove(match)
    while mine and theirs and not (mine[0].url and theirs[0].url):
        pairs.append((mine.pop(0), theirs.pop(0)))
    found: list[Finding] = []
    for event in mine:
        found.append(
            _warning(
                other,
                other.body_line,
                f"the event '{event.title}' ({_at(default, event.line)}) is not in the "
                f"{other.language} edition {_name(other)}: add it, or take it out of both",
            )
        )
    for event in theirs:
        found.append(
            _warning(
                other,
                event.line,
                f"the event '{event.title}' ({_at(other, event.line)}) is not in the "
                f"{default.language} edition {_name(default)}: add it there, or take it out of both",
            )
        )
    for ours, translated in pairs:
        if ours.starts and translated.starts and ours.starts != translated.starts:
            found.append(
                _warning(
                    other,
                    translated.line,
                    f"the event '{translated.title}' starts {translated.starts:%Y-%m-%d %H:%M} in "
                    f"{_at(other, translated.line)} but {ours.starts:%Y-%m-%d %H:%M} in "
                    f"{_at(default, ours.line)}: the editions must give the same date and time",
                )
            )
        elif bool(ours.starts) != bool(translated.starts):
            which, line = (other, translated.line) if ours.starts else (default, ours.line)
            found.append(
                _warning(
                    other,
                    translated.line,
                    f"the event at {_at(default, ours.line)} and {_at(other, translated.line)} has "
                    f"'starts:' in one edition only: add it to {_at(which, line)} so both give the same time",
                )
            )
    return found


def _buttons(default: Issue, other: Issue) -> list[Finding]:
    mine = {b.url: b.line for b in _walk(default.blocks) if isinstance(b, Button)}
    theirs = {b.url: b.line for b in _walk(other.blocks) if isinstance(b, Button)}
    return _missing("button", default, other, mine, theirs)


def _links(default: Issue, other: Issue) -> list[Finding]:
    """Links that are not a button's or an event's (those are reported above)."""
    reported = {
        b.url for issue in (default, other) for b in _walk(issue.blocks) if isinstance(b, Button | Event)
    }
    mine = _link_lines(default, reported)
    theirs = _link_lines(other, reported)
    return _missing("link", default, other, mine, theirs)


def _link_lines(issue: Issue, leave_out: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for link in issue.links:
        url = link.url.strip()
        if url and url not in leave_out and not TOKEN.fullmatch(url):
            found.setdefault(url, link.line)
    return found


def _missing(
    kind: str, default: Issue, other: Issue, mine: dict[str, int], theirs: dict[str, int]
) -> list[Finding]:
    found: list[Finding] = []
    for url, line in mine.items():
        if url not in theirs:
            found.append(
                _warning(
                    other,
                    other.body_line,
                    f"the {kind} to {url} ({_at(default, line)}) is not in the {other.language} "
                    f"edition {_name(other)}: add it, or take it out of both",
                )
            )
    for url, line in theirs.items():
        if url not in mine:
            found.append(
                _warning(
                    other,
                    line,
                    f"the {kind} to {url} ({_at(other, line)}) is not in the {default.language} "
                    f"edition {_name(default)}: add it there, or take it out of both",
                )
            )
    return found
