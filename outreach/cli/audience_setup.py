"""What the audience commands share: the database, the lists files, the roles and languages."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from outreach.audience.choices import ProfileChoices, profile_choices
from outreach.audience.consent import Consent
from outreach.audience.db import check_schema_current, make_engine
from outreach.audience.schema import ConsentMethod
from outreach.audience.segments import ALL, SEGMENTS_FILE, Segment, load_segments
from outreach.audience.topics import TOPICS_FILE, TopicDefinition, load_topics
from outreach.config import Config
from outreach.errors import SegmentError


def ready(config: Config) -> Engine:
    """The database, refused when its schema is behind the code."""
    engine = make_engine(config.database_url)
    check_schema_current(engine)
    return engine


def display(config: Config, path: Path) -> str:
    """A path as the user would type it: relative to the current folder, else to the project."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path.relative_to(config.root)) if path.is_relative_to(config.root) else str(path)


def choices(config: Config) -> ProfileChoices:
    """The site's roles and languages ([audience] in outreach.toml)."""
    return profile_choices(config.settings.audience)


def topics(config: Config) -> tuple[TopicDefinition, ...]:
    path = config.path("lists") / TOPICS_FILE
    return load_topics(path, display(config, path))


def segments(config: Config) -> dict[str, Segment]:
    path = config.path("lists") / SEGMENTS_FILE
    keys = [t.key for t in topics(config)]
    return load_segments(path, keys, display(config, path), choices(config))


def segment(config: Config, name: str) -> Segment | None:
    """The named segment (None for the built-in ``all``), or a SegmentError listing the known ones."""
    if name == ALL:
        return None
    found = segments(config)
    if name not in found:
        path = display(config, config.path("lists") / SEGMENTS_FILE)
        known = ", ".join([ALL, *found])
        raise SegmentError(f"unknown segment {name!r}; known: {known}", path)
    return found[name]


def admin(source: str) -> Consent:
    return Consent(ConsentMethod.ADMIN, source=source, actor="outreach cli")
