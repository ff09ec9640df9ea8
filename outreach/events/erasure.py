"""Erasure reaches the events too: their raw payloads and details hold the address.

``outreach.audience.erase`` blanks the subscriber but cannot see this table (events sit above the
audience layer), so the erase command calls ``scrub_subscriber`` in the same transaction.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.events.schema import EventRecord


def scrub_subscriber(session: Session, subscriber_id: int) -> int:
    """Empty the raw payload and detail of every event of this subscriber; returns how many."""
    result = session.execute(
        sa.update(EventRecord)
        .where(EventRecord.subscriber_id == subscriber_id)
        .values(raw={}, detail="erased")
    )
    return int(getattr(result, "rowcount", 0) or 0)
