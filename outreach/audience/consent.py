"""The consent log: for every change, who, when, how, from which source, under which notice.

Append-only by construction: this module offers ``record`` and read functions and nothing that
updates or deletes an event. (Erasure, in ``gdpr.py``, is the single exception the law requires: it
blanks the IP address and user agent of the erased person's events and keeps the rest.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.audience.schema import ConsentAction, ConsentEvent, ConsentMethod
from outreach.clock import Clock


@dataclass(frozen=True)
class Consent:
    """How a change came to be: the method, the source (form, sheet, campaign), the notice shown."""

    method: ConsentMethod
    source: str = ""
    notice_version: str = ""
    actor: str = ""
    ip: str | None = None
    user_agent: str | None = None


def event_row(
    *,
    subscriber_id: int | None,
    email_hash: str,
    action: ConsentAction,
    consent: Consent,
    at: datetime,
    topics: str | None = None,
) -> dict[str, Any]:
    """One event as a plain row, for bulk inserts (imports write thousands at once)."""
    return {
        "subscriber_id": subscriber_id,
        "email_hash": email_hash,
        "at": at,
        "action": action,
        "topics": topics,
        "method": consent.method,
        "source": consent.source,
        "notice_version": consent.notice_version,
        "actor": consent.actor,
        "ip": consent.ip,
        "user_agent": consent.user_agent,
    }


def record(
    session: Session,
    *,
    subscriber_id: int | None,
    email_hash: str,
    action: ConsentAction,
    consent: Consent,
    clock: Clock,
    topics: str | None = None,
) -> None:
    """Append one event to the log."""
    session.execute(
        sa.insert(ConsentEvent),
        [
            event_row(
                subscriber_id=subscriber_id,
                email_hash=email_hash,
                action=action,
                consent=consent,
                at=clock.now(),
                topics=topics,
            )
        ],
    )


def history(session: Session, email_hash: str) -> list[ConsentEvent]:
    """Every event for one address, oldest first (by hash, so it outlives an erasure)."""
    return list(
        session.scalars(
            sa.select(ConsentEvent)
            .where(ConsentEvent.email_hash == email_hash)
            .order_by(ConsentEvent.at, ConsentEvent.id)
        )
    )
