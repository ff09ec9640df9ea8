"""Campaigns: plan one, create it (snapshotting the audience into the ledger), and change its course.

Creating a campaign freezes two things: the rendered content (so a resume sends what was planned) and
the audience (one ledger row per recipient, inserted by one INSERT ... SELECT, so a million rows never
pass through Python).

A campaign sends every language edition of its issue (``editions.py``): each ledger row is given the
edition its recipient reads, still one row per (campaign, subscriber).

At most one campaign per issue is active (scheduled, sending or paused), whatever its editions. The
database enforces it with a partial unique index, and the campaign row is inserted with
``ON CONFLICT DO NOTHING`` against it: of two sends of one issue started together, exactly one creates
its campaign, and the other is told which campaign is already sending, having queued nobody.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from outreach.audience import Segment, mailable_clause
from outreach.audience.schema import Subscriber
from outreach.clock import Clock
from outreach.config import Config
from outreach.delivery.audience import audience_clause, exclusion_reason
from outreach.delivery.edition_choice import EditionChoice
from outreach.delivery.editions import choice_clause, replace_editions
from outreach.delivery.schema import (
    ACTIVE_STATUSES,
    Campaign,
    CampaignEdition,
    CampaignEvent,
    CampaignStatus,
    Delivery,
    DeliveryState,
)
from outreach.delivery.tracking import ClickTracking
from outreach.errors import DeliveryError
from outreach.models import Audience, Issue, IssueStatus
from outreach.render import CompiledIssue


@dataclass(frozen=True)
class Plan:
    """What ``outreach send`` would do, shown before anything is sent."""

    recipients: int
    excluded: dict[str, int]
    audience: Audience
    editions: dict[str, int] = field(default_factory=dict)  # recipients per language edition


@dataclass(frozen=True)
class Sender:
    """The identity a campaign's messages carry."""

    from_name: str
    from_address: str
    reply_to: str
    list_id: str
    message_id_domain: str


def sender_for(config: Config, compiled: CompiledIssue) -> Sender:
    """The issue's own From/Reply-To where it sets them, the site's otherwise."""
    issue, sender = compiled.issue, config.sender
    return Sender(
        issue.from_name or sender.from_name,
        issue.from_address or sender.from_address,
        issue.reply_to or sender.reply_to,
        sender.list_id,
        sender.message_id_domain,
    )


def archivable(issue: Issue, limit: int | None) -> bool:
    """Whether a send of ``issue`` belongs in the public archive and feeds: a full send (no
    ``--limit``) of a ready issue that does not say ``archive: false``. Test sends and automations
    create no archived campaign."""
    wanted = bool(getattr(issue, "archive", True))
    return wanted and limit is None and issue.status is IssueStatus.READY


def already_has(slug: str) -> sa.ColumnElement[bool]:
    """The subscriber already has (or may have) this issue from an earlier campaign."""
    earlier = (
        sa.select(Delivery.id)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(
            Delivery.subscriber_id == Subscriber.id,
            Campaign.issue_slug == slug,
            Delivery.state.in_(
                [DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.SENT, DeliveryState.UNKNOWN]
            ),
        )
    )
    return earlier.exists()


def plan(
    session: Session,
    audience: Audience,
    segments: dict[str, Segment],
    today: date,
    slug: str,
    limit: int | None = None,
    editions: EditionChoice | None = None,
) -> Plan:
    """Count who would receive the campaign and who is left out, and why; and how many readers each
    language edition would have (the first ``limit`` readers by id with a limit, as the send takes)."""
    why = sa.case((already_has(slug), sa.literal("already sent this issue")), else_=exclusion_reason())
    matching = sa.select(why.label("why")).where(audience_clause(audience, segments, today))
    sub = matching.subquery()
    found: dict[str, int] = {
        str(k): int(v) for k, v in session.execute(sa.select(sub.c.why, sa.func.count()).group_by(sub.c.why))
    }
    recipients = int(found.pop("", 0))
    if limit is not None:
        recipients = min(recipients, limit)
    per_edition: dict[str, int] = {}
    if editions is not None and editions.others:
        chosen = (
            sa.select(choice_clause(editions, Subscriber.language).label("edition"))
            .where(audience_clause(audience, segments, today), mailable_clause(), ~already_has(slug))
            .order_by(Subscriber.id)
        )
        if limit is not None:
            chosen = chosen.limit(limit)
        rows = chosen.subquery()
        grouped = sa.select(rows.c.edition, sa.func.count()).group_by(rows.c.edition)
        counted = {str(language): int(n) for language, n in session.execute(grouped)}
        per_edition = {language: counted.get(language, 0) for language in editions.languages}
    elif editions is not None:
        per_edition = {editions.default: recipients}
    return Plan(
        recipients=recipients,
        excluded={str(k): int(v) for k, v in found.items()},
        audience=audience,
        editions=per_edition,
    )


