"""Adding and changing topics from the admin app: the file first (it is the source of truth), then the
database's copy, then the audit log, in one transaction (if the database part fails the file is
already right, and the next save or ``outreach db upgrade`` copies it again)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from outreach.audience.audit import record
from outreach.audience.topics import TopicDefinition, sync_topics
from outreach.audience.topics_file import save_topic
from outreach.clock import Clock
from outreach.models import Actor


def save_topic_for(
    session: Session, path: Path, definition: TopicDefinition, *, new: bool, actor: Actor, clock: Clock
) -> tuple[TopicDefinition, ...]:
    """Write one topic to ``path`` (topics.yaml), mirror the file into the database, audit the change."""
    topics = save_topic(path, definition, new=new)
    sync_topics(session, topics)
    record(
        session,
        actor,
        "topic.add" if new else "topic.edit",
        f"topic {definition.key}",
        clock,
        {"name": definition.name, "default": definition.default},
    )
    return topics
