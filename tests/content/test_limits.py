"""Unbounded input fails fast with a ``path:line`` message: YAML aliases and nesting in the front
matter, a file far larger than any issue, Markdown nested thousands deep. Each test only asserts the
error; none is timed (before these limits, the same inputs ran for minutes or crashed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from outreach.checks import run_checks
from outreach.config import Config
from outreach.content import read_issue, read_issue_text
from outreach.content.issue import MAX_ISSUE_BYTES
from outreach.errors import ContentError

WriteIssue = Callable[..., Path]

LAUGHS = "".join(
    f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)


def _error(path: Path) -> ContentError:
    with pytest.raises(ContentError) as caught:
        read_issue(path)
    return caught.value


def test_billion_laughs_in_the_subject_is_refused_at_the_alias(write_issue: WriteIssue) -> None:
    front = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + LAUGHS
    path = write_issue(raw_front=front + "subject: *i\ndate: 2026-12-01")
    error = _error(path)
    assert error.line == 3  # the first '*a', on the line of b
    assert "alias" in error.message


def test_an_alias_in_the_audience_is_refused(write_issue: WriteIssue) -> None:
    path = write_issue(raw_front="subject: Hi\ndate: 2026-12-01\nx: &t [a]\naudience:\n  topics: *t")
    error = _error(path)
    assert error.line == 6 and "alias" in error.message


@pytest.mark.parametrize("value", ["[" * 3000 + "]" * 3000, "{a: " * 3000 + "1" + "}" * 3000])
def test_deep_yaml_in_the_front_matter_is_an_error_not_a_recursion_error(
    write_issue: WriteIssue, value: str
) -> None:
    path = write_issue(raw_front=f"subject: Hi\ndate: 2026-12-01\naudience:\n  topics: {value}")
    error = _error(path)
    assert error.line == 5 and "nests more than" in error.message


def test_a_ten_megabyte_issue_is_refused_before_it_is_read(write_issue: WriteIssue, config: Config) -> None:
    long_but_real = write_issue("A paragraph of an ordinary length, about the size staff write.\n\n" * 600)
    assert read_issue(long_but_real).blocks
    path = write_issue("Some words in a paragraph with a [link](https://vaimh.example/x).\n\n" * 150_000)
    assert path.stat().st_size > 10 * MAX_ISSUE_BYTES
    error = _error(path)
    assert error.line == 1 and "the limit is 1,000 KB" in error.message
    [finding] = run_checks(path, config, spam=False).errors
    assert (finding.code, finding.line) == ("content", 1)


def test_the_limit_holds_for_text_already_in_memory(tmp_path: Path) -> None:
    source = "---\nsubject: Hi\ndate: 2026-12-01\n---\n" + "x" * MAX_ISSUE_BYTES
    with pytest.raises(ContentError, match="the limit is 1,000 KB"):
        read_issue_text(source, tmp_path / "2026-12-big.md")


@pytest.mark.parametrize(
    "body",
    [
        "> " * 3000 + "deep\n",
        "- " * 3000 + "deep\n",
        "1. " * 3000 + "deep\n",
        "> 1. " * 1500 + "deep\n",
        "".join(">" * n + " line\n" for n in range(1, 300)),
        "::: callout\n" + "> " * 3000 + "deep\n:::\n",
    ],
)
def test_markdown_nested_thousands_deep_is_an_error_at_its_line(write_issue: WriteIssue, body: str) -> None:
    shallow = read_issue(write_issue("Hello.\n\n" + "> " * 4 + "- " * 4 + "deep enough\n"))
    assert "deep enough" in shallow.blocks[0].text  # type: ignore[union-attr]
    path = write_issue("Hello.\n\n" + body)
    error = _error(path)
    assert error.line is not None and error.line >= 8
    assert "nested more than 8 levels deep" in error.message
