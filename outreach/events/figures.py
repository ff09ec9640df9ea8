"""A campaign's report: what the ledger says was sent and what came back (events, link clicks).

The figures an admin reads after each issue: how many were sent, failed or skipped, and of the
messages sent, how many bounced, complained, unsubscribed or followed a link. Rates are per message
sent, the way providers and blocklists judge a sender (a complaint rate over 0.1% is a warning sign).

Bounces, complaints, unsubscribes and deliveries count people, not reports: a person is counted once
per kind however many reports came (a DSN and a provider's event for one message, a one-click and a
mailto unsubscribe). Bounces include the recipients the receiving server refused while we were
sending (ledger rows failed as ``bounced:``), which send no report afterwards; a person with both a
hard and a soft bounce counts as hard. Clicks count events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.delivery import ledger
from outreach.delivery.campaigns import get_campaign
from outreach.delivery.schema import Delivery, DeliveryState
from outreach.delivery.tracking import clicks
from outreach.events.model import EventKind
from outreach.events.schema import EventRecord

SMTP_BOUNCE = "bounced:"
"""How the ledger's reason starts when the receiving server refused the address while we sent."""


@dataclass(frozen=True)
class CampaignReport:
    """One campaign's figures: ledger states, people per kind of event, and clicks per link."""

    campaign_id: int
    issue: str
    subject: str
    status: str
    transport: str
    recipients: dict[str, int]
    events: dict[str, int]
    links: list[tuple[str, int]]
    refused: int = 0  # failed rows the receiving server refused as bounced while we sent

    @property
    def sent(self) -> int:
        """Messages handed to a receiving server: those it accepted, and those it refused."""
        return self.recipients["sent"] + self.refused

    def rate(self, *kinds: EventKind) -> float:
        """Events of these kinds per message sent (0 before anything was sent)."""
        return sum(self.events[kind.value] for kind in kinds) / self.sent if self.sent else 0.0

    def rates(self) -> dict[str, float]:
        return {
            "bounced": self.rate(EventKind.BOUNCED_HARD, EventKind.BOUNCED_SOFT),
            "complained": self.rate(EventKind.COMPLAINED),
            "unsubscribed": self.rate(EventKind.UNSUBSCRIBED),
            "clicked": self.rate(EventKind.CLICKED),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.campaign_id,
            "issue": self.issue,
            "subject": self.subject,
            "status": self.status,
            "transport": self.transport,
            "recipients": self.recipients,
            "refused_while_sending": self.refused,
            "events": self.events,
            "rates": self.rates(),
            "links": [{"url": url, "clicks": count} for url, count in self.links],
        }


def _people(campaign_id: int, kind: EventKind) -> sa.Select[int | None]:
    return sa.select(EventRecord.subscriber_id).where(
        EventRecord.campaign_id == campaign_id,
        EventRecord.kind == kind,
        EventRecord.subscriber_id.is_not(None),
    )


def _refused(campaign_id: int) -> sa.Select[int]:
    """The recipients the receiving server refused as bounced while we sent (no report follows)."""
    return sa.select(Delivery.subscriber_id).where(
        Delivery.campaign_id == campaign_id,
        Delivery.state == DeliveryState.FAILED,
        Delivery.reason.startswith(SMTP_BOUNCE, autoescape=True),
    )


def campaign_counts(session: Session, campaign_id: int) -> dict[str, int]:
    """People per kind of event for the campaign (clicks: events), every kind present."""
    refused = _refused(campaign_id)
    hard = sa.union(_people(campaign_id, EventKind.BOUNCED_HARD), refused).subquery()
    soft = _people(campaign_id, EventKind.BOUNCED_SOFT).where(
        EventRecord.subscriber_id.not_in(sa.select(hard.c[0]))
    )
    counts = {
        EventKind.BOUNCED_HARD.value: sa.select(sa.func.count()).select_from(hard),
        EventKind.BOUNCED_SOFT.value: sa.select(sa.func.count(sa.distinct(soft.subquery().c[0]))),
        EventKind.CLICKED.value: sa.select(sa.func.count()).where(
            EventRecord.campaign_id == campaign_id, EventRecord.kind == EventKind.CLICKED
        ),
    }
    for kind in (EventKind.DELIVERED, EventKind.COMPLAINED, EventKind.UNSUBSCRIBED):
        people = _people(campaign_id, kind).subquery()
        counts[kind.value] = sa.select(sa.func.count(sa.distinct(people.c[0])))
    return {kind.value: int(session.scalar(counts[kind.value]) or 0) for kind in EventKind}


def campaign_report(session: Session, campaign_id: int) -> CampaignReport:
    """The report of one campaign; a ``DeliveryError`` that says how to list them when there is none."""
    campaign = get_campaign(session, campaign_id)
    return CampaignReport(
        campaign_id=campaign.id,
        issue=campaign.issue_slug,
        subject=campaign.subject,
        status=str(campaign.status),
        transport=campaign.transport,
        recipients=ledger.counts(session, campaign_id),
        events=campaign_counts(session, campaign_id),
        links=clicks(session, campaign_id),
        refused=int(
            session.scalar(sa.select(sa.func.count()).select_from(_refused(campaign_id).subquery())) or 0
        ),
    )
