"""The events table: every event that came back, once, with what it matched and the provider's raw data.

``(provider, provider_event_id)`` is unique: a provider's retry, a replayed webhook or a mailbox read
twice inserts nothing and therefore changes nothing. Campaign figures are counts over this table.
``webhook_tokens`` holds the signed tokens webhooks were accepted with, for as long as their
timestamps are fresh, so a captured request is refused by every web process (see ``replay``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from outreach.audience.schema import Base, BigId, JsonDocument, _enum
from outreach.events.model import EventKind


class EventRecord(Base):
    """One applied event; ``campaign_id``/``delivery_id``/``subscriber_id`` are null when unmatched."""

    __tablename__ = "events"
    __table_args__ = (
        sa.UniqueConstraint("provider", "provider_event_id"),
        sa.Index("ix_events_campaign_id_kind", "campaign_id", "kind"),
        sa.Index("ix_events_subscriber_id_kind", "subscriber_id", "kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(sa.String(40))
    provider_event_id: Mapped[str] = mapped_column(sa.String(250))
    kind: Mapped[EventKind] = mapped_column(_enum(EventKind, "event_kind"))
    campaign_id: Mapped[int | None] = mapped_column(BigId, sa.ForeignKey("campaigns.id", ondelete="CASCADE"))
    delivery_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("deliveries.id", ondelete="SET NULL"), index=True
    )
    subscriber_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("subscribers.id", ondelete="SET NULL")
    )
    occurred_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    detail: Mapped[str] = mapped_column(sa.Text, default="")
    raw: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)


class WebhookToken(Base):
    """A token (a hash of it) that a provider's signed request was accepted with, and when."""

    __tablename__ = "webhook_tokens"

    provider: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    token: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), index=True)


metadata = Base.metadata
