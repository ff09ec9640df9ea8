"""Topics: the kinds of mail people choose (``lists/topics.yaml``), mirrored into the database.

The YAML file is the source of truth an admin edits; ``sync_topics`` copies it into the ``topics``
table so that subscriptions can reference a topic by key with a foreign key. Topics that disappear
from the file are kept in the table (subscriptions and the consent log still point at them). The file
is composed through ``safe_yaml`` (no aliases, bounded depth and size), so every mistake is reported
at its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
import yaml
from sqlalchemy.orm import Session
from yaml.nodes import MappingNode, Node, ScalarNode

from outreach import safe_yaml
from outreach.audience.schema import Topic
from outreach.errors import TopicsError

TOPICS_FILE = "topics.yaml"
_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class TopicDefinition:
    """One topic of topics.yaml; ``default`` topics go to imported rows that name none."""

    key: str
    name: str
    description: str = ""
    default: bool = False


def load_topics(path: Path, display: str | None = None) -> tuple[TopicDefinition, ...]:
    """Read and check topics.yaml: a mapping of key -> {name, description, default}."""
    shown = display or str(path)
    try:
        node = safe_yaml.compose(path.read_text(encoding="utf-8"), shown, TopicsError)
    except FileNotFoundError:
        raise TopicsError(
            "not found; create it with one entry per topic (see docs/audience.md)", shown
        ) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise TopicsError(
            f"not valid YAML: {getattr(err, 'problem', err)}", shown, mark.line + 1 if mark else None
        ) from err
    if not isinstance(node, MappingNode) or not node.value:
        raise TopicsError("expected a mapping of topic key -> name and description", shown, _line(node))
    topics = [_topic(key_node, body, shown) for key_node, body in node.value]
    for index, (key_node, _) in enumerate(node.value):
        if topics[index].key in {t.key for t in topics[:index]}:
            raise TopicsError(f"topic {topics[index].key!r} is defined twice", shown, _line(key_node))
    return tuple(topics)


def _line(node: Node | None) -> int:
    return node.start_mark.line + 1 if node is not None else 1


def _text(node: Node, what: str, shown: str) -> str:
    if not isinstance(node, ScalarNode):
        raise TopicsError(f"{what} must be a single value", shown, _line(node))
    return str(node.value).strip()


def _topic(key_node: Node, body: Node, shown: str) -> TopicDefinition:
    key = _text(key_node, "a topic key", shown)
    if not _KEY.match(key):
        raise TopicsError(
            f"topic key {key!r} must be lower-case letters, digits and dashes", shown, _line(key_node)
        )
    if not isinstance(body, MappingNode):
        raise TopicsError(f"topic {key!r} needs at least a 'name'", shown, _line(body))
    fields = {_text(k, "a field name", shown): v for k, v in body.value}
    unknown = sorted(set(fields) - {"name", "description", "default"})
    if unknown:
        raise TopicsError(
            f"topic {key!r} has unknown keys {unknown}; valid: name, description, default", shown, _line(body)
        )
    if "name" not in fields:
        raise TopicsError(f"topic {key!r} needs at least a 'name'", shown, _line(body))
    default = _text(fields["default"], "'default'", shown).casefold() if "default" in fields else "false"
    if default not in ("true", "false", "yes", "no"):
        raise TopicsError(f"topic {key!r}: 'default' is true or false", shown, _line(fields["default"]))
    return TopicDefinition(
        key=key,
        name=_text(fields["name"], "'name'", shown),
        description=_text(fields["description"], "'description'", shown) if "description" in fields else "",
        default=default in ("true", "yes"),
    )


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
