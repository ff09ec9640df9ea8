"""Topics: the kinds of mail people choose (``lists/topics.yaml``), mirrored into the database.

The YAML file is the source of truth an admin edits; ``sync_topics`` copies it into the ``topics``
table so that subscriptions can reference a topic by key with a foreign key. Topics that disappear
from the file are kept in the table (subscriptions and the consent log still point at them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
import yaml
from sqlalchemy.orm import Session

from outreach.audience.schema import Topic
from outreach.errors import AudienceError

TOPICS_FILE = "topics.yaml"
_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class TopicDefinition:
    """One topic of topics.yaml; ``default`` topics go to imported rows that name none."""

    key: str
    name: str
    description: str = ""
    default: bool = False


def load_topics(path: Path) -> tuple[TopicDefinition, ...]:
    """Read and check topics.yaml: a mapping of key -> {name, description, default}."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AudienceError(f"{path} not found; create it with one entry per topic") from None
    except yaml.YAMLError as err:
        raise AudienceError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(document, dict) or not document:
        raise AudienceError(f"{path}: expected a mapping of topic key -> name and description")
    topics = []
    for key, body in document.items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise AudienceError(f"{path}: topic key {key!r} must be lower-case letters, digits and dashes")
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            raise AudienceError(f"{path}: topic {key!r} needs at least a 'name'")
        unknown = set(body) - {"name", "description", "default"}
        if unknown:
            raise AudienceError(
                f"{path}: topic {key!r} has unknown keys {sorted(unknown)}; valid: name, description, default"
            )
        topics.append(
            TopicDefinition(
                key=key,
                name=body["name"],
                description=str(body.get("description") or "").strip(),
                default=bool(body.get("default", False)),
            )
        )
    return tuple(topics)


def sync_topics(session: Session, topics: tuple[TopicDefinition, ...]) -> None:
    """Insert new topics and refresh names and descriptions of known ones."""
    known = {t.key: t for t in session.scalars(sa.select(Topic))}
    for definition in topics:
        row = known.get(definition.key)
        if row is None:
            session.add(Topic(key=definition.key, name=definition.name, description=definition.description))
        else:
            row.name = definition.name
            row.description = definition.description
    session.flush()


def resolve_topic(name: str, topics: tuple[TopicDefinition, ...]) -> str | None:
    """The key of the topic called ``name`` (its key or its name, any case), or None."""
    return _topic_index(topics).get(name.strip().casefold())


@lru_cache(maxsize=8)
def _topic_index(topics: tuple[TopicDefinition, ...]) -> dict[str, str]:
    # Built once per topics file: an import resolves a topic name for every row.
    index: dict[str, str] = {}
    for topic in reversed(topics):  # the first topic wins a clash, as a linear search would
        index[topic.name.casefold()] = topic.key
        index[topic.key.casefold()] = topic.key
    return index
