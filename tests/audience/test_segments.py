"""Segment files: the shipped examples parse; wrong rules name the file, the line and the choices."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from outreach.audience.segment_sql import compile_rule
from outreach.audience.segments import load_segments, parse_rule
from outreach.audience.topics import load_topics
from outreach.errors import SegmentError, TopicsError

from .conftest import LISTS

TOPICS = ["monthly-newsletter", "trainings-events", "policy-advocacy", "spanish-edition"]


def test_shipped_segments_parse_and_compile() -> None:
    segments = load_segments(LISTS / "segments.yaml", TOPICS)
    assert "clinicians-hampton-roads" in segments
    for segment in segments.values():
        compile_rule(segment.rule, date(2026, 3, 1))


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        (
            "x:\n  rule:\n    role: {startswith: a}\n",
            3,
            "unknown operator 'startswith' for 'role'; valid: equals, not_equals, in",
        ),
        ("x:\n  rule:\n    all:\n      - rol: a\n", 4, "unknown field or rule 'rol'; valid: all"),
        ("x:\n  rule:\n    topic: newsletter\n", 3, "unknown topic 'newsletter'; valid: monthly"),
        ("x:\n  rule:\n    status: gone\n", 3, "unknown status 'gone'; valid: active"),
        ("x:\n  rule:\n    signup_date: {after: yesterday}\n", 3, "needs a date"),
        ("x:\n  rule:\n    attributes.years: {gt: many}\n", 3, "needs a number"),
        ("x:\n  descripton: typo\n  rule: {role: a}\n", 2, "unknown key 'descripton'"),
        ("all:\n  rule: {role: a}\n", 1, "is built in"),
        ("x:\n  rule:\n    tag: {has_some: [a]}\n", 3, "valid: has, has_any, has_all"),
    ],
)
def test_wrong_rules_say_where_and_what_is_valid(tmp_path: Path, body: str, line: int, message: str) -> None:
    path = tmp_path / "segments.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(SegmentError) as caught:
        load_segments(path, TOPICS, display="lists/segments.yaml")
    assert str(caught.value).startswith(f"lists/segments.yaml:{line}: ")
    assert message in str(caught.value)


def test_values_are_bound_not_spliced() -> None:
    rule = parse_rule('region: {equals: "x\'; DROP TABLE subscribers; --"}')
    sql = str(compile_rule(rule, date(2026, 3, 1)))
    assert "DROP" not in sql


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("base: &roles [student]\nx:\n  rule:\n    role: {in: *roles}\n", 4, "uses an alias ('*name')"),
        (
            "x:\n  rule:\n" + "    " + "{not: " * 45 + "{region: a}" + "}" * 45 + "\n",
            3,
            "nests more than 40 levels",
        ),
    ],
)
def test_aliases_and_deep_nesting_are_refused_at_their_line(
    tmp_path: Path, body: str, line: int, message: str
) -> None:
    path = tmp_path / "segments.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(SegmentError) as caught:
        load_segments(path, TOPICS, display="lists/segments.yaml")
    assert str(caught.value).startswith(f"lists/segments.yaml:{line}: this YAML {message}")


def test_topics_yaml_is_read_with_the_same_limits_and_says_where(tmp_path: Path) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text("news: &n\n  name: News\ntrainings: *n\n", encoding="utf-8")
    with pytest.raises(TopicsError, match=r"^lists/topics.yaml:3: this YAML uses an alias"):
        load_topics(path, "lists/topics.yaml")
    path.write_text("news:\n  name: News\n  colour: red\n", encoding="utf-8")
    with pytest.raises(
        TopicsError, match=r"^lists/topics.yaml:2: topic 'news' has unknown keys \['colour'\]"
    ):
        load_topics(path, "lists/topics.yaml")
    path.write_text("news:\n  name: News\nnews:\n  name: Again\n", encoding="utf-8")
    with pytest.raises(TopicsError, match=r"^lists/topics.yaml:3: topic 'news' is defined twice"):
        load_topics(path, "lists/topics.yaml")
