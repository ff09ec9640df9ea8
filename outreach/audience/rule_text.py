"""A parsed segment rule shown to people the way they write it, and to machines as plain data.

``rule_data`` turns the typed tree back into the shape of ``segments.yaml`` (``parse_rule`` of its
YAML gives the same rule again; a property test checks that), ``rule_yaml`` prints that shape as
YAML, and ``in_words`` says it as a sentence, with roles and languages by their labels.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import yaml

from outreach.audience.choices import ProfileChoices
from outreach.audience.segments import (
    AllOf,
    AnyOf,
    DateValue,
    EngagementCondition,
    FieldCondition,
    Not,
    RelativeDate,
    Rule,
    StatusCondition,
    TagCondition,
    TopicCondition,
)


def rule_data(rule: Rule) -> Any:
    """The rule as segments.yaml writes it: mappings, lists, text, numbers, dates."""
    match rule:
        case AllOf(rules):
            return {"all": [rule_data(r) for r in rules]}
        case AnyOf(rules):
            return {"any": [rule_data(r) for r in rules]}
        case Not(inner):
            return {"not": rule_data(inner)}
        case TagCondition(mode, tags):
            return {"tag": tags[0] if mode == "has" and len(tags) == 1 else {mode: list(tags)}}
        case TopicCondition(mode, topics):
            return {"topic": topics[0] if mode == "has" and len(topics) == 1 else {mode: list(topics)}}
        case StatusCondition(statuses):
            names = [s.value for s in statuses]
            return {"status": names[0] if len(names) == 1 else {"in": names}}
        case EngagementCondition(kind, campaign):
            return {kind: campaign}
        case FieldCondition(name, "equals", value):
            return {name: _value(value)}
        case FieldCondition(name, op, value):
            return {name: {op: _value(value)}}
    raise AssertionError(f"unknown rule {rule!r}")


def _value(value: object) -> Any:
    if isinstance(value, tuple):
        return [_value(v) for v in value]
    if isinstance(value, RelativeDate):
        return _relative(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _relative(value: RelativeDate) -> str:
    if value.days == 0:
        return "today"
    return f"today{'+' if value.days > 0 else '-'}{abs(value.days)}d"


def rule_yaml(rule: Rule) -> str:
    """The rule as segments.yaml writes it, leaves in flow style: ``- role: {in: [a, b]}``."""
    return "\n".join(_block(rule_data(rule), 0)) + "\n"


def _block(data: dict[str, Any], indent: int) -> list[str]:
    """A one-key mapping as block lines; anything made only of scalars stays on one line."""
    pad = " " * indent
    ((key, value),) = data.items()
    if _is_leaf(value):
        return [f"{pad}{key}: {_flow(value)}"]
    if isinstance(value, list):
        lines = [f"{pad}{key}:"]
        for item in value:
            inner = _block(item, indent + 4)
            lines.append(f"{pad}  - {inner[0].lstrip()}")
            lines.extend(inner[1:])
        return lines
    return [f"{pad}{key}:", *_block(value, indent + 2)]


def _is_leaf(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_is_leaf(v) and not isinstance(v, dict) for v in value.values())
    if isinstance(value, list):
        return all(not isinstance(v, dict | list) for v in value)
    return True


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return _scalar(value)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | date):
        return str(value)
    text = str(value)
    plain = (
        text == text.strip()
        and text != ""
        and not any(c in text for c in ",[]{}#&*!|>'\"%@`")
        and ": " not in text
        and yaml.safe_load(text) == text
    )
    return text if plain else json.dumps(text, ensure_ascii=False)


def rule_json(rule: Rule) -> str:
    """The rule's data as JSON (dates as ``YYYY-MM-DD``)."""
    return json.dumps(rule_data(rule), ensure_ascii=False, default=_iso)


def _iso(value: object) -> str:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


_OPS = {
    "equals": "is",
    "not_equals": "is not",
    "in": "is one of",
    "not_in": "is none of",
    "contains": "contains",
    "starts_with": "starts with",
    "before": "is before",
    "after": "is after",
    "gt": "is more than",
    "gte": "is at least",
    "lt": "is less than",
    "lte": "is at most",
}
_MODES = {"has": "", "has_any": "any of ", "has_all": "all of "}


def in_words(rule: Rule, choices: ProfileChoices | None = None) -> str:
    """The rule as one sentence, e.g. "role is Home visitor and region is not Northern Virginia"."""
    return _Words(choices).say(rule)


class _Words:
    def __init__(self, choices: ProfileChoices | None) -> None:
        self.listed = {"role": choices.roles, "language": choices.languages} if choices else {}

    def say(self, rule: Rule, nested: bool = False) -> str:
        match rule:
            case AllOf(rules):
                return self.group(rules, " and ", "", nested)
            case AnyOf(rules):
                return self.group(rules, " or ", "either ", nested)
            case Not(inner):
                return f"not ({self.say(inner)})"
            case TagCondition(mode, tags):
                return f"is tagged {_MODES[mode]}{', '.join(tags)}"
            case TopicCondition(mode, topics):
                return f"gets {_MODES[mode]}{', '.join(topics)}"
            case StatusCondition(statuses):
                return f"status is {' or '.join(s.value for s in statuses)}"
            case EngagementCondition(kind, campaign):
                return f"received {campaign}" if kind == "received" else f"clicked a link in {campaign}"
            case FieldCondition():
                return self.field(rule)
        raise AssertionError(f"unknown rule {rule!r}")

    def group(self, rules: tuple[Rule, ...], joiner: str, lead: str, nested: bool) -> str:
        if len(rules) == 1:
            return self.say(rules[0], nested)
        text = lead + joiner.join(self.say(r, True) for r in rules)
        return f"({text})" if nested else text

    def field(self, condition: FieldCondition) -> str:
        name = condition.field.replace("attributes.", "attribute ").replace("_", " ")
        op, value = condition.op, condition.value
        if op == "exists":
            return f"has a {name}" if value else f"has no {name}"
        if op == "between" and isinstance(value, tuple):
            return f"{name} is between {' and '.join(self.shown(condition.field, v) for v in value)}"
        return f"{name} {_OPS[op]} {self.shown(condition.field, value)}"

    def shown(self, field: str, value: object) -> str:
        if isinstance(value, tuple):
            return ", ".join(self.shown(field, v) for v in value)
        if isinstance(value, RelativeDate | date):
            return _day(value)
        if isinstance(value, float):
            return f"{value:g}"
        listed = self.listed.get(field)
        return listed.label(str(value)) if listed else str(value)


def _day(value: DateValue) -> str:
    if isinstance(value, RelativeDate):
        if value.days == 0:
            return "today"
        return f"{abs(value.days)} days {'after' if value.days > 0 else 'before'} today"
    return value.isoformat()
