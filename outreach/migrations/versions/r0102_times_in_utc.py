"""Times on SQLite: rewrite values stored with an offset as UTC without one, like all the others.

Bulk writes (imports, ledger updates) used to hand aware datetimes straight to sqlite3, which stores
``2026-12-01 14:00:00.000000+00:00`` where every other write stores ``2026-12-01 14:00:00.000000``.
SQLite compares these as text, so the two kinds did not order or compare correctly against each other.
The engine now converts every time to UTC itself; this brings the rows already written into line.
PostgreSQL keeps ``timestamptz`` and needs nothing. No schema change.

Revision ID: 0102
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0102"
down_revision = "0007"
branch_labels = None
depends_on = None

# Every DateTime(timezone=True) column as of revision 0005, by table.
TIME_COLUMNS = {
    "subscribers": ("created_at", "updated_at"),
    "consent_events": ("at",),
    "suppressions": ("created_at",),
    "campaigns": ("send_at", "created_at", "started_at", "finished_at"),
    "campaign_events": ("at",),
    "deliveries": ("next_attempt_at", "updated_at"),
    "events": ("occurred_at", "received_at"),
    "scheduler_leases": ("acquired_at", "expires_at"),
    "scheduled_sends": ("created_at",),
    "automation_steps": ("activated_at", "updated_at"),
    "link_clicks": ("last_clicked_at",),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, columns in TIME_COLUMNS.items():
        for column in columns:
            # strftime reads the offset and gives UTC (to the second); the fraction is kept as it was,
            # since offsets are whole minutes.
            op.execute(
                f"UPDATE {table} SET {column} = strftime('%Y-%m-%d %H:%M:%S', {column}) || "
                f"CASE WHEN substr({column}, 20, 1) = '.' THEN substr({column}, 20, 7) ELSE '.000000' END "
                f"WHERE {column} GLOB '*[+-][0-9][0-9]:[0-9][0-9]'"
            )


def downgrade() -> None:
    """Nothing to undo: UTC without an offset is what every other row already held."""
