"""The delivery tables: campaigns, the delivery ledger (one row per recipient) and campaign history.

The ledger is the reliability contract: a row is ``sending`` (with its Message-ID) before a transport
is called and ``sent``/``failed`` after, so a crash in between leaves a visible ``unknown`` and never a
silent gap or an automatic resend. ``(campaign_id, subscriber_id)`` is unique, so nobody can be queued
twice for one campaign, and at most one campaign per issue is active at a time (a partial unique
index), so two sends of one issue started together cannot both queue the audience. A campaign sends
every language edition of its issue: the campaign row holds the default edition, ``campaign_editions``
the others, and each ledger row says which edition its recipient gets.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from outreach.audience.schema import Base, BigId, JsonDocument, _enum


class CampaignStatus(StrEnum):
    """Where a campaign stands. Workers send only ``sending`` campaigns."""

    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    DONE = "done"
    CANCELLED = "cancelled"
    MISSED = "missed"


# A campaign in one of these may still send; the database allows one per issue and edition.
ACTIVE_STATUSES = (CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.PAUSED)


class DeliveryState(StrEnum):
    """pending -> sending -> sent | failed(reason) | skipped(reason) | unknown."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"


_ACTIVE = "status IN ({})".format(", ".join(f"'{status.value}'" for status in ACTIVE_STATUSES))


class Campaign(Base):
    """An issue sent to an audience, with the rendered content frozen at creation.

    The compiled templates are stored so that a resumed campaign, or a worker on another machine,
    sends exactly what was planned even if the Markdown file changes afterwards. ``archive`` is decided
    by whoever creates the campaign (only a full send of a ready newsletter issue is public);
    ``language`` is the default edition's language: the content columns here are that edition, sent
    to everyone whose language has no edition of its own; ``CampaignEdition`` rows hold the others.
    """

    __tablename__ = "campaigns"
    __table_args__ = (
        sa.Index(
            "uq_campaigns_active_issue",
            "issue_slug",
            unique=True,
            sqlite_where=sa.text(_ACTIVE),
            postgresql_where=sa.text(_ACTIVE),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    issue_slug: Mapped[str] = mapped_column(sa.String(200), index=True)
    language: Mapped[str] = mapped_column(sa.String(35), default="en", server_default="en")
    archive: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    # What was reviewed: the git commit the issue was sent or scheduled from ('' outside git, or with
    # --allow-uncommitted) and the fingerprint of the rendered message (CompiledIssue.fingerprint).
    reviewed_commit: Mapped[str] = mapped_column(sa.String(64), default="", server_default="")
    content_hash: Mapped[str] = mapped_column(sa.String(64), default="", server_default="")
    issue_path: Mapped[str] = mapped_column(sa.Text, default="")
    subject: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[CampaignStatus] = mapped_column(_enum(CampaignStatus, "campaign_status"))
    audience: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    transport: Mapped[str] = mapped_column(sa.String(100))
    subject_source: Mapped[str] = mapped_column(sa.Text)
    html_source: Mapped[str] = mapped_column(sa.Text)
    text_source: Mapped[str] = mapped_column(sa.Text)
    from_name: Mapped[str] = mapped_column(sa.String(200))
    from_address: Mapped[str] = mapped_column(sa.String(320))
    reply_to: Mapped[str] = mapped_column(sa.String(320), default="")
    list_id: Mapped[str] = mapped_column(sa.String(300))
    message_id_domain: Mapped[str] = mapped_column(sa.String(253))
    pause_reason: Mapped[str] = mapped_column(sa.Text, default="")
    send_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class Delivery(Base):
    """One recipient of one campaign: the ledger row.

    ``language`` is the edition this recipient gets: chosen from their language when the audience is
    snapshotted, and chosen again when the row is claimed (a reader who switched language since gets
    the edition they read now). ``claimed_at`` is
    when the row was last taken for sending, kept while the row is sending, sent or unknown and
    cleared when it goes back to pending: the per-hour and per-day limits count these rows.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        sa.UniqueConstraint("campaign_id", "subscriber_id"),
        sa.Index(
            "ix_deliveries_campaign_id_state_next_attempt_at", "campaign_id", "state", "next_attempt_at"
        ),
        sa.Index("ix_deliveries_claimed_at", "claimed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("campaigns.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[DeliveryState] = mapped_column(_enum(DeliveryState, "delivery_state"))
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    message_id: Mapped[str | None] = mapped_column(sa.String(250), unique=True)
    provider_id: Mapped[str] = mapped_column(sa.String(250), default="")
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    claimed_by: Mapped[str] = mapped_column(sa.String(200), default="")
    claimed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    language: Mapped[str] = mapped_column(sa.String(35), default="", server_default="")
    updated_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # A one-off letter's row: the recipient's own columns from the contacts file, frozen with the
    # campaign so a resume personalises as planned (``recipient.COLUMN``); None for everyone else.
    fields: Mapped[dict[str, str] | None] = mapped_column(JsonDocument)


class CampaignEdition(Base):
    """One more language edition of a campaign's issue, frozen at creation like the campaign's own.

    The campaign row is the default edition; this is ``slug.es.md`` and its kind. The sender, the
    audience and the schedule are the campaign's: only what readers read differs.
    """

    __tablename__ = "campaign_editions"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "language"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("campaigns.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(sa.String(35))
    issue_path: Mapped[str] = mapped_column(sa.Text, default="")
    subject: Mapped[str] = mapped_column(sa.Text)
    subject_source: Mapped[str] = mapped_column(sa.Text)
    html_source: Mapped[str] = mapped_column(sa.Text)
    text_source: Mapped[str] = mapped_column(sa.Text)


class CampaignEvent(Base):
    """The campaign's history: created, scheduled, started, paused (and why), resumed, finished..."""

    __tablename__ = "campaign_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(sa.String(40))
    detail: Mapped[str] = mapped_column(sa.Text, default="")


metadata = Base.metadata
