"""Click tracking: one counter per link per campaign (no per-recipient data).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "link_clicks",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("url_hash", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.Column("last_clicked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_link_clicks_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_clicks")),
        sa.UniqueConstraint("campaign_id", "url_hash", name=op.f("uq_link_clicks_campaign_id_url_hash")),
    )
    op.create_index(op.f("ix_link_clicks_campaign_id"), "link_clicks", ["campaign_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_link_clicks_campaign_id"), table_name="link_clicks")
    op.drop_table("link_clicks")
