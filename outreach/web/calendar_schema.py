"""The ``calendar_events`` table: the version of each event's calendar entry readers were given.

RFC 5545 wants a changed event to come with a higher ``SEQUENCE`` and a new ``LAST-MODIFIED``, or a
calendar app keeps the old time. The issue file says what the event is now, not what it was; this row
remembers the fingerprint of what was last served and moves the version on when it differs.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from outreach.audience.schema import Base


class CalendarEvent(Base):
    __tablename__ = "calendar_events"

    uid: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    digest: Mapped[str] = mapped_column(sa.String(64))
    sequence: Mapped[int] = mapped_column(sa.Integer)
    changed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
