"""Front matter: split it from the body, validate it, and keep each field's line for messages.

The schema is a pydantic model that forbids unknown keys, so ``subjet:`` is an error that names the
line and the valid fields rather than a silently missing subject. The YAML is read through
``outreach.safe_yaml`` (no aliases, capped depth and size), composed once: the same node tree gives
each field's line and its value, so an impossible date names its field and line.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from outreach import safe_yaml
from outreach.errors import ContentError
from outreach.models import IssueStatus, Layout

FENCE = "---"


class AudienceField(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topics: list[str] = Field(default_factory=list)
    segments: list[str] = Field(default_factory=list)

    @field_validator("topics", "segments", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class FrontMatter(BaseModel):
    """Every field staff may write at the top of an issue."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    subject: str
    preheader: str = ""
    title: str = ""
    date: dt.date | None = None
    template: Layout = Layout.NEWSLETTER
    audience: AudienceField = Field(default_factory=AudienceField)
    send_at: dt.datetime | None = None
    from_: str = Field(default="", alias="from")
    reply_to: str = ""
    language: str = "en"
    utm_campaign: str = ""
    status: IssueStatus = IssueStatus.DRAFT

    @field_validator("subject", "preheader", "title", "reply_to", "from_", "utm_campaign", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, int | float):
            return str(value)
        return value.strip() if isinstance(value, str) else value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        parts = value.replace("_", "-").split("-")
        if not parts[0].isalpha() or not 2 <= len(parts[0]) <= 3:
            raise ValueError("use a language tag like en, es or en-US")
        return "-".join([parts[0].lower(), *(p.upper() if len(p) == 2 else p for p in parts[1:])])


FIELD_NAMES = (
    "subject",
    "preheader",
    "title",
    "date",
    "template",
    "audience",
    "send_at",
    "from",
    "reply_to",
    "language",
    "utm_campaign",
    "status",
)


def split_front_matter(source: str, path: str) -> tuple[str, str, int]:
    """Return (front matter text, body, line where the body starts)."""
    text = source.removeprefix("\ufeff")
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != FENCE:
        raise ContentError(
            "the issue must start with front matter between two '---' lines "
            "(run `outreach new` for a starter file)",
            path,
            1,
        )
    for index in range(1, len(lines)):
        if lines[index].strip() in (FENCE, "..."):
            return "".join(lines[1:index]), "".join(lines[index + 1 :]), index + 2
    raise ContentError("the front matter is never closed: add a line with '---' after it", path, 1)


# How to write the fields YAML reads as dates, for the message when a date does not exist.
DATE_FORMS = {
    "date": "YYYY-MM-DD, like 2026-12-01",
    "send_at": "YYYY-MM-DD HH:MM, like 2026-12-01 09:00",
}


def parse_front_matter(yaml_text: str, path: str, zone: ZoneInfo) -> tuple[FrontMatter, dict[str, int]]:
    """Validate the YAML; every problem is reported with the line of its field."""
    data, lines = _read_fields(yaml_text, path)
    try:
        matter = FrontMatter.model_validate(data)
    except ValidationError as err:
        raise _first_problem(err, lines, path) from None
    if matter.send_at is not None and matter.send_at.tzinfo is None:
        matter = matter.model_copy(update={"send_at": matter.send_at.replace(tzinfo=zone)})
    return matter, lines


def _read_fields(yaml_text: str, path: str) -> tuple[dict[str, Any], dict[str, int]]:
    """The front matter's fields and the file line of each (the text starts on line 2)."""
    try:
        node = safe_yaml.compose(yaml_text, path, ContentError, first_line=2)
    except yaml.YAMLError as err:
        raise _syntax_error(err, path) from None
    if node is None:
        return {}, {}
    if not isinstance(node, yaml.MappingNode):
        raise ContentError("front matter must be 'field: value' lines", path, 2)
    loader = yaml.SafeLoader("")
    data: dict[str, Any] = {}
    lines: dict[str, int] = {}
    try:
        for key_node, value_node in node.value:
            key = str(loader.construct_object(key_node, deep=True))
            line = key_node.start_mark.line + 2  # +1 for 1-based, +1 for the fence
            lines[key] = line
            data[key] = _field_value(loader, key, value_node, path, line)
    except yaml.YAMLError as err:
        raise _syntax_error(err, path) from None
    finally:
        loader.dispose()
    return data, lines


def _field_value(loader: yaml.SafeLoader, key: str, node: yaml.Node, path: str, line: int) -> Any:
    try:
        return loader.construct_object(node, deep=True)
    except ValueError:
        # PyYAML reads 2027-13-45 as a date and fails inside ``datetime.date`` with a bare ValueError.
        bad = _failing_scalar(node) or node
        form = DATE_FORMS.get(key, "YYYY-MM-DD")
        raise ContentError(
            f"'{key}': {bad.value!r} is not a real date; write it as {form}",
            path,
            bad.start_mark.line + 2 if bad is not node else line,
        ) from None


def _failing_scalar(node: yaml.Node) -> yaml.ScalarNode | None:
    """The scalar inside ``node`` that cannot be built (a date that does not exist)."""
    if isinstance(node, yaml.ScalarNode):
        try:
            yaml.SafeLoader("").construct_object(node)
        except ValueError:
            return node
        return None
    children: list[yaml.Node] = []
    if isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    for child in children:
        found = _failing_scalar(child)
        if found is not None:
            return found
    return None


def _syntax_error(err: yaml.YAMLError, path: str) -> ContentError:
    # An unclosed quote is noticed at the end of the YAML; the context mark is where it opened.
    mark = getattr(err, "context_mark", None) or getattr(err, "problem_mark", None)
    line = mark.line + 2 if mark else 1
    problem = getattr(err, "problem", None) or str(err)
    return ContentError(f"front matter is not valid YAML ({problem}); check quotes and colons", path, line)


def _first_problem(err: ValidationError, lines: dict[str, int], path: str) -> ContentError:
    from outreach.errors import ContentErrors

    problems: list[ContentError] = []
    for item in err.errors():
        loc = [str(p) for p in item["loc"]]
        key = "from" if loc and loc[0] == "from_" else (loc[0] if loc else "")
        line = lines.get(key, 2)
        field = ".".join(["from" if p == "from_" else p for p in loc])
        if item["type"] == "extra_forbidden":
            message = f"unknown field '{field}'; valid fields: {', '.join(FIELD_NAMES)}"
        elif item["type"] == "missing":
            message = f"'{field}' is required"
            line = 2
        elif item["type"] == "enum":
            expected = item.get("ctx", {}).get("expected", "")
            message = f"'{field}' must be one of {expected}, not {item.get('input')!r}"
        elif key in DATE_FORMS:
            message = f"'{field}': {item.get('input')!r} is not a date; write it as {DATE_FORMS[key]}"
        else:
            message = f"'{field}': {item['msg']} (got {item.get('input')!r})"
        problems.append(ContentError(message, path, line))
    return problems[0] if len(problems) == 1 else ContentErrors(problems)
