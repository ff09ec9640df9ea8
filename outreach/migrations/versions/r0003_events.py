"""Events: bounces, complaints, unsubscribes, deliveries and clicks that came back from providers.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JsonDocument = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
EVENT_KIND = ("delivered", "bounced_hard", "bounced_soft", "complained", "unsubscribed", "clicked")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=20)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("provider_event_id", sa.String(length=250), nullable=False),
        sa.Column("kind", _enum("event_kind", *EVENT_KIND), nullable=False),
        sa.Column("campaign_id", BigId, nullable=True),
        sa.Column("delivery_id", BigId, nullable=True),
        sa.Column("subscriber_id", BigId, nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("raw", JsonDocument, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_events_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_events_delivery_id_deliveries"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_events_subscriber_id_subscribers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint(
            "provider", "provider_event_id", name=op.f("uq_events_provider_provider_event_id")
        ),
    )
    op.create_index("ix_events_campaign_id_kind", "events", ["campaign_id", "kind"], unique=False)
    op.create_index("ix_events_subscriber_id_kind", "events", ["subscriber_id", "kind"], unique=False)
    op.create_index(op.f("ix_events_delivery_id"), "events", ["delivery_id"], unique=False)


def downgrade() -> None:
    op.drop_table("events")
