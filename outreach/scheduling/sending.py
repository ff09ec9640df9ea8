"""At the due time: missed or not, inside the window or not, then start sending exactly once.

Exactly once comes from the database, not from APScheduler: the campaign moves ``scheduled`` ->
``sending`` in one conditional UPDATE in the same transaction that snapshots its audience into the
ledger. Two schedulers, a job fired twice, a restart: whoever's UPDATE changes the row sends, the
others see zero rows changed and stop. The ledger then makes each recipient at most once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.audience import Segment
from outreach.clock import Clock, show_time
from outreach.delivery.campaigns import log
from outreach.delivery.schema import Campaign, CampaignStatus, Delivery, DeliveryState
from outreach.delivery.tracking import ClickTracking
from outreach.scheduling.planning import ISSUE, due_times
from outreach.scheduling.schema import ScheduledSend
from outreach.scheduling.snapshot import skip_missed_locally, snapshot, spread_by_zone
from outreach.scheduling.timing import SendWindow, is_missed

logger = logging.getLogger("outreach.scheduling")


class Start(StrEnum):
    """What looking at a due campaign did."""

    STARTED = "started"
    MISSED = "missed"
    WAITING = "waiting"
    GONE = "gone"


@dataclass(frozen=True)
class Started:
    outcome: Start
    campaign_id: int
    detail: str = ""


def _claim_status(
    session: Session, campaign_id: int, to: CampaignStatus, now: datetime, **values: object
) -> bool:
    """``UPDATE campaigns SET status=to WHERE id=? AND status='scheduled'``: True for the one winner."""
    changed = session.execute(
        sa.update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.SCHEDULED)
        .values(status=to, **values)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(changed, "rowcount", 0)) == 1


def mark_missed(
    session: Session, campaign_id: int, due: datetime, clock: Clock, window: SendWindow, grace: timedelta
) -> Started:
    """Past the grace: the campaign becomes ``missed`` with a loud line and a history entry."""
    now = clock.now()
    if not _claim_status(session, campaign_id, CampaignStatus.MISSED, now, finished_at=now):
        return Started(Start.GONE, campaign_id)
    hours = grace.total_seconds() / 3600
    detail = (
        f"due {show_time(due, window.zone)}, noticed {show_time(now, window.zone)}: more than "
        f"{hours:g} h late, so it was NOT sent; run `outreach schedule ISSUE` with a new send_at, "
        "or `outreach send ISSUE --yes`"
    )
    log(session, campaign_id, "missed", clock, detail)
    logger.error("MISSED campaign %s: %s", campaign_id, detail)
    return Started(Start.MISSED, campaign_id, detail)


def start_due(
    session: Session,
    campaign_id: int,
    segments: dict[str, Segment],
    clock: Clock,
    window: SendWindow,
    grace: timedelta,
    tracking: ClickTracking | None = None,
) -> Started:
    """Decide and, if it is time, start the campaign (call inside one transaction)."""
    row = session.execute(
        sa.select(Campaign, ScheduledSend)
        .join(ScheduledSend, ScheduledSend.campaign_id == Campaign.id)
        .where(Campaign.id == campaign_id, ScheduledSend.kind == ISSUE)
    ).first()
    if row is None:
        return Started(Start.GONE, campaign_id)
    campaign, send = row
    if campaign.status is not CampaignStatus.SCHEDULED or campaign.send_at is None:
        return Started(Start.GONE, campaign_id)
    send_at = campaign.send_at
    due = due_times(session, send_at, window, send.local_time)
    now = clock.now()
    # With local time, only when the last zone is past its grace has everyone missed it.
    if is_missed(due.last, now, grace):
        return mark_missed(session, campaign_id, due.last, clock, window, grace)
    if now < due.first:
        return Started(Start.WAITING, campaign_id, f"waits until {show_time(due.first, window.zone)}")
    if not window.always_open and not send.local_time and not window.is_open(now):
        return Started(Start.WAITING, campaign_id, "outside the send window")
    if not _claim_status(session, campaign_id, CampaignStatus.SENDING, now, started_at=now):
        return Started(Start.GONE, campaign_id)
    if tracking is not None:
        tracking.apply(campaign)
    recipients = snapshot(session, campaign, segments, clock)
    detail = f"{recipients} recipients via {campaign.transport}"
    if send.local_time:
        zones = spread_by_zone(session, campaign_id, send_at, window)
        detail += f", at each recipient's local time ({zones} time zones)"
        skipped = skip_missed_locally(session, campaign_id, now, grace)
        if skipped:
            who = "recipient" if skipped == 1 else "recipients"
            detail += (
                f"; {skipped} {who} skipped: their local time had passed more than "
                f"{grace.total_seconds() / 3600:g} h before the start"
            )
    log(session, campaign_id, "started", clock, f"scheduled send began: {detail}")
    return Started(Start.STARTED, campaign_id, detail)


def due_campaigns(session: Session, window: SendWindow, now: datetime) -> list[int]:
    """Campaigns the scheduler owns that are sending and have a row due now (window permitting)."""
    due_row = (
        sa.select(Delivery.id)
        .where(
            Delivery.campaign_id == Campaign.id,
            Delivery.state == DeliveryState.PENDING,
            sa.or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
        )
        .exists()
    )
    rows = session.execute(
        sa.select(Campaign.id, ScheduledSend.local_time)
        .join(ScheduledSend, ScheduledSend.campaign_id == Campaign.id)
        .where(Campaign.status == CampaignStatus.SENDING, due_row)
        .order_by(Campaign.id)
    ).all()
    open_now = window.is_open(now)
    return [int(campaign_id) for campaign_id, local in rows if open_now or local]


def overdue(session: Session, window: SendWindow, grace: timedelta, now: datetime) -> list[tuple[int, str]]:
    """Scheduled issues whose due time (window-adjusted) is past: (campaign id, slug)."""
    rows = session.execute(
        sa.select(Campaign.id, Campaign.issue_slug, Campaign.send_at, ScheduledSend.local_time)
        .join(ScheduledSend, ScheduledSend.campaign_id == Campaign.id)
        .where(ScheduledSend.kind == ISSUE, Campaign.status == CampaignStatus.SCHEDULED)
    ).all()
    found = []
    for campaign_id, slug, send_at, local in rows:
        if send_at is not None and due_times(session, send_at, window, local).first <= now:
            found.append((int(campaign_id), str(slug)))
    return found
