"""The audit log: who changed what, when, through what and from where; append-only.

Every change staff make (imports, segments, sends, campaign steering, suppressions, erasure, users) is
written here by the library call that makes it, so the command line and the admin app are audited
alike. Rows are only ever added: the migration gives the table triggers that refuse UPDATE and DELETE
on both databases. Entries name subscribers by id, never by address, so erasing a person leaves the
log intact and free of their data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from outreach.audience.schema import Base, BigId
from outreach.clock import Clock
from outreach.models import Actor


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(sa.String(320))
    via: Mapped[str] = mapped_column(sa.String(20))
    origin: Mapped[str] = mapped_column(sa.String(255), default="")
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    target: Mapped[str] = mapped_column(sa.String(255), default="")
    detail: Mapped[str] = mapped_column(sa.Text, default="")


@dataclass(frozen=True)
class Audited:
    """One entry as people read it."""

    id: int
    at: datetime
    actor: str
    via: str
    origin: str
    action: str
    target: str
    detail: dict[str, Any]


def record(
    session: Session,
    actor: Actor,
    action: str,
    target: str,
    clock: Clock,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Add an entry in the caller's transaction: it commits (or not) with the change it describes."""
    session.add(
        AuditEntry(
            at=clock.now(),
            actor=actor.name[:320],
            via=actor.via[:20],
            origin=actor.origin[:255],
            action=action[:64],
            target=target[:255],
            detail=json.dumps(dict(detail or {}), ensure_ascii=False, default=str, sort_keys=True),
        )
    )


def entries(
    session: Session, since: datetime | None = None, limit: int = 200, before_id: int | None = None
) -> list[Audited]:
    """Newest first; ``before_id`` pages back through older entries."""
    query = sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return [
        Audited(
            e.id, _aware(e.at), e.actor, e.via, e.origin, e.action, e.target, json.loads(e.detail or "{}")
        )
        for e in session.scalars(query)
    ]


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
