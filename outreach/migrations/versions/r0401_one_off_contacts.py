"""One-off letters to a list of contacts: the ``contact`` status, the ``contacted`` consent action and
each ledger row's own fields (the contact's columns from the CSV).

Both enums are VARCHAR with a CHECK constraint; the constraint is replaced (SQLite rebuilds the table
through batch mode).

Revision ID: 0401
Revises: 0106
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0401"
down_revision = "0106"
branch_labels = None
depends_on = None

JsonDocument = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

STATUS = ("active", "unconfirmed", "unsubscribed", "bounced", "complained", "erased")
ACTION = (
    "subscribed",
    "confirmed",
    "unsubscribed",
    "topic_added",
    "topic_removed",
    "suppressed",
    "unsuppressed",
    "erased",
)


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=20)


def _replace(table: str, column: str, name: str, old: tuple[str, ...], new: tuple[str, ...]) -> None:
    with op.batch_alter_table(table) as batch:
        batch.alter_column(
            column, existing_type=_enum(name, *old), type_=_enum(name, *new), existing_nullable=False
        )


def upgrade() -> None:
    _replace("subscribers", "status", "subscriber_status", STATUS, (*STATUS, "contact"))
    _replace("consent_events", "action", "consent_action", ACTION, (*ACTION, "contacted"))
    op.add_column("deliveries", sa.Column("fields", JsonDocument, nullable=True))


def downgrade() -> None:
    op.drop_column("deliveries", "fields")
    op.execute("DELETE FROM consent_events WHERE action = 'contacted'")
    op.execute("UPDATE subscribers SET status = 'unsubscribed' WHERE status = 'contact'")
    _replace("consent_events", "action", "consent_action", (*ACTION, "contacted"), ACTION)
    _replace("subscribers", "status", "subscriber_status", (*STATUS, "contact"), STATUS)
