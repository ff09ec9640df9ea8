"""One person as staff see them: profile, topics, tags, the consent log, suppression, deliveries, events.

Read only. Deliveries and events belong to later stages and are read through ``ledger_view`` (as the
GDPR export does); each list is bounded (newest first) so a long-time member's page stays quick.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.audience import ledger_view
from outreach.audience.schema import ConsentEvent, Suppression
from outreach.audience.subscribers import get_subscriber

SHOWN = 100


@dataclass(frozen=True)
class ConsentLine:
    at: datetime
    action: str
    topics: str
    method: str
    source: str
    notice_version: str
    actor: str


@dataclass(frozen=True)
class DeliveryLine:
    campaign_id: int
    issue: str
    subject: str
    state: str
    reason: str
    updated_at: datetime | None


@dataclass(frozen=True)
class EventLine:
    at: datetime | None
    kind: str
    provider: str
    campaign_id: int | None
    detail: str


@dataclass(frozen=True)
class PersonView:
    id: int
    email: str | None
    email_hash: str
    status: str
    profile: dict[str, Any]
    attributes: dict[str, Any]
    topics: list[str]
    tags: list[str]
    signup_date: Any
    created_at: datetime
    updated_at: datetime
    suppression: tuple[str, str, datetime] | None  # reason, note, since
    consent: list[ConsentLine]
    deliveries: list[DeliveryLine]
    events: list[EventLine]

    @property
    def erased(self) -> bool:
        return self.email is None


def person_view(session: Session, subscriber_id: int, shown: int = SHOWN) -> PersonView:
    """Everything the detail page shows; AudienceError when there is no such subscriber."""
    s = get_subscriber(session, subscriber_id)
    entry = session.get(Suppression, s.email_hash)
    consent = [
        ConsentLine(e.at, e.action.value, e.topics or "", e.method.value, e.source, e.notice_version, e.actor)
        for e in session.scalars(
            sa.select(ConsentEvent)
            .where(ConsentEvent.email_hash == s.email_hash)
            .order_by(ConsentEvent.at.desc(), ConsentEvent.id.desc())
            .limit(shown)
        )
    ]
    campaigns, deliveries, events = ledger_view.campaigns, ledger_view.deliveries, ledger_view.events
    sent = [
        DeliveryLine(cid, slug, subject, state, reason or "", updated)
        for cid, slug, subject, state, reason, updated in session.execute(
            sa.select(
                campaigns.c.id,
                campaigns.c.issue_slug,
                campaigns.c.subject,
                deliveries.c.state,
                deliveries.c.reason,
                deliveries.c.updated_at,
            )
            .join(campaigns, campaigns.c.id == deliveries.c.campaign_id)
            .where(deliveries.c.subscriber_id == subscriber_id)
            .order_by(deliveries.c.id.desc())
            .limit(shown)
        )
    ]
    reported = [
        EventLine(at, kind, provider, campaign_id, str(detail or ""))
        for at, kind, provider, campaign_id, detail in session.execute(
            sa.select(
                events.c.occurred_at, events.c.kind, events.c.provider, events.c.campaign_id, events.c.detail
            )
            .where(events.c.subscriber_id == subscriber_id)
            .order_by(events.c.occurred_at.desc(), events.c.id.desc())
            .limit(shown)
        )
    ]
    return PersonView(
        id=s.id,
        email=s.email,
        email_hash=s.email_hash,
        status=s.status.value,
        profile={
            "first_name": s.first_name,
            "last_name": s.last_name,
            "organisation": s.organisation,
            "role": s.role,
            "region": s.region,
            "language": s.language,
            "time_zone": s.time_zone or "",
        },
        attributes=dict(s.attributes or {}),
        topics=sorted(t.topic_key for t in s.topics),
        tags=sorted(t.tag for t in s.tags),
        signup_date=s.signup_date,
        created_at=s.created_at,
        updated_at=s.updated_at,
        suppression=(entry.reason.value, entry.note, entry.created_at) if entry else None,
        consent=consent,
        deliveries=sent,
        events=reported,
    )
