"""Scheduling: the scheduler lease, the campaigns the scheduler owns, automation steps.

APScheduler's own ``apscheduler_jobs`` table is created by its SQLAlchemy job store, not here.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "scheduler_leases",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_leases")),
    )
    op.create_table(
        "scheduled_sends",
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("local_time", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_scheduled_sends_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_scheduled_sends")),
    )
    op.create_index(op.f("ix_scheduled_sends_name"), "scheduled_sends", ["name"], unique=False)
    op.create_table(
        "automation_steps",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("campaign_id", BigId, nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_automation_steps_campaign_id_campaigns"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_automation_steps")),
    )


def downgrade() -> None:
    op.drop_table("automation_steps")
    op.drop_index(op.f("ix_scheduled_sends_name"), table_name="scheduled_sends")
    op.drop_table("scheduled_sends")
    op.drop_table("scheduler_leases")
