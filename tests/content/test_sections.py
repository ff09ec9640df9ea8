"""``::: only`` / ``::: unless`` sections: read safely, checked against the site's lists, compiled once.

The property test against segment SQL is in tests/delivery/test_section_property.py; here are the
messages staff see, the check of values, and the text and HTML each kind of reader gets.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outreach.audience.choices import profile_choices
from outreach.checks.audience import check_sections
from outreach.config import load_config
from outreach.content.issue import read_issue_text
from outreach.delivery.frame import MessageFrame
from outreach.errors import ContentError
from outreach.models import Recipient, RecipientLinks, Section
from outreach.render import render_issue

REPO = Path(__file__).resolve().parents[2]
PATH = Path("newsletters/2026-12-sections.md")
FRONT = '---\nsubject: "Sections"\ndate: 2026-12-01\nstatus: ready\n---\n'
LINKS = RecipientLinks(
    "https://news.vaimh.example/u/x", "https://news.vaimh.example/p/x", "https://v.example/v"
)
BODY = (
    "Hello {{ subscriber.first_name }},\n"  # line 6
    "\n"
    "::: only role=mental-health-clinician topic=trainings-events\n"  # line 8
    "Supervision hours note for {{ subscriber.first_name }}.\n"
    "\n"
    "::: button https://vaimh.example/endorsement\n"
    "Read about Endorsement\n"
    ":::\n"
    ":::\n"
    "\n"
    '::: unless language="es"\n'  # line 16
    "English-only paragraph.\n"
    ":::\n"
    "\n"
    "After the sections.\n"
)


def read(body: str) -> Section | list[object]:
    issue = read_issue_text(FRONT + body, PATH)
    return list(issue.blocks)


def error_of(body: str) -> ContentError:
    with pytest.raises(ContentError) as raised:
        read_issue_text(FRONT + body, PATH)
    return raised.value


@pytest.fixture(scope="module")
def config():  # type: ignore[no-untyped-def]
    return load_config(REPO)


def test_a_section_is_read_with_its_condition_and_blocks() -> None:
    blocks = read(BODY)
    assert isinstance(blocks, list)
    sections = [b for b in blocks if isinstance(b, Section)]
    assert [s.line for s in sections] == [8, 16]
    only, unless = sections
    assert [(t.field, t.values) for t in only.condition.terms] == [
        ("role", ("mental-health-clinician",)),
        ("topic", ("trainings-events",)),
    ]
    assert not only.condition.negated and unless.condition.negated
    assert [type(b).__name__ for b in only.blocks] == ["Prose", "Button"]


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("::: only rol=home-visitor\nx\n:::\n", 6, ["unknown field 'rol'", "did you mean 'role'", "topic"]),
        ("::: only topics=trainings-events\nx\n:::\n", 6, ["unknown field 'topics'", "'topic'"]),
        ("::: only\nx\n:::\n", 6, ["needs a condition", "role=mental-health-clinician"]),
        ("::: only role home-visitor\nx\n:::\n", 6, ["write each condition as field=value"]),
        ('::: only role="{{ x }}"\nx\n:::\n', 6, ["fixed values", "cannot be used"]),
        ('::: only role="a;b"\nx\n:::\n', 6, ["unusual value"]),
        ("::: only role=a role=b\nx\n:::\n", 6, ["appears twice", "role=a,b"]),
        ("::: only role=a\n:::\n", 6, ["section is empty"]),
        ("text\n\n::: only role=a\nnever closed\n", 8, ["never closed", "':::' line"]),
        (
            ":::: columns\n::: column\n::: only role=a\nx\n:::\n:::\n::: column\ny\n:::\n::::\n",
            8,
            ["cannot be inside a column", "inside the '::: only' section"],
        ),
    ],
)
def test_mistakes_are_errors_at_the_blocks_line(body: str, line: int, words: list[str]) -> None:
    error = error_of(body)
    assert error.line == line, error
    for word in words:
        assert word in error.message, error.message


def test_template_code_in_an_issue_is_still_refused() -> None:
    error = error_of("{% if subscriber.role == 'x' %}hi{% endif %}\n")
    assert "only {{ ... }} expressions" in error.message


def test_values_are_checked_against_the_sites_lists(config) -> None:  # type: ignore[no-untyped-def]
    body = (
        "::: only role=clinician,home-visitor language=spanish\nx\n:::\n\n"
        "::: unless topic=trainings\ny\n:::\n\n::: only region=Southside\nz\n:::\n"
    )
    issue = read_issue_text(FRONT + body, PATH)
    found = check_sections(issue, config.path("lists"), profile_choices(config.settings.audience))
    messages = [(f.line, f.message) for f in found]
    assert len(found) == 3, messages
    assert all(f.severity == "error" and f.path == str(PATH) for f in found)
    role, language, topic = messages
    assert role[0] == 6 and "unknown role 'clinician'" in role[1] and "mental-health-clinician" in role[1]
    assert language[0] == 6 and "did you mean 'es'" in language[1]
    assert topic[0] == 10 and "unknown topic 'trainings'" in topic[1] and "trainings-events" in topic[1]


def test_the_example_issue_checks_clean(config) -> None:  # type: ignore[no-untyped-def]
    from outreach.content import read_issue

    issue = read_issue(REPO / "newsletters" / "2026-12-holding-the-holidays.md")
    assert any(isinstance(b, Section) for b in issue.blocks)
    assert check_sections(issue, config.path("lists"), profile_choices(config.settings.audience)) == []


READERS = {
    "nobody in particular": Recipient("a@example.org", first_name="Ana"),
    "clinician in trainings": Recipient(
        "b@example.org", first_name="Bea", role="mental-health-clinician", topics=("trainings-events",)
    ),
    "clinician without the topic": Recipient("c@example.org", role="mental-health-clinician"),
    "Spanish reader": Recipient("d@example.org", language="es", topics=("trainings-events",)),
}


@pytest.mark.parametrize("who", sorted(READERS))
def test_each_reader_gets_their_variant_in_both_parts(config, who: str) -> None:  # type: ignore[no-untyped-def]
    compiled = render_issue(read_issue_text(FRONT + BODY, PATH), config)
    reader = READERS[who]
    mail = compiled.personalise(reader, LINKS)
    clinician = who == "clinician in trainings"
    english = reader.language != "es"
    for part in (mail.html, mail.text):
        assert ("Supervision hours note" in part) is clinician
        assert ("https://vaimh.example/endorsement" in part) is clinician
        assert ("English-only paragraph." in part) is english
        assert "After the sections." in part
        assert "{%" not in part and "XQSECTION" not in part
    if clinician:
        assert "Supervision hours note for Bea." in mail.text
    # Blocks keep one blank line between them, whichever sections show.
    assert "\n\n\n" not in mail.text
    assert "Hello " + (reader.first_name or "") + ",\n\n" in mail.text


readers = st.builds(
    Recipient,
    email=st.just("r@example.org"),
    first_name=st.sampled_from(["", "Ana", "Zoë"]),
    role=st.sampled_from(["", "mental-health-clinician", "home-visitor"]),
    language=st.sampled_from(["", "en", "es"]),
    topics=st.sets(st.sampled_from(["trainings-events", "policy-advocacy"])).map(lambda s: tuple(sorted(s))),
)


@settings(max_examples=40, deadline=None)
@given(reader=readers)
def test_the_frame_decides_sections_like_the_whole_template(reader: Recipient) -> None:
    """The MIME frame renders only the changing lines (conditions included); what it sends must be what
    rendering the whole templates gives, for every kind of reader."""
    compiled = _compiled()
    frame = MessageFrame(compiled.templates, "VAIMH", "news@vaimh.example", "VAIMH <news.vaimh.example>")
    assert frame._lines is not None  # the fast path is taken, not the whole render
    stamped = frame.stamp(reader, LINKS, "<1@vaimh.example>", _NOW)
    whole = compiled.templates.with_line_ends("\r\n").render(reader, LINKS)
    assert stamped.mail.html == whole.html
    assert stamped.mail.text == whole.text


_CACHE: dict[str, object] = {}
_NOW = __import__("datetime").datetime(2026, 12, 1, 14, 0, tzinfo=__import__("datetime").UTC)


def _compiled():  # type: ignore[no-untyped-def]
    if "compiled" not in _CACHE:
        nested = BODY + "\n::: only language=en\nOuter.\n\n::: unless role=home-visitor\nInner.\n:::\n:::\n"
        _CACHE["compiled"] = render_issue(read_issue_text(FRONT + nested, PATH), load_config(REPO))
    return _CACHE["compiled"]
