"""What the campaigns pages show: the list of campaigns, and one campaign with its progress and history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.delivery import ledger
from outreach.delivery.campaigns import get_campaign, history
from outreach.delivery.schema import Campaign
from outreach.operations.progress import Progress, RateMeter, campaign_progress

PAGE = 50


@dataclass(frozen=True)
class CampaignRow:
    """A campaign as the list shows it (no counting: the list stays fast however big the ledgers)."""

    id: int
    issue: str
    subject: str
    status: str
    transport: str
    created_at: datetime
    send_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    pause_reason: str


@dataclass(frozen=True)
class CampaignView:
    """One campaign: what it is, where it stands, why rows failed, and what happened to it."""

    campaign: CampaignRow
    progress: Progress
    reasons: list[tuple[str, str, int]]
    history: list[tuple[datetime, str, str]]
    audience: str
    reviewed: str = ""  # the commit it went out from and its message's fingerprint, in words


def _row(campaign: Campaign) -> CampaignRow:
    return CampaignRow(
        campaign.id,
        campaign.issue_slug,
        campaign.subject,
        str(campaign.status),
        campaign.transport,
        campaign.created_at,
        campaign.send_at,
        campaign.started_at,
        campaign.finished_at,
        campaign.pause_reason,
    )


def campaign_rows(
    session: Session, before: int | None = None, limit: int = PAGE
) -> tuple[list[CampaignRow], int | None]:
    """A page of campaigns, newest first, and the id to ask for the next page with (None: no more)."""
    query = sa.select(Campaign).order_by(Campaign.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(Campaign.id < before)
    found = [_row(c) for c in session.scalars(query)]
    more = found[limit - 1].id if len(found) > limit else None
    return found[:limit], more


def _audience(campaign: Campaign) -> str:
    chosen = campaign.audience if isinstance(campaign.audience, dict) else {}
    if chosen.get("contacts"):  # a one-off letter (outreach.delivery.one_off)
        return f"the people in {chosen['contacts']}"
    topics = ", ".join(str(t) for t in chosen.get("topics", []) or [])
    segments = ", ".join(str(s) for s in chosen.get("segments", []) or [])
    parts = [f"topics: {topics}" if topics else "", f"segments: {segments}" if segments else ""]
    return "; ".join(p for p in parts if p) or "everyone who may be mailed"


def campaign_view(
    session: Session, campaign_id: int, now: datetime, meter: RateMeter | None = None
) -> CampaignView:
    """One campaign as its page shows it; a ``DeliveryError`` when there is no such campaign."""
    campaign = get_campaign(session, campaign_id)
    return CampaignView(
        campaign=_row(campaign),
        progress=campaign_progress(session, campaign_id, now, meter),
        reasons=ledger.reasons(session, campaign_id),
        history=[(e.at, e.kind, e.detail) for e in history(session, campaign_id)],
        audience=_audience(campaign),
        reviewed=reviewed_line(campaign.reviewed_commit, campaign.content_hash),
    )


def reviewed_line(commit: str, fingerprint: str) -> str:
    """What a campaign says of its review, for people: the commit it went out from and its message."""
    made = (
        f"message {fingerprint[:12]}"
        if fingerprint
        else "message not fingerprinted (sent before fingerprints were kept)"
    )
    if commit:
        return f"reviewed: commit {commit[:12]}, {made}"
    return f"reviewed: no commit recorded (not a git project, or sent with --allow-uncommitted), {made}"
