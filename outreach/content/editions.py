"""An issue's language editions: ``2027-01-slug.md`` and its siblings ``2027-01-slug.es.md``, ...

The file without a language suffix is the default edition: its front matter decides the audience, the
send time, the status and the sender for every edition, and its ``language`` is the campaign's. A
sibling is the same issue in another language, with its own subject, preheader and body; one campaign
sends each reader the edition in their language (``outreach.delivery.editions``) and the default
where there is none. Naming a sibling (``outreach send 2027-01-slug.es.md``) means the whole issue.

Every edition shares the default's slug: a reader who got the issue in one language never gets it
again in another.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from outreach.content.issue import read_issue
from outreach.errors import ContentError, ContentErrors
from outreach.models import Issue

# ``slug.es.md``, ``slug.pt-BR.md``: the language tag between the stem and ``.md``.
_SIBLING = re.compile(r"^(?P<stem>[^.]+)\.(?P<language>[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*)\.md$")


@dataclass(frozen=True)
class EditionFiles:
    """Where an issue's editions live: the default file and each sibling's language and path."""

    default: Path
    siblings: tuple[tuple[str, Path], ...] = ()

    @property
    def paths(self) -> list[Path]:
        return [self.default, *(path for _, path in self.siblings)]


@dataclass(frozen=True)
class Editions:
    """An issue in every language it was written in: the default edition first."""

    default: Issue
    others: tuple[Issue, ...] = ()

    @property
    def all(self) -> tuple[Issue, ...]:
        return (self.default, *self.others)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(issue.language for issue in self.all)


def language_of_file(path: Path) -> str | None:
    """The language a sibling's file name gives (``es`` for ``slug.es.md``); None for a default file."""
    match = _SIBLING.match(path.name)
    return normal_language(match.group("language")) if match else None


def normal_language(tag: str) -> str:
    """A tag as front matter stores it: ``es``, ``pt-BR`` (so ``es_us`` and ``ES-us`` are ``es-US``)."""
    parts = tag.replace("_", "-").split("-")
    return "-".join([parts[0].lower(), *(p.upper() if len(p) == 2 else p for p in parts[1:])])


def edition_files(path: Path) -> EditionFiles:
    """The default file of the issue ``path`` belongs to (``path`` itself or its default) and every
    sibling beside it, in language order. The default must exist: a sibling alone names no issue."""
    match = _SIBLING.match(path.name)
    default = path.with_name(f"{match.group('stem')}.md") if match else path
    if match and not default.exists():
        raise ContentError(
            f"{path.name} is the {normal_language(match.group('language'))} edition of {default.name}, "
            f"which does not exist: write the default edition first (`outreach new` makes one)",
            str(path),
        )
    stem = default.name.removesuffix(".md")
    siblings: dict[str, Path] = {}
    if "." not in stem and default.parent.is_dir():
        for candidate in sorted(default.parent.glob(f"{stem}.*.md")):
            found = _SIBLING.match(candidate.name)
            if found and found.group("stem") == stem:
                siblings.setdefault(normal_language(found.group("language")), candidate)
    return EditionFiles(default, tuple(sorted(siblings.items())))


def read_editions(path: Path, zone: ZoneInfo | None = None) -> Editions:
    """Read every edition of the issue ``path`` belongs to. Each sibling takes the default's slug and
    its file name's language; a ``language:`` that says otherwise, or an edition in the default's own
    language, is an error naming the line. Problems in several files are all reported."""
    files = edition_files(path)
    problems: list[ContentError] = []
    default: Issue | None = None
    others: list[Issue] = []
    for language, where in [("", files.default), *files.siblings]:
        try:
            issue = read_issue(where, zone)
        except ContentErrors as err:
            problems.extend(err.errors)
            continue
        except ContentError as err:
            problems.append(err)
            continue
        if not language:
            default = issue
            continue
        try:
            others.append(_as_sibling(issue, language, where))
        except ContentError as err:
            problems.append(err)
    if default is not None:
        for other in others:
            if other.language == default.language:
                problems.append(
                    ContentError(
                        f"this edition is in {other.language}, the language of {files.default.name} "
                        f"itself; rename the file or set 'language:' in {files.default.name}",
                        str(other.path),
                        other.line_of("language") or 1,
                    )
                )
    if problems:
        raise problems[0] if len(problems) == 1 else ContentErrors(problems)
    assert default is not None
    others = [dataclasses.replace(other, slug=default.slug) for other in others]
    return Editions(default, tuple(others))


def _as_sibling(issue: Issue, language: str, path: Path) -> Issue:
    if "language" not in issue.field_lines:  # the file name says it
        return dataclasses.replace(issue, language=language)
    if issue.language != language:
        raise ContentError(
            f"the file name says this edition is in {language!r} but 'language:' says {issue.language!r}; "
            f"make them agree",
            str(path),
            issue.line_of("language") or 1,
        )
    return issue
