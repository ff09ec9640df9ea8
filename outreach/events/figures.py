"""A campaign's report: what the ledger says was sent and what came back (events, link clicks).

The figures an admin reads after each issue: how many were sent, failed or skipped, and of the
messages sent, how many bounced, complained, unsubscribed or followed a link. Rates are per message
sent, the way providers and blocklists judge a sender (a complaint rate over 0.1% is a warning sign).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from outreach.delivery import ledger
from outreach.delivery.campaigns import get_campaign
from outreach.delivery.tracking import clicks
from outreach.events.apply import campaign_figures
from outreach.events.model import EventKind


@dataclass(frozen=True)
class CampaignReport:
    """One campaign's figures: ledger states, events by kind, and clicks per link (most first)."""

    campaign_id: int
    issue: str
    subject: str
    status: str
    transport: str
    recipients: dict[str, int]
    events: dict[str, int]
    links: list[tuple[str, int]]

    @property
    def sent(self) -> int:
        return self.recipients["sent"]

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
            "events": self.events,
            "rates": self.rates(),
            "links": [{"url": url, "clicks": count} for url, count in self.links],
        }


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
        events=campaign_figures(session, campaign_id),
        links=clicks(session, campaign_id),
    )
