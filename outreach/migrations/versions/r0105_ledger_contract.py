"""Campaigns: language edition, archive flag, one active campaign per issue and edition; ledger rows:
their edition and when they were claimed (the per-hour and per-day limits count these).

Existing campaigns keep the archive they had (every campaign but an automation step's). Existing
duplicates (two active campaigns of one issue, the bug the new index prevents) would make the index
impossible: the newer ones are cancelled here, their pending rows skipped, and their history says why.

Revision ID: 0105
Revises: 0104
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0105"
down_revision = "0104"
branch_labels = None
depends_on = None

ACTIVE = "status IN ('scheduled', 'sending', 'paused')"


def upgrade() -> None:
    op.add_column(
        "campaigns", sa.Column("language", sa.String(length=35), server_default="en", nullable=False)
    )
    op.add_column("campaigns", sa.Column("archive", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("deliveries", sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "deliveries", sa.Column("language", sa.String(length=35), server_default="", nullable=False)
    )
    op.execute(
        "UPDATE campaigns SET archive = true WHERE id NOT IN "
        "(SELECT campaign_id FROM scheduled_sends WHERE kind = 'automation')"
    )
    op.execute("UPDATE deliveries SET language = 'en'")
    op.execute("UPDATE deliveries SET claimed_at = updated_at WHERE state IN ('sending', 'sent', 'unknown')")
    _cancel_duplicates()
    op.create_index("ix_deliveries_claimed_at", "deliveries", ["claimed_at"], unique=False)
    op.create_index(
        "uq_campaigns_active_issue",
        "campaigns",
        ["issue_slug", "language"],
        unique=True,
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )


def _cancel_duplicates() -> None:
    """Every active campaign of an issue but the oldest becomes cancelled, as `campaigns cancel` does."""
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(f"SELECT id, issue_slug FROM campaigns WHERE {ACTIVE} ORDER BY issue_slug, id")
    ).all()
    kept: dict[str, int] = {}
    now = datetime.now(UTC)
    at = sa.bindparam("now", type_=sa.DateTime(timezone=True))
    for campaign_id, slug in rows:
        if slug not in kept:
            kept[slug] = campaign_id
            continue
        detail = (
            f"cancelled by the upgrade: campaign {kept[slug]} of the same issue was already active "
            "(two campaigns of one issue would send it twice)"
        )
        connection.execute(
            sa.text("UPDATE campaigns SET status = 'cancelled' WHERE id = :id"), {"id": campaign_id}
        )
        connection.execute(
            sa.text(
                "UPDATE deliveries SET state = 'skipped', reason = 'campaign cancelled', updated_at = :now "
                "WHERE campaign_id = :id AND state = 'pending'"
            ).bindparams(at),
            {"id": campaign_id, "now": now},
        )
        connection.execute(
            sa.text(
                "INSERT INTO campaign_events (campaign_id, at, kind, detail) "
                "VALUES (:id, :now, 'cancelled', :detail)"
            ).bindparams(at),
            {"id": campaign_id, "now": now, "detail": detail},
        )


def downgrade() -> None:
    op.drop_index("uq_campaigns_active_issue", table_name="campaigns")
    op.drop_index("ix_deliveries_claimed_at", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("language")
        batch.drop_column("claimed_at")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("archive")
        batch.drop_column("language")
