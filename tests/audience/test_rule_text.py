"""A rule is shown as people write it: its YAML parses back to the same rule, its JSON is the same data."""

from __future__ import annotations

import json

from hypothesis import given, settings

from outreach.audience.choices import profile_choices
from outreach.audience.rule_text import in_words, rule_data, rule_json, rule_yaml
from outreach.audience.segments import Rule, parse_rule

from .test_segment_property import rules


@settings(max_examples=300, deadline=None)
@given(rules)
def test_the_yaml_parses_back_to_the_same_rule(rule: Rule) -> None:
    text = rule_yaml(rule)
    assert parse_rule(text) == rule, text
    assert "Condition(" not in text and "AllOf(" not in text


@given(rules)
def test_the_json_is_the_yaml_data(rule: Rule) -> None:
    assert parse_rule(json.dumps(json.loads(rule_json(rule)))) == rule  # JSON is YAML too
    assert json.loads(rule_json(rule)) == json.loads(json.dumps(rule_data(rule), default=str))


def test_in_words_reads_like_a_sentence() -> None:
    educators = parse_rule(
        "all:\n  - role: early-educator\n  - not: {region: Northern Virginia}\n  - topic: trainings-events\n"
    )
    assert in_words(educators, profile_choices()) == (
        "role is Early childhood educator and not (region is Northern Virginia) and gets trainings-events"
    )
    renewal = parse_rule("{tag: endorsed, attributes.renewal_date: {between: [today, today+60d]}}")
    assert in_words(renewal) == (
        "is tagged endorsed and attribute renewal date is between today and 60 days after today"
    )
    either = parse_rule("any: [{language: es}, {clicked: 2026-03-spring}]")
    assert (
        in_words(either, profile_choices())
        == "either language is Español or clicked a link in 2026-03-spring"
    )
