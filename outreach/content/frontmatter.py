"""Front matter: split it from the body, validate it, and keep each field's line for messages.

The schema is a pydantic model that forbids unknown keys, so ``subjet:`` is an error that names the
line and the valid fields rather than a silently missing subject.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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


def _field_lines(yaml_text: str) -> dict[str, int]:
    node = yaml.compose(yaml_text)
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, _value in node.value:
            lines[str(key.value)] = key.start_mark.line + 2  # +1 for 1-based, +1 for the fence
    return lines


def parse_front_matter(yaml_text: str, path: str, zone: ZoneInfo) -> tuple[FrontMatter, dict[str, int]]:
    """Validate the YAML; every problem is reported with the line of its field."""
    try:
        data = yaml.safe_load(yaml_text) or {}
        lines = _field_lines(yaml_text)
    except yaml.YAMLError as err:
        # An unclosed quote is noticed at the end of the YAML; the context mark is where it opened.
        mark = getattr(err, "context_mark", None) or getattr(err, "problem_mark", None)
        line = mark.line + 2 if mark else 1
        problem = getattr(err, "problem", None) or str(err)
        raise ContentError(
            f"front matter is not valid YAML ({problem}); check quotes and colons", path, line
        ) from None
    if not isinstance(data, dict):
        raise ContentError("front matter must be 'field: value' lines", path, 2)
    try:
        matter = FrontMatter.model_validate(data)
    except ValidationError as err:
        raise _first_problem(err, lines, path) from None
    if matter.send_at is not None and matter.send_at.tzinfo is None:
        matter = matter.model_copy(update={"send_at": matter.send_at.replace(tzinfo=zone)})
    return matter, lines


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
        else:
            message = f"'{field}': {item['msg']} (got {item.get('input')!r})"
        problems.append(ContentError(message, path, line))
    return problems[0] if len(problems) == 1 else ContentErrors(problems)
