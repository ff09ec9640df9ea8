"""Migrations 0003 and 0103 create exactly the events and webhook_tokens tables the ORM describes."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

import outreach.events.schema  # noqa: F401 - puts the events table into the shared metadata
from outreach.delivery.schema import metadata


def _about_events(difference: object) -> bool:
    text = repr(difference)
    return ("events" in text and "campaign_events" not in text) or "webhook_tokens" in text


def test_the_events_migration_matches_the_model(engine: Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    # Other stages' tables are checked by their own tests; only the events table is this test's business.
    assert [d for d in differences if _about_events(d)] == []
    assert "events" in metadata.tables and "webhook_tokens" in metadata.tables
