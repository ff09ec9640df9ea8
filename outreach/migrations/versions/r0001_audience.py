"""Audience: subscribers, tags, topics, consent log, suppressions.

Revision ID: 0001
Revises:
Create Date: 2026-03-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JsonDocument = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=20)


STATUS = ("active", "unconfirmed", "unsubscribed", "bounced", "complained", "erased")
METHOD = ("form", "import", "admin", "one_click", "bounce", "complaint")
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
REASON = ("unsubscribed", "bounced", "complained", "manual", "erased")


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("email_hash", sa.String(64), nullable=False),
        sa.Column("first_name", sa.String(200), nullable=False),
        sa.Column("last_name", sa.String(200), nullable=False),
        sa.Column("organisation", sa.String(300), nullable=False),
        sa.Column("role", sa.String(100), nullable=False),
        sa.Column("region", sa.String(100), nullable=False),
        sa.Column("language", sa.String(20), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=True),
        sa.Column("status", _enum("subscriber_status", *STATUS), nullable=False),
        sa.Column("attributes", JsonDocument, nullable=False),
        sa.Column("signup_date", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subscribers"),
        sa.UniqueConstraint("email", name="uq_subscribers_email"),
    )
    op.create_index("ix_subscribers_email_hash", "subscribers", ["email_hash"])
    op.create_index("ix_subscribers_status_role_region", "subscribers", ["status", "role", "region"])

    op.create_table(
        "subscriber_tags",
        sa.Column("subscriber_id", BigId, nullable=False),
        sa.Column("tag", sa.String(100), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            ondelete="CASCADE",
            name="fk_subscriber_tags_subscriber_id_subscribers",
        ),
        sa.PrimaryKeyConstraint("subscriber_id", "tag", name="pk_subscriber_tags"),
    )
    op.create_index("ix_subscriber_tags_tag_subscriber_id", "subscriber_tags", ["tag", "subscriber_id"])

    op.create_table(
        "topics",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_topics"),
    )

    op.create_table(
        "subscriber_topics",
        sa.Column("subscriber_id", BigId, nullable=False),
        sa.Column("topic_key", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            ondelete="CASCADE",
            name="fk_subscriber_topics_subscriber_id_subscribers",
        ),
        sa.ForeignKeyConstraint(["topic_key"], ["topics.key"], name="fk_subscriber_topics_topic_key_topics"),
        sa.PrimaryKeyConstraint("subscriber_id", "topic_key", name="pk_subscriber_topics"),
    )
    op.create_index(
        "ix_subscriber_topics_topic_key_subscriber_id",
        "subscriber_topics",
        ["topic_key", "subscriber_id"],
    )

    op.create_table(
        "consent_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("subscriber_id", BigId, nullable=True),
        sa.Column("email_hash", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", _enum("consent_action", *ACTION), nullable=False),
        sa.Column("topics", sa.Text(), nullable=True),
        sa.Column("method", _enum("consent_method", *METHOD), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("notice_version", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            ondelete="SET NULL",
            name="fk_consent_events_subscriber_id_subscribers",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_consent_events"),
    )
    op.create_index("ix_consent_events_subscriber_id", "consent_events", ["subscriber_id"])
    op.create_index("ix_consent_events_email_hash", "consent_events", ["email_hash"])

    op.create_table(
        "suppressions",
        sa.Column("email_hash", sa.String(64), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("reason", _enum("suppression_reason", *REASON), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("email_hash", name="pk_suppressions"),
    )


def downgrade() -> None:
    op.drop_table("suppressions")
    op.drop_table("consent_events")
    op.drop_table("subscriber_topics")
    op.drop_table("topics")
    op.drop_table("subscriber_tags")
    op.drop_table("subscribers")
