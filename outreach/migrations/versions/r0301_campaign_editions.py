"""Campaigns send every language edition of an issue: ``campaign_editions`` holds the editions
beyond the default one (the campaign row's), and one campaign per issue is active at a time, whatever
its language (the partial unique index is on the issue alone).

Revision 0105 already cancelled every active campaign of an issue but the oldest, whatever its
language, so no two active campaigns of one issue can stand in the way of the narrower index.

Revision ID: 0301
Revises: 0201
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0301"
down_revision = "0201"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ACTIVE = "status IN ('scheduled', 'sending', 'paused')"


def upgrade() -> None:
    op.create_table(
        "campaign_editions",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("issue_path", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("subject_source", sa.Text(), nullable=False),
        sa.Column("html_source", sa.Text(), nullable=False),
        sa.Column("text_source", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name="fk_campaign_editions_campaign_id_campaigns",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_campaign_editions"),
        sa.UniqueConstraint("campaign_id", "language", name="uq_campaign_editions_campaign_id_language"),
    )
    op.drop_index("uq_campaigns_active_issue", table_name="campaigns")
    op.create_index(
        "uq_campaigns_active_issue",
        "campaigns",
        ["issue_slug"],
        unique=True,
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )


def downgrade() -> None:
    op.drop_index("uq_campaigns_active_issue", table_name="campaigns")
    op.create_index(
        "uq_campaigns_active_issue",
        "campaigns",
        ["issue_slug", "language"],
        unique=True,
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )
    op.drop_table("campaign_editions")
