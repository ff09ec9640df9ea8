"""System mails: sign-ups waiting for their confirmation mail, sent by a worker off the request path.

Revision ID: 0104
Revises: 0103
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0104"
down_revision = "0103"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JsonDocument = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
STATES = ("received", "pending", "sending", "sent", "failed", "skipped", "unknown")


def upgrade() -> None:
    op.create_table(
        "system_mails",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column(
            "state",
            sa.Enum(*STATES, name="system_mail_state", native_enum=False, create_constraint=True, length=20),
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("request", JsonDocument, nullable=True),
        sa.Column("subscriber_id", BigId, nullable=True),
        sa.Column("confirm", JsonDocument, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=250), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_mails")),
    )
    op.create_index("ix_system_mails_state_due_at", "system_mails", ["state", "due_at"], unique=False)
    op.create_index(op.f("ix_system_mails_address_hash"), "system_mails", ["address_hash"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_system_mails_address_hash"), table_name="system_mails")
    op.drop_index("ix_system_mails_state_due_at", table_name="system_mails")
    op.drop_table("system_mails")
