"""Automation steps: Markdown files in ``newsletters/automations/`` and, beside them, when each goes.

The trigger lives in ``automations.yaml`` (step name -> trigger) rather than in the step's front
matter, so a step file is an ordinary issue that ``outreach check`` and ``outreach preview`` read as
they are. Three kinds of trigger:

- ``after: confirmation`` (+ ``days``): when the subscriber confirmed (their ``confirmed`` consent
  event, or their signup date if they never had one), plus that many days;
- ``before: attributes.NAME`` (+ ``days``, ``at``): that many days before a date attribute such as
  ``renewal_date``, at ``at`` o'clock in the site's zone;
- ``before: event`` with ``event_date`` (+ ``days``, ``at``): that many days before the event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from outreach import safe_yaml
from outreach.scheduling.errors import AutomationsFileError, SchedulingError
from outreach.scheduling.timing import parse_clock

FOLDER = "automations"
TRIGGERS = "automations.yaml"
_ATTRIBUTE = re.compile(r"^attributes\.([A-Za-z0-9_]+)$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class Trigger(BaseModel):
    """When a step goes, as written in automations.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after: Literal["confirmation"] | None = None
    before: str | None = None
    days: int = Field(0, ge=0, le=3650)
    at: str = "09:00"
    event_date: date | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Trigger:
        if (self.after is None) == (self.before is None):
            raise ValueError(
                "say either 'after: confirmation' or 'before: attributes.NAME' / 'before: event'"
            )
        if self.before is not None and self.before != "event" and not _ATTRIBUTE.match(self.before):
            raise ValueError(f"'before' must be 'event' or 'attributes.NAME', not {self.before!r}")
        if self.before == "event" and self.event_date is None:
            raise ValueError("'before: event' needs 'event_date: YYYY-MM-DD'")
        if self.before != "event" and self.event_date is not None:
            raise ValueError("'event_date' belongs with 'before: event'")
        parse_clock(self.at, "at")
        return self

    @property
    def attribute(self) -> str | None:
        match = _ATTRIBUTE.match(self.before or "")
        return match.group(1) if match else None

    def describe(self) -> str:
        days = f"{self.days} day{'s' if self.days != 1 else ''}"
        if self.after:
            return "on confirmation" if not self.days else f"{days} after confirmation"
        if self.before == "event":
            return f"{days} before the event on {self.event_date}, at {self.at}"
        return f"{days} before {self.attribute}, at {self.at}"


@dataclass(frozen=True)
class Step:
    """One automation step: its name (the file's stem), its Markdown file and its trigger."""

    name: str
    path: Path
    trigger: Trigger


def load_steps(folder: Path) -> list[Step]:
    """Read automations.yaml; every step must have a file, and a bad trigger names file and step."""
    file = folder / TRIGGERS
    if not file.is_file():
        return []
    where = str(file)
    try:
        data = safe_yaml.load(file.read_text(encoding="utf-8"), where, AutomationsFileError) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or "cannot be read"
        raise AutomationsFileError(
            f"not valid YAML ({problem}); each line is 'step-name: {{after: confirmation}}' or similar",
            where,
            mark.line + 1 if mark else None,
        ) from None
    if not isinstance(data, dict):
        raise SchedulingError(f"{where} must map each step's name to its trigger")
    steps = []
    for name, body in data.items():
        name = str(name)
        if not _NAME.match(name):
            raise SchedulingError(f"{where}: step name {name!r} must be lower-case letters, digits and -")
        try:
            trigger = Trigger.model_validate(body or {})
        except ValidationError as err:
            first = err.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "trigger"
            raise SchedulingError(f"{where}: step {name!r}, {field}: {first['msg']}") from None
        path = folder / f"{name}.md"
        if not path.is_file():
            raise SchedulingError(f"{where}: step {name!r} has no file {path.name} beside it")
        steps.append(Step(name, path, trigger))
    return steps


def matching(steps: list[Step], name: str) -> list[Step]:
    """``welcome-2`` is one step; ``welcome`` is the whole series (welcome-1, welcome-2, ...)."""
    found = [s for s in steps if s.name == name or s.name.startswith(f"{name}-")]
    if not found:
        known = ", ".join(s.name for s in steps) or "none"
        raise SchedulingError(f"no automation step or series {name!r}; known steps: {known}")
    return found
