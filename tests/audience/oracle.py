"""A plain-Python evaluation of segment rules: the reference the SQL compilation must agree with."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from outreach.audience.segments import (
    AllOf,
    AnyOf,
    EngagementCondition,
    FieldCondition,
    Not,
    RelativeDate,
    Rule,
    StatusCondition,
    TagCondition,
    TopicCondition,
)

NUMBER = re.compile(r"\A-?[0-9]{1,15}(\.[0-9]{1,15})?\Z")
ISO = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


@dataclass
class Person:
    email: str
    status: str
    fields: dict[str, Any]
    attributes: dict[str, str] = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)
    topics: set[str] = field(default_factory=set)


def _day(value: Any, today: date) -> date:
    return value.resolve(today) if isinstance(value, RelativeDate) else value


def _text(value: str | None, op: str, wanted: Any) -> bool:
    if op == "equals":
        return value is not None and value == wanted
    if op == "not_equals":
        return value is None or value != wanted
    if op == "in":
        return value is not None and value in wanted
    if op == "not_in":
        return value is None or value not in wanted
    if op == "contains":
        return value is not None and str(wanted).lower() in value.lower()
    if op == "starts_with":
        return value is not None and value.lower().startswith(str(wanted).lower())
    if op == "exists":
        present = value is not None and value != ""
        return present if wanted else not present
    raise AssertionError(op)


def _dates(value: Any, op: str, wanted: Any, today: date) -> bool:
    if op == "before":
        return bool(value < _day(wanted, today))
    if op == "after":
        return bool(value > _day(wanted, today))
    if op == "between":
        return bool(_day(wanted[0], today) <= value <= _day(wanted[1], today))
    return bool(value == _day(wanted, today))


def evaluate(rule: Rule, person: Person, today: date) -> bool:
    match rule:
        case AllOf(rules):
            return all(evaluate(r, person, today) for r in rules)
        case AnyOf(rules):
            return any(evaluate(r, person, today) for r in rules)
        case Not(inner):
            return not evaluate(inner, person, today)
        case TagCondition(mode, names):
            return set(names) <= person.tags if mode == "has_all" else bool(set(names) & person.tags)
        case TopicCondition(mode, names):
            have = person.topics
            return set(names) <= have if mode == "has_all" else bool(set(names) & have)
        case StatusCondition(statuses):
            return person.status in {s.value for s in statuses}
        case EngagementCondition():
            raise AssertionError("no engagement in the oracle")
        case FieldCondition(name, op, wanted):
            if name.startswith("attributes."):
                value = person.attributes.get(name.removeprefix("attributes."))
                if op in ("gt", "gte", "lt", "lte"):
                    if value is None or not NUMBER.match(value):
                        return False
                    number = float(value)
                    return {
                        "gt": number > wanted,
                        "gte": number >= wanted,
                        "lt": number < wanted,
                        "lte": number <= wanted,
                    }[op]
                if op in ("before", "after", "between"):
                    if value is None or not ISO.match(value):
                        return False
                    return _dates(
                        value,
                        op,
                        (
                            tuple(_day(w, today).isoformat() for w in wanted)
                            if op == "between"
                            else _day(wanted, today).isoformat()
                        ),
                        today,
                    )
                return _text(value, op, wanted)
            if name == "signup_date":
                return _dates(person.fields["signup_date"], op, wanted, today)
            return _text(person.fields.get(name), op, wanted)
    raise AssertionError(rule)
