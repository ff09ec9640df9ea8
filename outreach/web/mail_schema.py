"""The ``system_mails`` table: sign-ups waiting for their mail, and the mails the service sends itself.

A sign-up is written here by the request (the same one row, whatever the address), decided and
mailed by a worker (``outreach.web.system_mails``). Migration 0104 creates exactly this table.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from outreach.audience.schema import Base, BigId, _enum

# JSON whose Python None is SQL NULL (not the JSON text "null"): emptied columns are really empty.
Json = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


class SystemMailState(StrEnum):
    """Where a row stands. Like the delivery ledger, a mail handed over whose answer was lost is
    ``unknown`` and never sent again on its own."""

    RECEIVED = "received"  # a sign-up as posted: nothing decided, nothing sent
    PENDING = "pending"  # a mail to send once ``due_at`` has come
    SENDING = "sending"  # handed to the transport; its answer not yet recorded
    SENT = "sent"
    FAILED = "failed"  # refused for good, or out of attempts
    SKIPPED = "skipped"  # no mail: the address may not be mailed, or its hourly limit is used up
    UNKNOWN = "unknown"  # the worker stopped while sending: perhaps delivered; not resent


class SystemMail(Base):
    __tablename__ = "system_mails"
    __table_args__ = (sa.Index("ix_system_mails_state_due_at", "state", "due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    state: Mapped[SystemMailState] = mapped_column(_enum(SystemMailState, "system_mail_state"))
    # "confirm" or "already" once decided ("" before, and when no mail is sent).
    kind: Mapped[str] = mapped_column(sa.String(20), default="")
    # The address's hash, for the per-address hourly limit (the address itself is not kept).
    address_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    # The sign-up as posted (address, names, topics, IP, user agent); emptied once decided.
    request: Mapped[dict[str, Any] | None] = mapped_column(Json)
    subscriber_id: Mapped[int | None] = mapped_column(BigId)
    # What the confirmation link carries (see ``outreach.web.signup``).
    confirm: Mapped[list[Any] | None] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    message_id: Mapped[str | None] = mapped_column(sa.String(250))
    detail: Mapped[str] = mapped_column(sa.Text, default="")
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
