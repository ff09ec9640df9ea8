"""Rows in the delivery ledger and the events, as a sent campaign leaves them, for the audience tests."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from outreach.clock import Clock
from outreach.delivery.schema import Campaign, CampaignStatus, Delivery, DeliveryState
from outreach.events.model import EventKind
from outreach.events.schema import EventRecord


def sent_campaign(
    session: Session,
    clock: Clock,
    slug: str,
    *,
    sent: Iterable[int] = (),
    failed: Iterable[int] = (),
    clicked: Iterable[int] = (),
) -> int:
    """A finished campaign of issue ``slug``: ledger rows (sent or failed) and provider click events."""
    now = clock.now()
    campaign = Campaign(
        issue_slug=slug,
        issue_path=f"newsletters/{slug}.md",
        subject=f"The {slug} issue",
        status=CampaignStatus.DONE,
        audience={},
        transport="sendgrid",
        subject_source="s",
        html_source="h",
        text_source="t",
        from_name="VAIMH News",
        from_address="news@vaimh.example",
        reply_to="",
        list_id="VAIMH News <news.vaimh.example>",
        message_id_domain="vaimh.example",
        pause_reason="",
        created_at=now,
    )
    session.add(campaign)
    session.flush()
    rows: dict[int, Delivery] = {}
    for state, ids in ((DeliveryState.SENT, sent), (DeliveryState.FAILED, failed)):
        for subscriber_id in ids:
            rows[subscriber_id] = Delivery(
                campaign_id=campaign.id,
                subscriber_id=subscriber_id,
                state=state,
                reason="" if state is DeliveryState.SENT else "550 5.1.1 no such mailbox",
                message_id=f"<{campaign.id}.{subscriber_id}@vaimh.example>",
                provider_id="",
                attempts=1,
                claimed_by="",
                updated_at=now,
            )
    session.add_all(rows.values())
    session.flush()
    for subscriber_id in clicked:
        session.add(
            EventRecord(
                provider="sendgrid",
                provider_event_id=f"click-{campaign.id}-{subscriber_id}",
                kind=EventKind.CLICKED,
                campaign_id=campaign.id,
                delivery_id=rows[subscriber_id].id,
                subscriber_id=subscriber_id,
                occurred_at=now,
                received_at=now,
                detail="https://vaimh.example/trainings",
                raw={"event": "click", "url": "https://vaimh.example/trainings"},
            )
        )
    session.flush()
    return campaign.id
