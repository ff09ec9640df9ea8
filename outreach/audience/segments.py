"""Segments: readable rules in ``lists/segments.yaml``, parsed into a small typed tree.

Each segment is ``name: {description, rule}``; a rule is ``all``/``any``/``not`` of other rules, or
a condition on a field (``role: {in: [...]}``), a custom attribute (``attributes.renewal_date:
{between: [today, today+60d]}``), tags, topics, status, or engagement. The file is composed through
``safe_yaml`` (no aliases, bounded depth and size) into nodes with line marks, so every mistake names
the file, the line and the valid choices; roles and languages are checked against the site's
``[audience]`` lists. Compiling to SQL lives in ``segment_sql.py``; nothing here touches the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from outreach import safe_yaml
from outreach.audience.choices import ChoiceList, ProfileChoices
from outreach.audience.schema import SubscriberStatus
from outreach.errors import SegmentError
from outreach.models import Condition

SEGMENTS_FILE = "segments.yaml"
ALL = "all"
TEXT_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "organisation",
    "role",
    "region",
    "language",
    "time_zone",
)
DATE_FIELDS = ("signup_date",)
TEXT_OPS = ("equals", "not_equals", "in", "not_in", "contains", "starts_with", "exists")
DATE_OPS = ("equals", "before", "after", "between")
NUMBER_OPS = ("gt", "gte", "lt", "lte")
ATTRIBUTE_OPS = (*TEXT_OPS, "before", "after", "between", *NUMBER_OPS)
SET_MODES = ("has", "has_any", "has_all")
ENGAGEMENT = ("received", "clicked")
# Opens are not recorded (tracking pixels are unreliable and intrusive); say so instead of "unknown".
NOT_RECORDED = {"opened": "opens are not recorded; use 'clicked: CAMPAIGN' or 'received: CAMPAIGN'"}
LISTED_OPS = ("equals", "not_equals", "in", "not_in")
COMBINATORS = ("all", "any", "not")
KINDS = (
    *COMBINATORS,
    "tag",
    "topic",
    "status",
    *ENGAGEMENT,
    *TEXT_FIELDS,
    *DATE_FIELDS,
    "attributes.NAME",
)
_RELATIVE = re.compile(r"^today(?:\s*([+-])\s*(\d+)\s*d(?:ays?)?)?$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
NAME_PATTERN = _NAME  # what a segment's name may be
_ATTRIBUTE = re.compile(r"^attributes\.([A-Za-z0-9_]+)$")


@dataclass(frozen=True)
class RelativeDate:
    """``today``, ``today+60d`` or ``today-30d``: resolved when the rule is compiled."""

    days: int

    def resolve(self, today: date) -> date:
        return date.fromordinal(today.toordinal() + self.days)


DateValue = date | RelativeDate
Value = str | float | bool | DateValue | tuple[str, ...] | tuple[DateValue, DateValue]


@dataclass(frozen=True)
class AllOf:
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class AnyOf:
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Not:
    rule: Rule


@dataclass(frozen=True)
class FieldCondition:
    """``field`` is a column name or ``attributes.NAME``; ``op`` one of the operators above."""

    field: str
    op: str
    value: Value


@dataclass(frozen=True)
class TagCondition:
    mode: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class TopicCondition:
    mode: str
    topics: tuple[str, ...]


@dataclass(frozen=True)
class StatusCondition:
    statuses: tuple[SubscriberStatus, ...]


@dataclass(frozen=True)
class EngagementCondition:
    """``received`` or ``clicked`` a campaign: answered from the delivery ledger and the events."""

    kind: str
    campaign: str
    path: str | None = None
    line: int | None = None


Rule = (
    AllOf
    | AnyOf
    | Not
    | FieldCondition
    | TagCondition
    | TopicCondition
    | StatusCondition
    | (EngagementCondition)
)


@dataclass(frozen=True)
class Segment:
    name: str
    description: str
    rule: Rule
    path: str | None = None
    line: int | None = None


class _Parser:
    def __init__(
        self,
        path: str,
        segment: str,
        topics: Iterable[str] | None,
        choices: ProfileChoices | None = None,
    ) -> None:
        self.path = path
        self.segment = segment
        self.topics = tuple(topics) if topics is not None else None
        self.listed: dict[str, ChoiceList] = (
            {"role": choices.roles, "language": choices.languages} if choices else {}
        )

    def fail(self, node: Node, message: str) -> SegmentError:
        where = f" in segment {self.segment!r}" if self.segment else ""
        return SegmentError(f"{message}{where}", self.path, node.start_mark.line + 1)

    def scalar(self, node: Node, what: str) -> str:
        if not isinstance(node, ScalarNode):
            raise self.fail(node, f"{what} must be a single value")
        return str(node.value).strip()

    def scalars(self, node: Node, what: str) -> tuple[str, ...]:
        if isinstance(node, ScalarNode):
            return (self.scalar(node, what),)
        if not isinstance(node, SequenceNode) or not node.value:
            raise self.fail(node, f"{what} must be a value or a non-empty list of values")
        return tuple(self.scalar(item, what) for item in node.value)

    def rule(self, node: Node) -> Rule:
        if isinstance(node, SequenceNode):
            return AllOf(tuple(self.rule(item) for item in node.value))
        if not isinstance(node, MappingNode) or not node.value:
            raise self.fail(
                node,
                f"a rule must be a mapping like 'role: {{equals: ...}}'; valid: {', '.join(KINDS)}",
            )
        if len(node.value) > 1:
            return AllOf(tuple(self.entry(key, value) for key, value in node.value))
        key, value = node.value[0]
        return self.entry(key, value)

    def entry(self, key_node: Node, value: Node) -> Rule:
        key = self.scalar(key_node, "a rule's name")
        if key in ("all", "any"):
            if not isinstance(value, SequenceNode) or not value.value:
                raise self.fail(value, f"'{key}' needs a non-empty list of rules")
            rules = tuple(self.rule(item) for item in value.value)
            return AllOf(rules) if key == "all" else AnyOf(rules)
        if key == "not":
            return Not(self.rule(value))
        if key in ("tag", "tags"):
            mode, names = self.set_condition(value, key)
            return TagCondition(mode, names)
        if key in ("topic", "topics"):
            mode, names = self.set_condition(value, key)
            self.check_topics(value, names)
            return TopicCondition(mode, names)
        if key == "status":
            return self.status(value)
        if key in NOT_RECORDED:
            raise self.fail(key_node, NOT_RECORDED[key])
        if key in ENGAGEMENT:
            campaign = self.scalar(value, f"'{key}'")
            return EngagementCondition(key, campaign, self.path, value.start_mark.line + 1)
        if key in TEXT_FIELDS or key in DATE_FIELDS or _ATTRIBUTE.match(key):
            return self.field(key_node, key, value)
        raise self.fail(key_node, f"unknown field or rule {key!r}; valid: {', '.join(KINDS)}")

    def set_condition(self, node: Node, key: str) -> tuple[str, tuple[str, ...]]:
        if isinstance(node, ScalarNode):
            return "has", (self.scalar(node, key),)
        if not isinstance(node, MappingNode) or len(node.value) != 1:
            raise self.fail(node, f"'{key}' takes a name or one of {', '.join(SET_MODES)}")
        mode_node, names = node.value[0]
        mode = self.scalar(mode_node, "an operator")
        if mode not in SET_MODES:
            raise self.fail(
                mode_node, f"unknown operator {mode!r} for '{key}'; valid: {', '.join(SET_MODES)}"
            )
        return mode, self.scalars(names, f"'{key}: {mode}'")

    def check_topics(self, node: Node, names: tuple[str, ...]) -> None:
        if self.topics is None:
            return
        for name in names:
            if name not in self.topics:
                raise self.fail(node, f"unknown topic {name!r}; valid: {', '.join(self.topics)}")

    def status(self, node: Node) -> StatusCondition:
        if isinstance(node, MappingNode):
            if len(node.value) != 1 or self.scalar(node.value[0][0], "") not in ("in", "equals"):
                raise self.fail(node, "'status' takes a status or {in: [...]}")
            node = node.value[0][1]
        valid = [s.value for s in SubscriberStatus]
        statuses = []
        for name in self.scalars(node, "'status'"):
            if name not in valid:
                raise self.fail(node, f"unknown status {name!r}; valid: {', '.join(valid)}")
            statuses.append(SubscriberStatus(name))
        return StatusCondition(tuple(statuses))

    def field(self, key_node: Node, name: str, node: Node) -> Rule:
        valid: tuple[str, ...]
        if name in TEXT_FIELDS:
            valid = TEXT_OPS
        elif name in DATE_FIELDS:
            valid = DATE_OPS
        else:
            valid = ATTRIBUTE_OPS
        if isinstance(node, ScalarNode):
            return FieldCondition(name, "equals", self.listed_value(node, name, "equals"))
        if not isinstance(node, MappingNode) or not node.value:
            raise self.fail(
                node,
                f"'{name}' takes a value or {{operator: value}}; valid operators: {', '.join(valid)}",
            )
        conditions: list[Rule] = []
        for op_node, value_node in node.value:
            op = self.scalar(op_node, "an operator")
            if op not in valid:
                raise self.fail(op_node, f"unknown operator {op!r} for '{name}'; valid: {', '.join(valid)}")
            conditions.append(FieldCondition(name, op, self.listed_value(value_node, name, op)))
        return conditions[0] if len(conditions) == 1 else AllOf(tuple(conditions))

    def listed_value(self, node: Node, name: str, op: str) -> Value:
        """A value; for a role or language compared exactly, one of the site's keys."""
        value = self.value(node, name, op)
        listed = self.listed.get(name)
        if listed is None or op not in LISTED_OPS:
            return value
        items = value if isinstance(value, tuple) else (value,)
        items_nodes = node.value if isinstance(node, SequenceNode) else [node] * len(items)
        for item, item_node in zip(items, items_nodes, strict=True):
            if isinstance(item, str) and item not in listed.keys:
                meant = listed.resolve(item)
                hint = f"write its key {meant!r}" if meant else f"valid: {listed.described()}"
                raise self.fail(item_node, f"{item!r} is not a {name} key; {hint}")
        return value

    def value(self, node: Node, name: str, op: str) -> Value:
        what = f"'{name}: {op}'"
        if op in ("in", "not_in"):
            return self.scalars(node, what)
        if op == "exists":
            text = self.scalar(node, what).casefold()
            if text not in ("true", "false", "yes", "no"):
                raise self.fail(node, f"{what} takes true or false")
            return text in ("true", "yes")
        if op in NUMBER_OPS:
            text = self.scalar(node, what)
            try:
                return float(text)
            except ValueError:
                raise self.fail(node, f"{what} needs a number, not {text!r}") from None
        if op == "between":
            if not isinstance(node, SequenceNode) or len(node.value) != 2:
                raise self.fail(node, f"{what} needs a list of two dates, e.g. [today, today+60d]")
            return (self.date(node.value[0], what), self.date(node.value[1], what))
        if op in ("before", "after") or (op == "equals" and name in DATE_FIELDS):
            return self.date(node, what)
        return self.scalar(node, what)

    def date(self, node: Node, what: str) -> DateValue:
        text = self.scalar(node, what)
        relative = _RELATIVE.match(text.replace(" ", ""))
        if relative:
            sign, days = relative.groups()
            return RelativeDate((-1 if sign == "-" else 1) * int(days or 0))
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise self.fail(
                node,
                f"{what} needs a date (YYYY-MM-DD, today, today+60d or today-30d), not {text!r}",
            ) from None


