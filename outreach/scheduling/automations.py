"""Automations: find who is due for each step, queue them in the step's campaign, at most once.

Each step has one long-lived campaign. A periodic job adds a ledger row for every subscriber whose
trigger time has come (one INSERT ... SELECT over the audience tables); the ledger's unique
``(campaign, subscriber)`` and a NOT EXISTS over every campaign of the step make "at most once per
subscriber and step" structural rather than a matter of bookkeeping. Audience (topics, segments from
the step's front matter) and mailability are applied when queueing, and the runner checks
unsubscribes and suppressions again when it claims each row.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from outreach.audience import Segment, compile_rule, mailable_clause, transaction
from outreach.audience.schema import ConsentAction, ConsentEvent, Subscriber
from outreach.audience.segments import FieldCondition
from outreach.audience.site_segments import sending_segments
from outreach.clock import Clock
from outreach.config import Config
from outreach.content.editions import edition_files, read_editions
from outreach.delivery import campaigns as campaign_ops
from outreach.delivery.audience import audience_clause
from outreach.delivery.campaigns import edition_rows, log, sender_for
from outreach.delivery.editions import choice_clause, choice_for, replace_editions
from outreach.delivery.schema import Campaign, CampaignStatus, Delivery, DeliveryState
from outreach.errors import OutreachError
from outreach.render import render_issue
from outreach.scheduling.planning import AUTOMATION, _fill
from outreach.scheduling.schema import AutomationStep, ScheduledSend
from outreach.scheduling.snapshot import COLUMNS, campaign_audience
from outreach.scheduling.steps import FOLDER, Step, Trigger, load_steps, matching
from outreach.scheduling.timing import parse_clock


def slug_of(step: str) -> str:
    return f"automation-{step}"


def _local_midnight_on_or_after(moment: datetime, zone: ZoneInfo) -> date:
    local = moment.astimezone(zone)
    return local.date() if local.time() == time(0) else local.date() + timedelta(days=1)


def due_clause(
    trigger: Trigger, now: datetime, activated_at: datetime, zone: ZoneInfo
) -> sa.ColumnElement[bool]:
    """Subscribers whose moment for this trigger is in (activation, now] (SQL over ``subscribers``)."""
    offset = timedelta(days=trigger.days)
    at = parse_clock(trigger.at, "at")
    if trigger.after == "confirmation":
        low, high = activated_at - offset, now - offset
        if low > high:
            return sa.false()
        confirmed = sa.select(ConsentEvent.id).where(
            ConsentEvent.subscriber_id == Subscriber.id, ConsentEvent.action == ConsentAction.CONFIRMED
        )
        in_range = confirmed.where(ConsentEvent.at >= low, ConsentEvent.at <= high).exists()
        signed_up = sa.and_(
            ~confirmed.exists(),
            Subscriber.signup_date >= _local_midnight_on_or_after(low, zone),
            Subscriber.signup_date <= high.astimezone(zone).date(),
        )
        return sa.or_(in_range, signed_up)
    local_now = now.astimezone(zone)
    if trigger.before == "event":
        assert trigger.event_date is not None
        goes = datetime.combine(trigger.event_date - offset, at, zone)
        event_starts = datetime.combine(trigger.event_date, time(0), zone)
        return sa.true() if goes <= now < event_starts else sa.false()
    # A date attribute: the reminder for date R goes at (R - days) at ``at`` o'clock.
    last = local_now.date() if local_now.time() >= at else local_now.date() - timedelta(days=1)
    activated = activated_at.astimezone(zone)
    first = activated.date() if activated.time() <= at else activated.date() + timedelta(days=1)
    low_date = max(first + offset, local_now.date())
    high_date = last + offset
    if low_date > high_date:
        return sa.false()
    condition = FieldCondition(f"attributes.{trigger.attribute}", "between", (low_date, high_date))
    return compile_rule(condition, local_now.date())


def queue_due(
    session: Session,
    campaign: Campaign,
    trigger: Trigger,
    segments: dict[str, Segment],
    now: datetime,
    activated_at: datetime,
    zone: ZoneInfo,
) -> int:
    """Add a pending row for everyone newly due; returns how many were added."""
    had_it = (
        sa.select(Delivery.id)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.subscriber_id == Subscriber.id, Campaign.issue_slug == campaign.issue_slug)
        .exists()
    )
    who = sa.select(
        sa.literal(campaign.id).label("campaign_id"),
        Subscriber.id.label("subscriber_id"),
        sa.literal(DeliveryState.PENDING.value).label("state"),
        sa.literal("").label("reason"),
        sa.literal("").label("provider_id"),
        sa.literal(0).label("attempts"),
        sa.literal("").label("claimed_by"),
        choice_clause(choice_for(session, campaign), Subscriber.language).label("language"),
    ).where(
        due_clause(trigger, now, activated_at, zone),
        audience_clause(campaign_audience(campaign), segments, now.astimezone(zone).date()),
        mailable_clause(),
        ~had_it,
    )
    count = sa.select(sa.func.count()).where(Delivery.campaign_id == campaign.id)
    before = int(session.scalar(count) or 0)
    session.execute(sa.insert(Delivery).from_select(COLUMNS, who.order_by(Subscriber.id)))
    return int(session.scalar(count) or 0) - before


def step_state(session: Session, name: str, clock: Clock) -> AutomationStep:
    """The step's row, created (active from now) the first time it is seen."""
    state = session.get(AutomationStep, name)
    if state is None:
        now = clock.now()
        state = AutomationStep(name=name, paused=False, content_hash="", activated_at=now, updated_at=now)
        session.add(state)
        session.flush()
    return state


