"""Fixtures for the audience tests: one database per test, on SQLite and (when asked) PostgreSQL.

PostgreSQL runs when ``OUTREACH_TEST_DATABASE_URL`` is set (CI sets it), e.g.
``OUTREACH_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test``. Each PostgreSQL
test gets a fresh schema (via ``search_path``) with the migrations applied, dropped afterwards.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from outreach.audience.db import transaction
from outreach.audience.topics import TopicDefinition, load_topics, sync_topics
from outreach.clock import FixedClock
from tests.databases import (  # noqa: F401 - fixtures: sqlite_template, backend, engine, database_url
    backend_fixture,
    database_url_fixture,
    engine_fixture,
    sqlite_template_fixture,
)

ROOT = Path(__file__).resolve().parents[2]
LISTS = ROOT / "lists"
TODAY = date(2026, 3, 1)


@pytest.fixture(scope="session")
def topics() -> tuple[TopicDefinition, ...]:
    return load_topics(LISTS / "topics.yaml")


@pytest.fixture
def synced(engine: Engine, topics: tuple[TopicDefinition, ...]) -> Engine:
    """The database with lists/topics.yaml synced in."""
    with transaction(engine) as session:
        sync_topics(session, topics)
    return engine


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 3, 1, 14, 0, tzinfo=UTC))
