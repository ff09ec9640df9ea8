"""Reading issues: front matter and Markdown mistakes are reported as path:line, blocks come out right."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from outreach.content import read_issue
from outreach.content.scaffold import issue_file_name, scaffold_issue
from outreach.errors import ContentError, ContentErrors
from outreach.models import Button, Callout, Columns, Divider, Event, Image, Layout, Prose
from tests.conftest import EXAMPLE_ISSUE


def test_example_issue_reads_into_every_kind_of_block() -> None:
    issue = read_issue(EXAMPLE_ISSUE)
    kinds = {type(b) for b in issue.blocks}
    assert {Prose, Button, Callout, Columns, Divider, Event, Image} <= kinds
    assert issue.slug == "2026-12-holding-the-holidays"
    assert issue.layout is Layout.NEWSLETTER
    assert issue.audience.topics == ("monthly-newsletter",)
    assert issue.send_at is not None and issue.send_at.utcoffset() is not None
    events = [b for b in issue.blocks if isinstance(b, Event)]
    assert events[0].online and events[0].url.startswith("https://")


def test_unknown_front_matter_field_names_line_and_valid_fields(
    write_issue: Callable[..., Path],
) -> None:
    path = write_issue(subjet="Typo")
    with pytest.raises(ContentError) as caught:
        read_issue(path)
    assert f"{path}:5" in str(caught.value)
    assert "unknown field 'subjet'" in str(caught.value)
    assert "valid fields: subject" in str(caught.value)


def test_missing_subject_and_bad_template_are_reported_together(
    write_issue: Callable[..., Path],
) -> None:
    path = write_issue(raw_front="preheader: hi\ntemplate: magazine")
    with pytest.raises(ContentErrors) as caught:
        read_issue(path)
    text = str(caught.value)
    assert "'subject' is required" in text
    assert f"{path}:3" in text and "'template' must be one of" in text


def test_bad_yaml_names_the_line(write_issue: Callable[..., Path]) -> None:
    path = write_issue(raw_front='subject: "unclosed\npreheader: x')
    with pytest.raises(ContentError) as caught:
        read_issue(path)
    assert str(caught.value).startswith(f"{path}:")
    assert "not valid YAML" in str(caught.value)


def test_missing_front_matter_says_how_to_start(project: Path) -> None:
    path = project / "newsletters" / "2026-12-x.md"
    path.write_text("Just text\n")
    with pytest.raises(ContentError, match=r":1: the issue must start with front matter"):
        read_issue(path)


def test_send_at_without_zone_takes_the_configured_zone(write_issue: Callable[..., Path]) -> None:
    from zoneinfo import ZoneInfo

    issue = read_issue(write_issue(send_at="2026-12-01 09:00"), ZoneInfo("America/New_York"))
    assert issue.send_at is not None
    assert issue.send_at.utcoffset().total_seconds() == -5 * 3600  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("Hi\n\n::: buton https://x.org\nGo\n:::\n", 8, "unknown block 'buton'"),
        ("Hi\n\n::: callout\nnever closed\n", 8, "never closed"),
        ("::: button\nNo link\n:::\n", 6, "a button needs a link and a label"),
        (":::: columns\n::: column\nonly one\n:::\n::::\n", 6, "exactly two"),
        ("::: event\nwhen: tomorrow\n:::\n", 6, "an event needs a 'title:'"),
        ("::: event\ntitle: A\nthis line has no colon\n:::\n", 8, "'name: value'"),
        ("::: image\nalt: no source\n:::\n", 6, "needs 'src:'"),
        ("Hello {{ subscriber.first_name | }}\n", 6, "cannot read the expression"),
        ("{% if x %}a{% endif %}\n", 6, "only {{ ... }} expressions"),
    ],
)
def test_markdown_mistakes_name_the_line(
    write_issue: Callable[..., Path], body: str, line: int, message: str
) -> None:
    path = write_issue(body)
    with pytest.raises(ContentError) as caught:
        read_issue(path)
    assert f"{path}:{line}:" in str(caught.value)
    assert message in str(caught.value)


def test_links_pictures_and_headings_keep_their_lines(write_issue: Callable[..., Path]) -> None:
    body = "Intro [site](https://vaimh.example)\n\n## Part\n\n![](https://vaimh.example/a.png)\n"
    issue = read_issue(write_issue(body))
    assert [(link.url, link.line) for link in issue.links] == [("https://vaimh.example", 6)]
    assert [(p.alt, p.line) for p in issue.pictures] == [("", 10)]
    assert issue.headings == ((2, 8),)


def test_per_recipient_link_in_markdown_becomes_a_placeholder(
    write_issue: Callable[..., Path],
) -> None:
    issue = read_issue(write_issue("[Your preferences]({{ preferences_url }})\n"))
    assert [p.expression for p in issue.placeholders] == ["preferences_url"]
    prose = issue.blocks[0]
    assert isinstance(prose, Prose)
    assert issue.placeholders[0].token in prose.html


def test_text_of_blocks_is_readable(write_issue: Callable[..., Path]) -> None:
    body = "## Heading\n\n- one\n- two [link](https://vaimh.example/a)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    issue = read_issue(write_issue(body))
    text = issue.blocks[0].text  # type: ignore[union-attr]
    assert "Heading\n=======" in text
    assert "- one\n- two link (https://vaimh.example/a)" in text
    assert "a | b\n1 | 2" in text


def test_new_scaffolds_a_dated_file_that_reads(tmp_path: Path) -> None:
    from datetime import date

    path = scaffold_issue(tmp_path, "December 2026: Holding the Holidays", date(2026, 11, 24))
    assert path.name == "2026-12-holding-the-holidays.md"
    issue = read_issue(path)
    assert issue.subject == "Holding the Holidays"
    assert "#" in path.read_text().split("---")[1]  # commented front matter
    with pytest.raises(ContentError, match="already exists"):
        scaffold_issue(tmp_path, "December 2026: Holding the Holidays", date(2026, 11, 24))


def test_file_name_without_month_uses_today() -> None:
    from datetime import date

    name, subject, when = issue_file_name("Spring Appeal!", date(2027, 3, 9))
    assert (name, subject, when) == ("2027-03-spring-appeal.md", "Spring Appeal!", date(2027, 3, 9))
