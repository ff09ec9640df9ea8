"""Fixtures for the audience tests: one database per test, on SQLite and (when asked) PostgreSQL.

PostgreSQL runs when ``OUTREACH_TEST_DATABASE_URL`` is set (CI sets it), e.g.
``OUTREACH_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test``. Each PostgreSQL
test gets a fresh schema (via ``search_path``) with the migrations applied, dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from outreach.audience.db import make_engine, transaction, upgrade
from outreach.audience.topics import TopicDefinition, load_topics, sync_topics
from outreach.clock import FixedClock

ROOT = Path(__file__).resolve().parents[2]
LISTS = ROOT / "lists"
PG_URL = os.environ.get("OUTREACH_TEST_DATABASE_URL", "")
PG_SKIP = (
    "PostgreSQL tests need OUTREACH_TEST_DATABASE_URL, e.g. "
    "OUTREACH_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TODAY = date(2026, 3, 1)

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=[pytest.mark.postgres, pytest.mark.skipif(not PG_URL, reason=PG_SKIP)],
    ),
]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An upgraded SQLite file, copied for each test (migrating once is faster)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def _pg_engine(schema: str) -> Engine:
    # In the URL (not connect_args) so that CLI tests given engine.url land in the same schema.
    separator = "&" if "?" in PG_URL else "?"
    return make_engine(f"{PG_URL}{separator}options=-csearch_path%3D{schema}")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def engine(backend: str, tmp_path: Path, sqlite_template: Path) -> Iterator[Engine]:
    """A migrated, empty database for one test."""
    if backend == "sqlite":
        path = tmp_path / "outreach.db"
        shutil.copy(sqlite_template, path)
        sqlite = make_engine(f"sqlite:///{path}")
        yield sqlite
        sqlite.dispose()
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(sa.schema.CreateSchema(schema))
    pg = _pg_engine(schema)
    try:
        upgrade(pg)
        yield pg
    finally:
        pg.dispose()
        with admin.begin() as connection:
            connection.execute(sa.schema.DropSchema(schema, cascade=True))
        admin.dispose()


@pytest.fixture
def database_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


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
