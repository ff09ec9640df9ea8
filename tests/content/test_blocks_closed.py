"""``:::`` blocks: an unclosed or mis-nested block is an error at its opening line, never a block that
silently swallows what follows it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from outreach.checks import run_checks
from outreach.config import Config
from outreach.content import read_issue
from outreach.errors import ContentError
from outreach.models import Button, Callout, Columns, Prose
from outreach.render import render_issue
from outreach.render.sample import SAMPLE_RECIPIENT
from outreach.tokens import recipient_links

WriteIssue = Callable[..., Path]

CALLOUT_THEN_BUTTON = """Hello.

::: callout Did you know?
Something readers should not miss.

::: button https://vaimh.example/membership
Become a member
:::

Thank you.
"""


def _line(path: Path, needle: str, nth: int = 1) -> int:
    hits = [n for n, text in enumerate(path.read_text().splitlines(), 1) if needle in text]
    return hits[nth - 1]


def test_a_callout_left_open_before_a_button_is_an_error_at_the_callout(
    write_issue: WriteIssue, config: Config
) -> None:
    path = write_issue(CALLOUT_THEN_BUTTON)
    with pytest.raises(ContentError) as caught:
        read_issue(path)
    assert caught.value.line == _line(path, "::: callout")
    assert "'::: callout' block is never closed" in caught.value.message
    assert f"before line {_line(path, '::: button')}" in caught.value.message
    [finding] = run_checks(path, config, spam=False).errors
    assert (finding.code, finding.line) == ("content", _line(path, "::: callout"))

    # Closed, the button and its link are in both parts of the mail.
    path = write_issue(CALLOUT_THEN_BUTTON.replace("miss.\n", "miss.\n:::\n"))
    issue = read_issue(path)
    assert [type(b) for b in issue.blocks] == [Prose, Callout, Button, Prose]
    links = recipient_links(config.base_url, config.secret_key, "1", issue.slug)
    mail = render_issue(issue, config).personalise(SAMPLE_RECIPIENT, links)
    assert 'href="https://vaimh.example/membership"' in mail.html
    assert "https://vaimh.example/membership" in mail.text


BODY_LINE = 6  # write_issue's front matter takes lines 1-5


@pytest.mark.parametrize(
    ("body", "opening", "message"),
    [
        (
            "::: event\ntitle: A\nwhen: soon\n\n::: image\nsrc: https://vaimh.example/a.jpg\nalt: a\n:::\n",
            0,
            "'::: event' block is never closed: add a ':::' line before line 10",
        ),
        (":::: columns\n::: column\nLeft\n::: column\nRight\n:::\n::::\n", 1, "'::: column' block is never"),
        # '::::' closes the columns, so the second column was left open
        (":::: columns\n::: column\nLeft\n:::\n::: column\nRight\n::::\n", 4, "'::: column' block is never"),
        (":::: columns\n::: column\nLeft\n:::\n", 0, "':::: columns' block is never closed"),
        ("Hi\n\n:::\n", 2, "closes no block"),
        ("Hi\n\n::: calout Note\nText\n:::\n", 2, "did you mean 'callout'?"),
        ("- item\n\n  ::: callout\n  text\n  :::\n", 2, "cannot be inside a list or a quote"),
        ("> ::: callout\n> text\n> :::\n", 0, "cannot be inside a list or a quote"),
    ],
)
def test_unclosed_and_misnested_blocks_are_errors_at_the_opening_line(
    write_issue: WriteIssue, body: str, opening: int, message: str
) -> None:
    path = write_issue(body)
    with pytest.raises(ContentError) as caught:
        read_issue(path)
    assert caught.value.line == BODY_LINE + opening, caught.value
    assert message in caught.value.message


def test_blocks_nest_inside_columns_without_counting_colons(write_issue: WriteIssue) -> None:
    body = (
        ":::: columns\n::: column\n### Left\n\n::: button https://vaimh.example/a\nJoin\n:::\n:::\n"
        "::: column\n::: callout Note\nRight side.\n:::\n:::\n::::\n\nAfter.\n\n"
        "```\n::: callout\n```\n"  # colons in code are not a block
    )
    issue = read_issue(write_issue(body))
    columns, after = issue.blocks
    assert isinstance(columns, Columns) and isinstance(after, Prose)
    assert [type(b) for b in columns.left] == [Prose, Button]
    assert [type(b) for b in columns.right] == [Callout]
    assert "After." in after.text and "::: callout" in after.text
