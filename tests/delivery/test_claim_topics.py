"""A claim reads its readers' topics only for a campaign whose templates may look at them.

Topics cost a query a chunk; the example issue's conditional section is by role, so its claims skip
it, while an issue with a ``::: only topic=`` section (or one that shows ``subscriber.topics``) gets
them, in every language edition. That the topic sections then reach the right readers through the
real runner is the property test in test_section_property.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from outreach.config import load_config
from outreach.content import read_issue
from outreach.delivery.edition_choice import EditionContent
from outreach.delivery.outgoing import CampaignContent
from outreach.render import render_issue
from tests.conftest import EXAMPLE_ISSUE, REPO, TEST_SECRET


def _content(issue: Path, edition_text: str = "") -> CampaignContent:
    config = load_config(REPO, environ={"OUTREACH_SECRET_KEY": TEST_SECRET})
    templates = render_issue(read_issue(issue), config).templates
    editions = (EditionContent("es", "Hola", "<p>Hola</p>", edition_text),) if edition_text else ()
    return CampaignContent(
        1,
        "2026-12",
        templates.subject_source,
        templates.html_source,
        templates.text_source,
        "VAIMH News",
        "news@vaimh.example",
        "",
        "VAIMH News <news.vaimh.example>",
        editions=editions,
    )


def test_the_example_issue_needs_no_topics() -> None:
    text = EXAMPLE_ISSUE.read_text(encoding="utf-8")
    assert "::: only role=" in text and "topics" in text  # a role section; "topics" only in prose
    assert not _content(EXAMPLE_ISSUE).uses_topics


@pytest.mark.parametrize(
    "section",
    [
        "::: only topic=monthly-newsletter\nFor newsletter readers.\n:::\n",
        "Your topics: {{ subscriber.topics }}\n",
    ],
)
def test_an_issue_that_looks_at_topics_gets_them(section: str, tmp_path: Path) -> None:
    issue = tmp_path / EXAMPLE_ISSUE.name
    issue.write_text(EXAMPLE_ISSUE.read_text(encoding="utf-8") + "\n" + section, encoding="utf-8")
    assert _content(issue).uses_topics


def test_an_edition_that_looks_at_topics_is_enough() -> None:
    assert _content(EXAMPLE_ISSUE, edition_text="Temas: {{ subscriber.topics }}").uses_topics
