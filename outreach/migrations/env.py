"""Alembic environment: runs on the connection ``outreach.audience.db.upgrade`` hands in.

No alembic.ini is needed; ``outreach db upgrade`` drives this programmatically. For autogenerate
during development, the URL in the Alembic config is used instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

# Every stage's tables share one metadata; importing each schema module registers its tables.
import outreach.accounts.schema
import outreach.audience.audit
import outreach.audience.site_keys
import outreach.delivery.tracking
import outreach.events.schema
import outreach.scheduling.schema
import outreach.web.calendar_schema
import outreach.web.mail_schema  # noqa: F401
from outreach.delivery.schema import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.begin() as own:
        context.configure(connection=own, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