def edition_rows(editions: Sequence[CompiledIssue]) -> list[CampaignEdition]:
    """The campaign rows of an issue's other editions (``CompiledIssue`` of each, rendered)."""
    return [
        CampaignEdition(
            language=compiled.issue.language,
            issue_path=str(compiled.issue.path or ""),
            subject=compiled.issue.subject,
            subject_source=compiled.templates.subject_source,
            html_source=compiled.templates.html_source,
            text_source=compiled.templates.text_source,
        )
        for compiled in editions
    ]


def choice_of(compiled: CompiledIssue, editions: Sequence[CompiledIssue] = ()) -> EditionChoice:
    """How readers are split between the default edition ``compiled`` and the others."""
    return EditionChoice(compiled.issue.language, tuple(e.issue.language for e in editions))


def log(session: Session, campaign_id: int, kind: str, clock: Clock, detail: str = "") -> None:
    """Add a line to the campaign's history."""
    session.add(CampaignEvent(campaign_id=campaign_id, at=clock.now(), kind=kind, detail=detail))


def create_campaign(
    session: Session,
    compiled: CompiledIssue,
    sender: Sender,
    audience: Audience,
    segments: dict[str, Segment],
    transport: str,
    clock: Clock,
    *,
    limit: int | None = None,
    status: CampaignStatus = CampaignStatus.SENDING,
    tracking: ClickTracking | None = None,
    archive: bool = False,
    reviewed_commit: str = "",
    recipients: Sequence[tuple[int, dict[str, str]]] | None = None,
    contacts_file: str = "",
    editions: Sequence[CompiledIssue] = (),
) -> Campaign:
    """Create the campaign and its ledger rows in the caller's transaction.

    ``compiled`` is the default edition and ``editions`` the issue's others: each recipient's row is
    given the edition in their language (``EditionChoice``), the default where there is none.
    ``reviewed_commit`` is the git commit the send gate found the issue clean in ('' when there was
    no review); the campaign keeps it with the rendered message's fingerprint.

    ``archive`` says whether the web archive and feeds show it (``archivable`` decides for a send of
    an issue); nothing is published unless the caller says so. Raises DeliveryError naming the
    campaign already active for the issue's edition, if there is one, or when the campaign would reach
    nobody; nothing is queued then.

    With click tracking on, links are rewritten once here (one signed redirect per link per campaign,
    nothing per recipient), before any row can be sent.

    ``recipients`` (subscriber id, the contact's fields) replaces the audience for a one-off letter to
    a contacts file (``outreach.delivery.one_off`` plans and saves them); ``contacts_file`` names it.
    """
    issue = compiled.issue
    now = clock.now()
    values = {
        "issue_slug": issue.slug,
        "language": issue.language,
        "archive": archive,
        "reviewed_commit": reviewed_commit,
        "content_hash": compiled.fingerprint,
        "issue_path": str(issue.path or ""),
        "subject": issue.subject,
        "status": status,
        "audience": {"topics": list(audience.topics), "segments": list(audience.segments)}
        | ({"contacts": contacts_file} if contacts_file else {}),
        "transport": transport,
        "subject_source": compiled.templates.subject_source,
        "html_source": compiled.templates.html_source,
        "text_source": compiled.templates.text_source,
        "from_name": sender.from_name,
        "from_address": sender.from_address,
        "reply_to": sender.reply_to,
        "list_id": sender.list_id,
        "message_id_domain": sender.message_id_domain,
        "pause_reason": "",
        "send_at": issue.send_at,
        "created_at": now,
        "started_at": now if status is CampaignStatus.SENDING else None,
    }
    campaign = _insert_unless_active(session, values)
    replace_editions(session, campaign, edition_rows(editions))
    if tracking is not None:
        tracking.apply(campaign)
    choice = choice_of(compiled, editions)
    if recipients is not None:
        _insert_recipients(session, campaign, recipients, now)
    else:
        _insert_audience(session, campaign, issue.slug, audience, segments, clock, limit, choice)
    total = session.scalar(sa.select(sa.func.count()).where(Delivery.campaign_id == campaign.id)) or 0
    if not total:  # e.g. another campaign of the issue reached everyone since the plan was made
        raise DeliveryError(
            f"nobody to send {issue.slug} to: everyone in the audience already has it or cannot be "
            "mailed; `outreach campaigns list` shows the campaigns"
        )
    detail = f"{total} recipients via {transport}"
    if choice.others:
        detail += " in editions " + ", ".join(choice.languages)
    log(session, campaign.id, "created", clock, detail)
    return campaign


