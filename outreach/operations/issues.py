"""The issues staff have written: every file in newsletters/, with what ``outreach check`` says of it.

The admin app lists each one's subject, date, status, send_at and its count of errors and warnings.
Checking renders the issue, so a result is kept until one of the files it was made from changes (the
issue, the layouts, the lists, outreach.toml); the spam score (seconds per issue) is left to the
issue's own page. Automations (``newsletters/automations/``) are not issues and are not listed.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from outreach.checks import CheckReport, run_checks
from outreach.config import CONFIG_FILE, Config
from outreach.content.frontmatter import FrontMatter, parse_front_matter, split_front_matter
from outreach.errors import ContentError
from outreach.operations.sample import Fingerprint, files_under, fingerprint

_DATED = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?-")


class IssueNotFound(ContentError):
    """No issue file in newsletters/ has that name."""


@dataclass(frozen=True)
class IssueSummary:
    """One issue as the list shows it; ``status`` is empty when the front matter cannot be read."""

    path: Path
    slug: str
    subject: str
    date: date | None
    status: str
    send_at: datetime | None
    errors: int
    warnings: int


def issue_files(config: Config) -> list[Path]:
    """The issue files directly in newsletters/ (editions like ``slug.es.md`` included)."""
    folder = config.path("newsletters")
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.glob("*.md") if path.is_file())


def find_issue(config: Config, slug: str) -> Path:
    """The issue file named ``slug`` (its name without .md); never a path outside newsletters/."""
    for path in issue_files(config):
        if path.stem == slug:
            return path
    raise IssueNotFound(
        f"there is no issue {slug!r} in {config.settings.paths.newsletters}/; "
        'the Issues page lists them, and `outreach new "Title"` starts one'
    )


def summarise(path: Path, config: Config) -> IssueSummary:
    """Check ``path`` (without the spam score) and gather what the list shows of it."""
    report = run_checks(path, config, spam=False)
    return summary_of(report, config)


def summary_of(report: CheckReport, config: Config) -> IssueSummary:
    path = report.path
    counts = {"errors": len(report.errors), "warnings": len(report.warnings)}
    if report.compiled is not None:
        # An edition's file (slug.es.md) is summarised as that edition, though checked with its issue.
        issue = next((c.issue for c in report.all_editions if c.issue.path == path), report.compiled.issue)
        return IssueSummary(
            path, path.stem, issue.subject, issue.date, str(issue.status), issue.send_at, **counts
        )
    matter = read_front_matter(path, config)
    if matter is None:
        return IssueSummary(path, path.stem, "", _date_from_name(path), "", None, **counts)
    return IssueSummary(
        path,
        path.stem,
        matter.subject,
        matter.date or _date_from_name(path),
        str(matter.status),
        matter.send_at,
        **counts,
    )


def read_front_matter(path: Path, config: Config) -> FrontMatter | None:
    """The front matter alone (quick, and readable even when the body or a layout has mistakes)."""
    try:
        yaml_text, _body, _line = split_front_matter(path.read_text(encoding="utf-8"), str(path))
        return parse_front_matter(yaml_text, str(path), config.time_zone)[0]
    except (OSError, UnicodeDecodeError, ContentError):
        return None


def _date_from_name(path: Path) -> date | None:
    match = _DATED.match(path.name)
    if not match:
        return None
    year, month, day = match.groups()
    try:
        return date(int(year), int(month), int(day or 1))
    except ValueError:
        return None


def newest_first(summaries: list[IssueSummary]) -> list[IssueSummary]:
    return sorted(summaries, key=lambda s: (s.date or date.min, s.path.name), reverse=True)


class IssueShelf:
    """Every issue's summary, each checked again only when a file it depends on has changed."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._kept: dict[Path, tuple[Fingerprint, IssueSummary]] = {}

    def _shared(self) -> Fingerprint:
        config = self._config
        return fingerprint(
            [
                config.root / CONFIG_FILE,
                *files_under(config.path("templates")),
                *files_under(config.path("lists")),
            ]
        )

    def summaries(self) -> list[IssueSummary]:
        """Every issue, newest first (by date, then file name)."""
        with self._lock:
            shared = self._shared()
            found: dict[Path, tuple[Fingerprint, IssueSummary]] = {}
            for path in issue_files(self._config):
                key = fingerprint([path]) + shared
                kept = self._kept.get(path)
                found[path] = kept if kept and kept[0] == key else (key, summarise(path, self._config))
            self._kept = found
        return newest_first([summary for _key, summary in found.values()])
