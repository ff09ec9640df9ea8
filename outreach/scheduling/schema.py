"""The scheduling tables: the scheduler lease, which campaigns the scheduler owns, automation steps.

APScheduler keeps its own ``apscheduler_jobs`` table (created by its job store on first start); it only
says *when* to wake up. Everything that decides *what* is sent lives here and in the delivery tables.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from outreach.audience.schema import Base, BigId


class SchedulerLease(Base):
    """Who may run the scheduler now: one row per name, held until ``expires_at`` unless renewed."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(200))
    acquired_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class ScheduledSend(Base):
    """A campaign the scheduler starts and keeps sending: a scheduled issue or an automation step.

    ``local_time`` means each recipient with a time zone gets the mail at the wall-clock time of
    ``send_at`` where they are (their ledger row's ``next_attempt_at``).
    """

    __tablename__ = "scheduled_sends"

    campaign_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(sa.String(20))
    name: Mapped[str] = mapped_column(sa.String(200), index=True)
    local_time: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class AutomationStep(Base):
    """One automation step's state: its long-lived campaign, whether it is paused, its content hash.

    ``activated_at`` is when the scheduler first saw the step: a reminder that came due before then is
    not sent late, so switching an automation on never mails the whole back catalogue of members.
    """

    __tablename__ = "automation_steps"

    name: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("campaigns.id", ondelete="SET NULL"), nullable=True
    )
    paused: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    content_hash: Mapped[str] = mapped_column(sa.String(64), default="")
    activated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