def _insert_recipients(
    session: Session, campaign: Campaign, recipients: Sequence[tuple[int, dict[str, str]]], now: datetime
) -> None:
    """One pending row per listed contact, with their fields (a contacts file is small; a letter to
    a contacts file is sent in its own language)."""
    session.execute(
        sa.insert(Delivery),
        [
            {
                "campaign_id": campaign.id,
                "subscriber_id": subscriber_id,
                "state": DeliveryState.PENDING,
                "reason": "",
                "provider_id": "",
                "attempts": 0,
                "claimed_by": "",
                "language": campaign.language,
                "fields": fields,
            }
            for subscriber_id, fields in recipients
        ],
    )


def _insert_audience(
    session: Session,
    campaign: Campaign,
    slug: str,
    audience: Audience,
    segments: dict[str, Segment],
    clock: Clock,
    limit: int | None,
    choice: EditionChoice,
) -> None:
    """The audience's ledger rows, by one INSERT ... SELECT, each given its reader's edition."""
    who = (
        sa.select(
            sa.literal(campaign.id).label("campaign_id"),
            Subscriber.id.label("subscriber_id"),
            sa.literal(DeliveryState.PENDING.value).label("state"),
            sa.literal("").label("reason"),
            sa.literal("").label("provider_id"),
            sa.literal(0).label("attempts"),
            sa.literal("").label("claimed_by"),
            choice_clause(choice, Subscriber.language).label("language"),
        )
        .where(
            audience_clause(audience, segments, clock.now().date()),
            mailable_clause(),
            ~already_has(slug),
        )
        .order_by(Subscriber.id)
    )
    if limit is not None:
        who = who.limit(limit)
    columns = [
        "campaign_id",
        "subscriber_id",
        "state",
        "reason",
        "provider_id",
        "attempts",
        "claimed_by",
        "language",
    ]
    session.execute(sa.insert(Delivery).from_select(columns, who))


def _insert_unless_active(session: Session, values: dict[str, Any]) -> Campaign:
    """INSERT the campaign row unless its issue has an active campaign (the unique index
    decides, so two processes racing cannot both win); the winner's id otherwise, in an error."""
    table: sa.Table = Campaign.__table__  # type: ignore[assignment]
    dialect = session.get_bind().dialect.name
    insert: Any = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect](table)
    active = table.c.status.in_([s.value for s in ACTIVE_STATUSES])
    statement = (
        insert.values(values)
        .on_conflict_do_nothing(index_elements=["issue_slug"], index_where=active)
        .returning(table.c.id)
    )
    campaign_id = session.scalar(statement)
    if campaign_id is None:
        raise DeliveryError(_already_active(session, values["issue_slug"]))
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    return campaign


def _already_active(session: Session, slug: str) -> str:
    other = session.execute(
        sa.select(Campaign.id, Campaign.status).where(
            Campaign.issue_slug == slug, Campaign.status.in_(ACTIVE_STATUSES)
        )
    ).first()
    if other is None:  # it finished in the meantime: trying again will work
        return f"another campaign of {slug} was active a moment ago; try again"
    number, status = other
    return (
        f"campaign {number} of {slug} is already {status}: one campaign per issue at a time. "
        f"See `outreach campaigns status {number}`; resume or cancel it, or wait for it to finish"
    )


