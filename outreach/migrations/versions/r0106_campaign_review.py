"""Campaigns keep what was reviewed: the git commit the issue went out from and the fingerprint
(SHA-256) of its rendered message. Campaigns made before this have neither ('').

Revision ID: 0106
Revises: 0105
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0106"
down_revision = "0105"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "campaigns", sa.Column("reviewed_commit", sa.String(length=64), server_default="", nullable=False)
    )
    op.add_column(
        "campaigns", sa.Column("content_hash", sa.String(length=64), server_default="", nullable=False)
    )


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("content_hash")
        batch.drop_column("reviewed_commit")
