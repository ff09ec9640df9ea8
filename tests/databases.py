"""One test database per test, on SQLite always and on PostgreSQL when asked: shared by every suite.

PostgreSQL runs when ``OUTREACH_TEST_DATABASE_URL`` is set (CI sets it), e.g.
``OUTREACH_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test``. Each PostgreSQL test
gets a fresh schema, chosen by ``search_path`` in the URL (so CLI subprocesses given the URL land in the
same schema), migrated, and dropped afterwards. SQLite tests copy a file migrated once per session.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from outreach.audience.db import make_engine, upgrade

PG_URL = os.environ.get("OUTREACH_TEST_DATABASE_URL", "")
PG_SKIP = (
    "PostgreSQL tests need OUTREACH_TEST_DATABASE_URL, e.g. "
    "OUTREACH_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=[pytest.mark.postgres, pytest.mark.skipif(not PG_URL, reason=PG_SKIP)],
    ),
]


def pg_url(schema: str) -> str:
    """The test server's URL with ``search_path`` set to ``schema``."""
    separator = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{separator}options=-csearch_path%3D{schema}"


def migrated_sqlite(path: Path) -> Path:
    """Migrate a new SQLite file at ``path`` and fold its WAL in, ready to be copied per test."""
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@contextmanager
def fresh_database(backend: str, tmp_path: Path, sqlite_template: Path) -> Iterator[Engine]:
    """A migrated, empty database for one test, removed afterwards."""
    if backend == "sqlite":
        path = tmp_path / "outreach.db"
        shutil.copy(sqlite_template, path)
        sqlite = make_engine(f"sqlite:///{path}")
        try:
            yield sqlite
        finally:
            sqlite.dispose()
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(sa.schema.CreateSchema(schema))
    pg = make_engine(pg_url(schema))
    try:
        upgrade(pg)
        yield pg
    finally:
        pg.dispose()
        with admin.begin() as connection:
            connection.execute(sa.schema.DropSchema(schema, cascade=True))
        admin.dispose()


# -- the fixtures every database suite uses (its conftest imports them by these names) -----------------


@pytest.fixture(scope="session", name="sqlite_template")
def sqlite_template_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An upgraded SQLite file, copied for each test (migrating once is faster)."""
    return migrated_sqlite(tmp_path_factory.mktemp("template") / "template.db")


@pytest.fixture(params=BACKENDS, name="backend")
def backend_fixture(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(name="engine")
def engine_fixture(backend: str, tmp_path: Path, sqlite_template: Path) -> Iterator[Engine]:
    """A migrated, empty database for one test."""
    with fresh_database(backend, tmp_path, sqlite_template) as database:
        yield database


@pytest.fixture(name="database_url")
def database_url_fixture(engine: Engine) -> str:
    """The test database's URL, for CLI subprocesses (a PostgreSQL one names the test's schema)."""
    return engine.url.render_as_string(hide_password=False)
