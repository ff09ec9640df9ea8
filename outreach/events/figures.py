"""A campaign's report: what the ledger says was sent and what came back (events, link clicks).

The figures an admin reads after each issue: how many were sent, failed or skipped, and of the
messages sent, how many bounced, complained, unsubscribed or followed a link. Rates are per message
sent, the way providers and blocklists judge a sender (a complaint rate over 0.1% is a warning sign).

Bounces, complaints, unsubscribes and deliveries count people, not reports: a person is counted once
per kind however many reports came (a DSN and a provider's event for one message, a one-click and a
mailto unsubscribe). Bounces include the recipients the receiving server refused while we were
sending (ledger rows failed as ``bounced:``), which send no report afterwards; a person with both a
hard and a soft bounce counts as hard. Clicks count events.

A campaign sent in several language editions has the same figures per edition (``edition=``): the
ledger row records which edition its recipient got (``outreach.delivery.editions``). A campaign of a
one-language issue has one edition and ``editions`` lists none.
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
    edition: str = ""  # the language edition these figures are of ('' for the whole campaign)

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
            **({"edition": self.edition} if self.edition else {}),
        }

    @property
    def bounced(self) -> int:
        """People who bounced, hard or soft (each once)."""
        return self.events[EventKind.BOUNCED_HARD.value] + self.events[EventKind.BOUNCED_SOFT.value]


def edition_column() -> sa.ColumnElement[str] | None:
    """The ledger's column naming the language edition a recipient got, where the schema has one."""
    table: sa.Table = Delivery.__table__  # type: ignore[assignment]
    return table.c.get("language")


def editions(session: Session, campaign_id: int) -> list[str]:
    """The language editions a campaign was sent in, when there are several (else none)."""
    column = edition_column()
    if column is None:
        return []
    found = sorted(
        str(language)
        for language in session.scalars(
            sa.select(column).where(Delivery.campaign_id == campaign_id).distinct()
        )
        if language
    )
    return found if len(found) > 1 else []


def in_edition(edition: str | None) -> list[sa.ColumnElement[bool]]:
    """The ledger condition for one edition (none for the whole campaign)."""
    column = edition_column()
    if not edition or column is None:
        return []
    return [column == edition]


def events_of_edition(campaign_id: int, edition: str | None) -> list[sa.ColumnElement[bool]]:
    """The events condition for one edition: events about ledger rows of that edition."""
    ledger_rows = in_edition(edition)
    if not ledger_rows:
        return []
    rows = sa.select(Delivery.id).where(Delivery.campaign_id == campaign_id, *ledger_rows)
    return [EventRecord.delivery_id.in_(rows)]


def _people(campaign_id: int, kind: EventKind, edition: str | None = None) -> sa.Select[int | None]:
    return sa.select(EventRecord.subscriber_id).where(
        EventRecord.campaign_id == campaign_id,
        EventRecord.kind == kind,
        EventRecord.subscriber_id.is_not(None),
        *events_of_edition(campaign_id, edition),
    )


def refused_rows(campaign_id: int, edition: str | None = None) -> list[sa.ColumnElement[bool]]:
    """The ledger rows the receiving server refused as bounced while we sent (no report follows)."""
    return [
        Delivery.campaign_id == campaign_id,
        Delivery.state == DeliveryState.FAILED,
        Delivery.reason.startswith(SMTP_BOUNCE, autoescape=True),
        *in_edition(edition),
    ]


def _refused(campaign_id: int, edition: str | None = None) -> sa.Select[int]:
    return sa.select(Delivery.subscriber_id).where(*refused_rows(campaign_id, edition))


def campaign_counts(session: Session, campaign_id: int, edition: str | None = None) -> dict[str, int]:
    """People per kind of event for the campaign or one edition (clicks: events), every kind present."""
    refused = _refused(campaign_id, edition)
    hard = sa.union(_people(campaign_id, EventKind.BOUNCED_HARD, edition), refused).subquery()
    soft = _people(campaign_id, EventKind.BOUNCED_SOFT, edition).where(
        EventRecord.subscriber_id.not_in(sa.select(hard.c[0]))
    )
    counts = {
        EventKind.BOUNCED_HARD.value: sa.select(sa.func.count()).select_from(hard),
        EventKind.BOUNCED_SOFT.value: sa.select(sa.func.count(sa.distinct(soft.subquery().c[0]))),
        EventKind.CLICKED.value: sa.select(sa.func.count()).where(
            EventRecord.campaign_id == campaign_id,
            EventRecord.kind == EventKind.CLICKED,
            *events_of_edition(campaign_id, edition),
        ),
    }
    for kind in (EventKind.DELIVERED, EventKind.COMPLAINED, EventKind.UNSUBSCRIBED):
        people = _people(campaign_id, kind, edition).subquery()
        counts[kind.value] = sa.select(sa.func.count(sa.distinct(people.c[0])))
    return {kind.value: int(session.scalar(counts[kind.value]) or 0) for kind in EventKind}


def recipients(session: Session, campaign_id: int, edition: str | None = None) -> dict[str, int]:
    """Ledger rows in each state, of the campaign or of one edition (every state present)."""
    if not edition:
        return ledger.counts(session, campaign_id)
    found = dict(
        session.execute(
            sa.select(Delivery.state, sa.func.count())
            .where(Delivery.campaign_id == campaign_id, *in_edition(edition))
            .group_by(Delivery.state)
        ).all()
    )
    return {state.value: int(found.get(state, 0)) for state in DeliveryState}


def campaign_report(session: Session, campaign_id: int, edition: str | None = None) -> CampaignReport:
    """The report of one campaign (or of one of its editions); a ``DeliveryError`` that says how to
    list them when there is none. Links are counted per campaign: a click is not tied to a reader."""
    campaign = get_campaign(session, campaign_id)
    refused = sa.select(sa.func.count()).select_from(_refused(campaign_id, edition).subquery())
    return CampaignReport(
        campaign_id=campaign.id,
        issue=campaign.issue_slug,
        subject=campaign.subject,
        status=str(campaign.status),
        transport=campaign.transport,
        recipients=recipients(session, campaign_id, edition),
        events=campaign_counts(session, campaign_id, edition),
        links=clicks(session, campaign_id),
        refused=int(session.scalar(refused) or 0),
        edition=edition or "",
    )