def _activate(session: Session, campaign: Campaign) -> None:
    """Make ``campaign`` sending again, unless another campaign of its issue is active now (the
    unique index has the last word if one becomes active at this very moment)."""
    other = session.scalar(
        sa.select(sa.func.count()).where(
            Campaign.issue_slug == campaign.issue_slug,
            Campaign.status.in_(ACTIVE_STATUSES),
            Campaign.id != campaign.id,
        )
    )
    if other:
        raise DeliveryError(_already_active(session, campaign.issue_slug))
    campaign.status = CampaignStatus.SENDING
    try:
        session.flush()
    except IntegrityError:
        raise DeliveryError(
            f"another campaign of {campaign.issue_slug} started just now; `outreach campaigns list` shows it"
        ) from None


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise DeliveryError(f"no campaign {campaign_id}; `outreach campaigns list` shows them")
    return campaign


def pause(session: Session, campaign_id: int, reason: str, clock: Clock) -> Campaign:
    campaign = get_campaign(session, campaign_id)
    if campaign.status in (CampaignStatus.DONE, CampaignStatus.CANCELLED):
        raise DeliveryError(f"campaign {campaign_id} is {campaign.status}; there is nothing to pause")
    campaign.status = CampaignStatus.PAUSED
    campaign.pause_reason = reason
    log(session, campaign_id, "paused", clock, reason)
    return campaign


def resume(session: Session, campaign_id: int, clock: Clock) -> Campaign:
    campaign = get_campaign(session, campaign_id)
    if campaign.status is CampaignStatus.CANCELLED:
        raise DeliveryError(f"campaign {campaign_id} was cancelled; it cannot be resumed")
    if campaign.status not in ACTIVE_STATUSES:
        _activate(session, campaign)
    campaign.status = CampaignStatus.SENDING
    campaign.pause_reason = ""
    campaign.finished_at = None
    log(session, campaign_id, "resumed", clock)
    return campaign


def cancel(session: Session, campaign_id: int, clock: Clock) -> int:
    """Stop for good: pending rows become ``skipped (cancelled)``; returns how many."""
    campaign = get_campaign(session, campaign_id)
    if campaign.status is CampaignStatus.DONE:
        raise DeliveryError(f"campaign {campaign_id} has finished; there is nothing to cancel")
    campaign.status = CampaignStatus.CANCELLED
    result = session.execute(
        sa.update(Delivery)
        .where(Delivery.campaign_id == campaign_id, Delivery.state == DeliveryState.PENDING)
        .values(state=DeliveryState.SKIPPED, reason="campaign cancelled", updated_at=clock.now())
    )
    skipped = int(getattr(result, "rowcount", 0) or 0)
    log(session, campaign_id, "cancelled", clock, f"{skipped} recipients not sent")
    return skipped


def _requeue(
    session: Session,
    campaign_id: int,
    state: DeliveryState,
    reason_prefix: str | None,
    clock: Clock,
    kind: str,
) -> int:
    condition: list[Any] = [Delivery.campaign_id == campaign_id, Delivery.state == state]
    if reason_prefix is not None:
        condition.append(Delivery.reason.startswith(reason_prefix))
    result = session.execute(
        sa.update(Delivery)
        .where(*condition)
        .values(state=DeliveryState.PENDING, attempts=0, next_attempt_at=None, updated_at=clock.now())
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        campaign = get_campaign(session, campaign_id)
        if campaign.status is CampaignStatus.DONE:
            _activate(session, campaign)
            campaign.finished_at = None
        log(session, campaign_id, kind, clock, f"{count} recipients queued again")
    return count


def retry_failed(session: Session, campaign_id: int, clock: Clock) -> int:
    """Queue again the rows that failed for transient reasons only (never bounces or rejections)."""
    return _requeue(session, campaign_id, DeliveryState.FAILED, "retry exhausted", clock, "retry-failed")


def resend_unknown(session: Session, campaign_id: int, clock: Clock) -> int:
    """Queue again the rows whose fate is unknown: the operator accepts a possible duplicate."""
    return _requeue(session, campaign_id, DeliveryState.UNKNOWN, None, clock, "resend-unknown")


def history(session: Session, campaign_id: int) -> list[CampaignEvent]:
    return list(
        session.scalars(
            sa.select(CampaignEvent)
            .where(CampaignEvent.campaign_id == campaign_id)
            .order_by(CampaignEvent.id)
        )
    )