def parse_rule(
    text: str,
    path: str = "<rule>",
    topics: Iterable[str] | None = None,
    choices: ProfileChoices | None = None,
) -> Rule:
    """A single rule from YAML text (used by tests and by ad-hoc `segments count --rule`)."""
    try:
        node = safe_yaml.compose(text, path, SegmentError)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise SegmentError(
            f"not valid YAML: {getattr(err, 'problem', err)}", path, mark.line + 1 if mark else None
        ) from err
    if node is None:
        raise SegmentError("the rule is empty", path)
    return _Parser(path, "", topics, choices).rule(node)


def load_segments(
    path: Path,
    topics: Iterable[str] | None = None,
    display: str | None = None,
    choices: ProfileChoices | None = None,
) -> dict[str, Segment]:
    """Every segment in segments.yaml, checked; errors carry ``path:line`` and the valid choices.

    With ``choices`` (the site's roles and languages), a role or language compared exactly must be
    one of their keys, so that a segment never silently matches nobody.
    """
    shown = display or str(path)
    try:
        node = safe_yaml.compose(path.read_text(encoding="utf-8"), shown, SegmentError)
    except FileNotFoundError:
        raise SegmentError("not found; create it (see docs/audience.md)", shown) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise SegmentError(
            f"not valid YAML: {getattr(err, 'problem', err)}",
            shown,
            mark.line + 1 if mark else None,
        ) from err
    if node is None:
        return {}
    if not isinstance(node, MappingNode):
        raise SegmentError("expected a mapping of segment name -> {description, rule}", shown, 1)
    topic_keys = tuple(topics) if topics is not None else None
    segments: dict[str, Segment] = {}
    for name_node, body in node.value:
        parser = _Parser(shown, "", topic_keys, choices)
        name = parser.scalar(name_node, "a segment name")
        line = name_node.start_mark.line + 1
        if not _NAME.match(name):
            raise SegmentError(
                f"segment name {name!r} must be lower-case letters, digits and dashes", shown, line
            )
        if name == ALL or name in segments:
            why = "is built in (every mailable subscriber)" if name == ALL else "is defined twice"
            raise SegmentError(f"segment {name!r} {why}", shown, line)
        parser.segment = name
        if not isinstance(body, MappingNode):
            raise parser.fail(body, "a segment needs 'description' and 'rule'")
        parts = {parser.scalar(k, "a key"): (k, v) for k, v in body.value}
        unknown = set(parts) - {"description", "rule"}
        if unknown:
            key_node = parts[sorted(unknown)[0]][0]
            raise parser.fail(key_node, f"unknown key {sorted(unknown)[0]!r}; valid: description, rule")
        if "rule" not in parts:
            raise parser.fail(body, "missing 'rule'")
        description = (
            parser.scalar(parts["description"][1], "description") if ("description" in parts) else ""
        )
        segments[name] = Segment(name, description, parser.rule(parts["rule"][1]), shown, line)
    return segments


def section_rule(condition: Condition) -> Rule:
    """The segment rule a ``::: only`` / ``::: unless`` section's condition means: the readers who get
    the section are exactly those this rule selects (the property tests hold the two together)."""
    parts: list[Rule] = [
        TopicCondition("has_any", term.values)
        if term.field == "topic"
        else FieldCondition(term.field, "in", term.values)
        for term in condition.terms
    ]
    rule: Rule = parts[0] if len(parts) == 1 else AllOf(tuple(parts))
    return Not(rule) if condition.negated else rule
