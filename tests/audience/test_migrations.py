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
