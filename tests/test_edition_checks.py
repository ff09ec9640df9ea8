"""`outreach check` on an issue written in several languages: each edition is checked in its own file,
and editions that drift apart (an event, a button or a link in one only, a different event time) are
warnings that name both files and the lines."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from outreach.checks import run_checks
from outreach.config import Config
from outreach.content.editions import edition_files, read_editions
from outreach.errors import ContentError
from outreach.models import Severity
from tests.conftest import EXAMPLE_ISSUE

WriteIssue = Callable[..., Path]

ENGLISH = """Hello.

::: event
title: Winter gathering
when: Saturday, February 6, 2027, 9:30 a.m.
starts: 2027-02-06 09:30
where: Richmond
link: https://vaimh.example/events/winter
:::

::: button https://vaimh.example/membership
Become a member
:::

Read [our guide](https://vaimh.example/guide).
"""

SPANISH = ENGLISH.replace("Hello.", "Hola.").replace("Become a member", "Hacerme miembro")


def line_of(path: Path, needle: str) -> int:
    return next(
        n for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in text
    )


def drift(path: Path, config: Config) -> list[tuple[str, int | None, str]]:
    report = run_checks(path, config, spam=False)
    assert not report.errors, [f.message for f in report.errors]
    return [(f.path, f.line, f.message) for f in report.findings if f.code == "edition-drift"]


def test_editions_that_agree_have_no_drift_and_both_are_rendered(
    write_issue: WriteIssue, config: Config
) -> None:
    english = write_issue(ENGLISH)
    write_issue(SPANISH, name="2026-12-test.es.md", language="es")
    report = run_checks(english, config, spam=False)
    assert report.findings == [], [f.message for f in report.findings]
    assert [c.issue.language for c in report.all_editions] == ["en", "es"]
    assert 'lang="es"' in report.all_editions[1].html_source


def test_a_different_event_time_names_both_files_and_lines(write_issue: WriteIssue, config: Config) -> None:
    english = write_issue(ENGLISH)
    spanish = write_issue(
        SPANISH.replace("starts: 2027-02-06 09:30", "starts: 2027-02-07 09:30"), name="2026-12-test.es.md"
    )
    [(path, line, message)] = drift(english, config)
    assert (path, line) == (str(spanish), line_of(spanish, "::: event"))
    assert "2027-02-07 09:30" in message and "2027-02-06 09:30" in message
    assert f"2026-12-test.es.md:{line_of(spanish, '::: event')}" in message
    assert f"2026-12-test.md:{line_of(english, '::: event')}" in message


def test_a_missing_event_button_or_link_is_a_warning_naming_where_it_is(
    write_issue: WriteIssue, config: Config
) -> None:
    english = write_issue(ENGLISH)
    without = SPANISH.split("::: event")[0] + "Hola de nuevo.\n"  # no event, no button, no link
    spanish = write_issue(without, name="2026-12-test.es.md")
    found = drift(english, config)
    messages = " | ".join(message for _, _, message in found)
    assert len(found) == 3, messages
    assert all(path == str(spanish) for path, _, _ in found)
    assert f"the event 'Winter gathering' (2026-12-test.md:{line_of(english, '::: event')})" in messages
    assert (
        f"the button to https://vaimh.example/membership (2026-12-test.md:{line_of(english, '::: button')})"
        in messages
    )
    assert (
        f"the link to https://vaimh.example/guide (2026-12-test.md:{line_of(english, 'our guide')})"
        in messages
    )
    assert all(f.severity is Severity.WARNING for f in run_checks(english, config, spam=False).findings)


def test_a_link_only_in_the_translation_points_at_its_line(write_issue: WriteIssue, config: Config) -> None:
    english = write_issue(ENGLISH)
    spanish = write_issue(
        SPANISH + "\nMás en [nuestra página](https://vaimh.example/es).\n", name="2026-12-test.es.md"
    )
    [(path, line, message)] = drift(english, config)
    assert (path, line) == (str(spanish), line_of(spanish, "nuestra página"))
    assert "https://vaimh.example/es" in message and "not in the en edition 2026-12-test.md" in message


def test_each_edition_is_checked_in_its_own_file(write_issue: WriteIssue, config: Config) -> None:
    english = write_issue(ENGLISH)
    spanish = write_issue(
        SPANISH.replace("Hola.", "Hola. TODO traducir el resto."), name="2026-12-test.es.md"
    )
    report = run_checks(spanish, config, spam=False)  # naming either file checks the whole issue
    markers = [f for f in report.findings if f.path == str(spanish)]
    assert markers and all(f.line == line_of(spanish, "TODO") for f in markers)
    assert report.compiled is not None and report.compiled.issue.path == english


def test_a_translation_that_says_another_language_than_its_name_is_an_error(
    write_issue: WriteIssue, config: Config
) -> None:
    english = write_issue(ENGLISH)
    spanish = write_issue(SPANISH, name="2026-12-test.es.md", language="pt")
    with pytest.raises(ContentError, match="file name says this edition is in 'es'") as caught:
        read_editions(english)
    assert (caught.value.path, caught.value.line) == (str(spanish), line_of(spanish, "language:"))
    assert run_checks(english, config, spam=False).errors


def test_a_translation_without_its_issue_is_an_error(write_issue: WriteIssue, config: Config) -> None:
    spanish = write_issue(SPANISH, name="2026-12-test.es.md")
    with pytest.raises(ContentError, match=r"2026-12-test\.md, which does not exist"):
        edition_files(spanish)


def test_the_example_issue_and_its_spanish_edition_agree(project: Path, config: Config) -> None:
    for path in (EXAMPLE_ISSUE, EXAMPLE_ISSUE.with_name(EXAMPLE_ISSUE.stem + ".es.md")):
        shutil.copy(path, project / "newsletters" / path.name)
    report = run_checks(project / "newsletters" / EXAMPLE_ISSUE.name, config, spam=False)
    assert report.errors == [], [f.message for f in report.errors]
    assert [f.message for f in report.findings if f.code == "edition-drift"] == []
    spanish = report.all_editions[1]
    assert spanish.issue.language == "es" and spanish.issue.subject.startswith("Sostener las fiestas")
