"""Steering a campaign (pause, resume, cancel, retry the failed, resend the unknown), audited.

The command line and the admin app call these; each change and its audit entry are one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.engine import Engine

from outreach.audience import transaction
from outreach.audience.audit import record
from outreach.clock import Clock
from outreach.delivery import campaigns
from outreach.models import Actor


class Steer(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    RETRY_FAILED = "retry-failed"
    RESEND_UNKNOWN = "resend-unknown"


@dataclass(frozen=True)
class Steered:
    """What a change did: the campaign's status after it, and how many recipients it moved."""

    campaign_id: int
    status: str
    moved: int = 0
    transport: str = ""


def steer(
    engine: Engine, campaign_id: int, how: Steer, actor: Actor, clock: Clock, reason: str = ""
) -> Steered:
    """Apply one change to a campaign and record who made it."""
    with transaction(engine) as session:
        moved = 0
        if how is Steer.PAUSE:
            campaigns.pause(session, campaign_id, reason or f"paused by {actor.name}", clock)
        elif how is Steer.RESUME:
            campaigns.resume(session, campaign_id, clock)
        elif how is Steer.CANCEL:
            moved = campaigns.cancel(session, campaign_id, clock)
        elif how is Steer.RETRY_FAILED:
            moved = campaigns.retry_failed(session, campaign_id, clock)
        else:
            moved = campaigns.resend_unknown(session, campaign_id, clock)
        campaign = campaigns.get_campaign(session, campaign_id)
        detail = {"moved": moved} if how not in (Steer.PAUSE, Steer.RESUME) else {}
        record(session, actor, f"campaign.{how.value}", f"campaign {campaign_id}", clock, detail)
        return Steered(campaign_id, str(campaign.status), moved, campaign.transport)
