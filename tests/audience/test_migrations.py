"""The migrations create exactly the tables the ORM describes, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

import outreach.accounts.schema
import outreach.audience.audit
import outreach.audience.site_keys  # noqa: F401 - every table the migrations make is in the metadata
from outreach.audience.db import check_schema_current, current_revision, head_revision
from outreach.delivery.schema import metadata  # audience and delivery tables share one metadata


def test_migrations_match_the_models(engine: Engine) -> None:
    check_schema_current(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []


def test_the_search_indexes_survive_every_migration(engine: Engine) -> None:
    """Expression indexes (``lower(first_name)``) cannot be reflected: a later migration that rebuilds
    the subscribers table in SQLite's batch mode would drop them without a word. After every
    migration, the search's indexes are all there."""
    import sqlalchemy as sa

    wanted = {f"ix_subscribers_{name}_lower" for name in ("first_name", "last_name", "organisation")}
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            query = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'subscribers'"
        else:
            query = "SELECT indexname FROM pg_indexes WHERE tablename = 'subscribers'"
        present = set(connection.scalars(sa.text(query)))
    assert wanted <= present, sorted(wanted - present)