def _content(step: Step, config: Config, session: Session, state: AutomationStep, clock: Clock) -> Campaign:
    """The step's campaign, created or brought up to date with its Markdown file and its editions.

    A step may have language editions like an issue (``welcome-1.es.md`` beside ``welcome-1.md``):
    each subscriber is queued with the edition in their language, the default where there is none,
    so a Spanish reader's welcome is in Spanish."""
    digest = hashlib.sha256()
    for path in edition_files(step.path).paths:
        digest.update(path.name.encode("utf-8") + b"\x00" + path.read_bytes() + b"\x00")
    campaign = session.get(Campaign, state.campaign_id) if state.campaign_id else None
    if campaign is not None and digest.hexdigest() == state.content_hash:
        return campaign
    editions = read_editions(step.path, config.time_zone)
    compiled = render_issue(editions.default, config)
    others = [render_issue(issue, config) for issue in editions.others]
    now = clock.now()
    if campaign is None:
        campaign = Campaign(
            issue_slug=slug_of(step.name), status=CampaignStatus.SCHEDULED, pause_reason="", created_at=now
        )
        _fill(campaign, compiled, sender_for(config, compiled), config.settings.delivery.transport)
        session.add(campaign)
        session.flush()
        session.add(ScheduledSend(campaign_id=campaign.id, kind=AUTOMATION, name=step.name, created_at=now))
        state.campaign_id = campaign.id
        log(session, campaign.id, "created", clock, f"automation step {step.name}: {step.trigger.describe()}")
    else:
        _fill(campaign, compiled, sender_for(config, compiled), campaign.transport)
        log(session, campaign.id, "content-updated", clock, f"{step.path.name} changed; rendered again")
    replace_editions(session, campaign, edition_rows(others))
    state.content_hash = digest.hexdigest()
    state.updated_at = now
    return campaign


def run_step(
    session: Session, step: Step, config: Config, clock: Clock, segments: dict[str, Segment]
) -> str | None:
    """Queue the step's due subscribers; returns a line to report, if anything happened."""
    state = step_state(session, step.name, clock)
    if state.paused:
        return None
    campaign = _content(step, config, session, state, clock)
    if campaign.status is CampaignStatus.CANCELLED:
        return f"automation {step.name}: its campaign {campaign.id} was cancelled; nothing is queued"
    now = clock.now()
    added = queue_due(session, campaign, step.trigger, segments, now, state.activated_at, config.time_zone)
    if not added:
        return None
    if campaign.status in (CampaignStatus.SCHEDULED, CampaignStatus.DONE):
        campaign.status = CampaignStatus.SENDING
        campaign.started_at = campaign.started_at or now
        campaign.finished_at = None
    log(session, campaign.id, "queued", clock, f"{added} recipients due ({step.trigger.describe()})")
    return f"automation {step.name}: {added} recipients queued in campaign {campaign.id}"


def run_automations(engine: Engine, config: Config, clock: Clock) -> list[str]:
    """One pass over every step; a broken step is reported and the others still run."""
    steps = load_steps(config.path("newsletters") / FOLDER)
    if not steps:
        return []
    lines: list[str] = []
    with transaction(engine) as session:
        segments = sending_segments(session, config)
    for step in steps:
        try:
            with transaction(engine) as session:
                line = run_step(session, step, config, clock, segments)
        except OutreachError as err:
            line = f"ERROR automation {step.name}: {err}"
        if line:
            lines.append(line)
    return lines


def set_paused(session: Session, config: Config, name: str, paused: bool, clock: Clock) -> list[str]:
    """Pause or resume a step (``welcome-2``) or a series (``welcome``); returns the step names."""
    steps = matching(load_steps(config.path("newsletters") / FOLDER), name)
    verb = "paused" if paused else "resumed"
    for step in steps:
        state = step_state(session, step.name, clock)
        state.paused = paused
        state.updated_at = clock.now()
        if state.campaign_id is None:
            continue
        campaign = campaign_ops.get_campaign(session, state.campaign_id)
        if paused and campaign.status is CampaignStatus.SENDING:
            campaign_ops.pause(session, campaign.id, "automation paused by an operator", clock)
        elif not paused and campaign.status is CampaignStatus.PAUSED:
            campaign_ops.resume(session, campaign.id, clock)
        else:
            log(session, campaign.id, verb, clock, f"automation {verb} by an operator")
    return [s.name for s in steps]


def overview(session: Session, config: Config) -> list[dict[str, object]]:
    """Each step with its trigger, state and how many it has reached, for ``schedule list``."""
    rows = []
    for step in load_steps(config.path("newsletters") / FOLDER):
        state = session.get(AutomationStep, step.name)
        sent = 0
        if state is not None and state.campaign_id is not None:
            sent = int(
                session.scalar(
                    sa.select(sa.func.count()).where(
                        Delivery.campaign_id == state.campaign_id, Delivery.state == DeliveryState.SENT
                    )
                )
                or 0
            )
        rows.append(
            {
                "step": step.name,
                "when": step.trigger.describe(),
                "paused": bool(state and state.paused),
                "campaign": state.campaign_id if state else None,
                "sent": sent,
            }
        )
    return rows
