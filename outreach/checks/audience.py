"""The issue's audience names real topics and segments (a typo would otherwise surface at send time)."""

from __future__ import annotations

from difflib import get_close_matches
from pathlib import Path

from outreach.audience.choices import ProfileChoices
from outreach.audience.segments import ALL, SEGMENTS_FILE, load_segments
from outreach.audience.topics import TOPICS_FILE, load_topics
from outreach.content.walk import every_block
from outreach.errors import OutreachError
from outreach.models import Finding, Issue, Section, Severity


def check_audience(issue: Issue, lists: Path, choices: ProfileChoices | None = None) -> list[Finding]:
    """Every topic and segment in ``audience:`` exists in lists/; the message names the valid ones.

    With ``choices`` (the site's roles and languages) the segments are checked as sending checks them,
    so a segment that names a role the site does not have fails here, not at send time."""
    where, line = str(issue.path or ""), issue.line_of("audience") or 2
    if issue.audience.is_empty:
        return []
    try:
        topics = tuple(t.key for t in load_topics(lists / TOPICS_FILE))
        segments = (ALL, *load_segments(lists / SEGMENTS_FILE, topics, f"lists/{SEGMENTS_FILE}", choices))
    except OutreachError as err:
        return [Finding("audience", Severity.ERROR, f"the audience cannot be checked: {err}", where, line)]
    found: list[Finding] = []
    for kind, names, known in (
        ("topic", issue.audience.topics, topics),
        ("segment", issue.audience.segments, segments),
    ):
        for name in names:
            if name not in known:
                guess = get_close_matches(name, known, n=1)
                hint = f" (did you mean '{guess[0]}'?)" if guess else ""
                found.append(
                    Finding(
                        "audience",
                        Severity.ERROR,
                        f"unknown {kind} '{name}'{hint}; known: {', '.join(sorted(known))}",
                        where,
                        line,
                    )
                )
    return found


def check_sections(issue: Issue, lists: Path, choices: ProfileChoices) -> list[Finding]:
    """Every value in a ``::: only`` / ``::: unless`` is a key of the site's lists: a misspelt role would
    otherwise hide the section from everyone, silently. The message names the valid keys."""
    sections = [b for b in every_block(issue.blocks) if isinstance(b, Section)]
    if not sections:
        return []
    where = str(issue.path or "")
    try:
        topics = tuple(t.key for t in load_topics(lists / TOPICS_FILE))
    except OutreachError as err:
        return [Finding("sections", Severity.ERROR, f"the sections cannot be checked: {err}", where)]
    listed = {
        "role": (choices.roles.keys, choices.roles),
        "language": (choices.languages.keys, choices.languages),
        "topic": (topics, None),
    }
    found: list[Finding] = []
    for section in sections:
        kind = "unless" if section.condition.negated else "only"
        for term in section.condition.terms:
            if term.field not in listed:
                continue  # region: free text, any value can match
            keys, choice_list = listed[term.field]
            for value in term.values:
                if value in keys:
                    continue
                meant = choice_list.resolve(value) if choice_list is not None else None
                guess = meant or next(iter(get_close_matches(value, keys, n=1)), None)
                hint = f" (did you mean '{guess}'?)" if guess else ""
                found.append(
                    Finding(
                        "sections",
                        Severity.ERROR,
                        f"'::: {kind}': unknown {term.field} '{value}'{hint}; "
                        f"valid: {', '.join(sorted(keys))}",
                        where,
                        section.line,
                    )
                )
    return found
