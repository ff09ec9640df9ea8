"""Finding people at 1,000,000 subscribers: indexes for the admin app's subscriber and consent pages.

The subscribers list is newest first (``id`` descending), filtered by status and language, paged by
an OFFSET over an index (so page 500 steps over index entries, not rows); a search matches the start
of the address, first name, last name or organisation, which a B-tree answers: on SQLite by a range
over ``lower(column)``, on PostgreSQL by ``LIKE 'ana%'`` over a ``pattern_ops`` index (indexable in
any collation). A person's consent log is read by address hash, newest first.

Revision ID: 0201
Revises: 0401
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0201"
down_revision = "0401"
branch_labels = None
depends_on = None

NAMES = ("first_name", "last_name", "organisation")


def upgrade() -> None:
    op.create_index("ix_subscribers_status_id", "subscribers", ["status", "id"])
    op.create_index("ix_subscribers_language_id", "subscribers", ["language", "id"])
    op.create_index("ix_subscribers_status_language_id", "subscribers", ["status", "language", "id"])
    op.create_index(
        "ix_subscribers_email_prefix",
        "subscribers",
        ["email"],
        postgresql_ops={"email": "varchar_pattern_ops"},
    )
    for name in NAMES:
        op.create_index(
            f"ix_subscribers_{name}_lower",
            "subscribers",
            [sa.func.lower(sa.text(name)).label(f"{name}_lower")],
            postgresql_ops={f"{name}_lower": "text_pattern_ops"},
        )


def downgrade() -> None:
    for name in reversed(NAMES):
        op.drop_index(f"ix_subscribers_{name}_lower", table_name="subscribers")
    op.drop_index("ix_subscribers_email_prefix", table_name="subscribers")
    op.drop_index("ix_subscribers_status_language_id", table_name="subscribers")
    op.drop_index("ix_subscribers_language_id", table_name="subscribers")
    op.drop_index("ix_subscribers_status_id", table_name="subscribers")
