"""The figures the admin dashboard opens with: subscribers by status, the latest campaigns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.audience.schema import Subscriber, SubscriberStatus
from outreach.delivery import ledger
from outreach.delivery.schema import Campaign


@dataclass(frozen=True)
class CampaignLine:
    id: int
    issue: str
    subject: str
    status: str
    created_at: datetime
    sent: int
    recipients: int


def subscribers_by_status(session: Session) -> dict[str, int]:
    """How many subscribers are in each status (every status listed, zeros included)."""
    found = dict(
        session.execute(sa.select(Subscriber.status, sa.func.count()).group_by(Subscriber.status)).all()
    )
    return {status.value: int(found.get(status, 0)) for status in SubscriberStatus}


def recent_campaigns(session: Session, limit: int = 5) -> list[CampaignLine]:
    campaigns = session.scalars(sa.select(Campaign).order_by(Campaign.id.desc()).limit(limit))
    lines = []
    for campaign in campaigns:
        counts = ledger.counts(session, campaign.id)
        lines.append(
            CampaignLine(
                campaign.id,
                campaign.issue_slug,
                campaign.subject,
                str(campaign.status),
                campaign.created_at,
                counts["sent"],
                sum(counts.values()),
            )
        )
    return lines
