"""Compiling a segment rule to SQLAlchemy expressions: no SQL text, every value a bound parameter.

Each condition compiles to a two-valued predicate (never SQL NULL), so ``not`` means exactly what a
reader expects: a subscriber without a region is "not in Hampton Roads". Custom attributes are JSON
text; numbers and dates in them are compared only when the text looks like one (``12``, ``3.5``,
``2026-05-01``). Engagement conditions (``received``, ``clicked``) read the delivery ledger and the
events through ``ledger_view``, on every database, from every caller.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import sqlalchemy as sa

from outreach.audience import ledger_view
from outreach.audience.schema import Subscriber, SubscriberTag, SubscriberTopic
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
from outreach.audience.subscribers import mailable_clause

# \A and \Z mean the same in Python's re (SQLite's REGEXP) and PostgreSQL's regular expressions.
NUMBER_PATTERN = r"\A-?[0-9]{1,15}(\.[0-9]{1,15})?\Z"
DATE_PATTERN = r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z"

EngagementHook = Callable[[EngagementCondition], sa.ColumnElement[bool]]
Expr = sa.ColumnElement[Any]


def _known(expr: Expr, predicate: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    # false AND NULL is false: the predicate can never be NULL when expr is NULL.
    return sa.and_(expr.is_not(None), predicate)


def _missing(expr: Expr, predicate: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    return sa.or_(expr.is_(None), sa.and_(expr.is_not(None), predicate))


def _day(value: DateValue, today: date) -> date:
    return value.resolve(today) if isinstance(value, RelativeDate) else value


def engaged(condition: EngagementCondition) -> sa.ColumnElement[bool]:
    """``received: CAMPAIGN`` or ``clicked: CAMPAIGN`` (a slug or an id) as a two-valued predicate."""
    if condition.kind == "clicked":
        return Subscriber.id.in_(ledger_view.clicked(condition.campaign))
    return Subscriber.id.in_(ledger_view.received(condition.campaign))


class _Compiler:
    def __init__(self, today: date) -> None:
        self.today = today

    def rule(self, rule: Rule) -> sa.ColumnElement[bool]:
        match rule:
            case AllOf(rules):
                return sa.and_(sa.true(), *(self.rule(r) for r in rules))
            case AnyOf(rules):
                return sa.or_(sa.false(), *(self.rule(r) for r in rules))
            case Not(inner):
                return sa.not_(self.rule(inner))
            case TagCondition(mode, tags):
                return self.members(SubscriberTag.subscriber_id, SubscriberTag.tag, mode, tags)
            case TopicCondition(mode, topics):
                return self.members(SubscriberTopic.subscriber_id, SubscriberTopic.topic_key, mode, topics)
            case StatusCondition(statuses):
                return Subscriber.status.in_(statuses)
            case EngagementCondition():
                return engaged(rule)
            case FieldCondition():
                return self.field(rule)
        raise AssertionError(f"unknown rule {rule!r}")

    def members(self, owner: Any, column: Any, mode: str, names: tuple[str, ...]) -> sa.ColumnElement[bool]:
        def having(wanted: Any) -> sa.ColumnElement[bool]:
            return Subscriber.id.in_(sa.select(owner).where(wanted))

        if mode == "has_all":
            return sa.and_(*(having(column == name) for name in names))
        return having(column.in_(names))

    def field(self, condition: FieldCondition) -> sa.ColumnElement[bool]:
        op, value = condition.op, condition.value
        if condition.field.startswith("attributes."):
            key = condition.field.removeprefix("attributes.")
            text: Expr = Subscriber.attributes[key].as_string()
            if op in ("gt", "gte", "lt", "lte"):
                return self.number(text, op, value)
            if op in ("before", "after", "between"):
                return self.iso_date(text, op, value)
        else:
            text = getattr(Subscriber, condition.field)
            if condition.field == "signup_date":
                return self.column_date(text, op, value)
        return self.text(text, op, value)

    def text(self, column: Expr, op: str, value: Any) -> sa.ColumnElement[bool]:
        if op == "equals":
            return _known(column, column == value)
        if op == "not_equals":
            return _missing(column, column != value)
        if op == "in":
            return _known(column, column.in_(value))
        if op == "not_in":
            return _missing(column, column.not_in(value))
        if op == "contains":
            folded = sa.func.lower(column)
            return _known(column, folded.contains(str(value).lower(), autoescape=True))
        if op == "starts_with":
            folded = sa.func.lower(column)
            return _known(column, folded.startswith(str(value).lower(), autoescape=True))
        if op == "exists":
            present = sa.and_(column.is_not(None), column != "")
            return present if value else sa.not_(present)
        raise AssertionError(op)

    def number(self, text: Expr, op: str, value: Any) -> sa.ColumnElement[bool]:
        number = sa.case((text.regexp_match(NUMBER_PATTERN), sa.cast(text, sa.Float)), else_=None)
        compare = {
            "gt": number > value,
            "gte": number >= value,
            "lt": number < value,
            "lte": number <= value,
        }[op]
        return _known(number, compare)

    def iso_date(self, text: Expr, op: str, value: Any) -> sa.ColumnElement[bool]:
        # ISO dates order like text, so no cast is needed and both databases agree.
        looks_like_date = sa.and_(text.is_not(None), text.regexp_match(DATE_PATTERN))
        return sa.and_(looks_like_date, self.compare_dates(text, op, value, iso=True))

    def column_date(self, column: Expr, op: str, value: Any) -> sa.ColumnElement[bool]:
        return _known(column, self.compare_dates(column, op, value, iso=False))

    def compare_dates(self, expr: Expr, op: str, value: Any, *, iso: bool) -> sa.ColumnElement[bool]:
        def day(v: DateValue) -> Any:
            resolved = _day(v, self.today)
            return resolved.isoformat() if iso else resolved

        result: sa.ColumnElement[bool]
        if op == "before":
            result = expr < day(value)
        elif op == "after":
            result = expr > day(value)
        elif op == "between":
            low, high = value
            result = sa.and_(expr >= day(low), expr <= day(high))
        else:
            result = expr == day(value)
        return result


def compile_rule(rule: Rule, today: date, engagement: EngagementHook | None = None) -> sa.ColumnElement[bool]:
    """The WHERE clause (over ``subscribers``) of a rule; relative dates resolved against today.

    ``engagement`` is no longer consulted: engagement rules are compiled here (``engaged``) so that
    they mean the same in every command. It is accepted so existing callers keep working.
    """
    del engagement
    return _Compiler(today).rule(rule)


def segment_query(
    rule: Rule | None,
    today: date,
    *,
    mailable_only: bool = True,
    engagement: EngagementHook | None = None,
) -> sa.Select[Any]:
    """SELECT subscriber ids matching ``rule`` (None: the built-in ``all``), by default mailable."""
    query = sa.select(Subscriber.id)
    if rule is not None:
        query = query.where(compile_rule(rule, today))
    if mailable_only or rule is None:
        query = query.where(mailable_clause())
    return query
