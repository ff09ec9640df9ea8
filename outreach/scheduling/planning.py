"""Schedule, re-schedule and cancel an issue: a ``scheduled`` campaign row plus a job to wake it.

The campaign row is the truth: it holds the rendered content (re-scheduling an edited issue
re-renders and replaces it), the audience (resolved at the due time, not now) and ``send_at``. The
APScheduler job, one per issue slug, only says when to look at it; the scheduler re-creates missing
jobs from the rows, so a lost job can delay a send but never drop one. Every change is a line in the
campaign's history (``scheduled``, ``rescheduled``, ``cancelled``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.clock import Clock, show_time
from outreach.delivery.campaigns import Sender, archivable, edition_rows, log
from outreach.delivery.editions import replace_editions
from outreach.delivery.schema import Campaign, CampaignStatus
from outreach.render import CompiledIssue
from outreach.scheduling.errors import SchedulingError
from outreach.scheduling.schema import ScheduledSend
from outreach.scheduling.snapshot import local_due_times
from outreach.scheduling.timing import SendWindow, due_at, is_missed

ISSUE = "issue"
AUTOMATION = "automation"


class JobBook(Protocol):
    """Where wake-up jobs live: APScheduler's job store in production, a dict in tests."""

    def put(self, job_id: str, run_at: datetime, campaign_id: int) -> None: ...

    def drop(self, job_id: str) -> None: ...

    def entries(self) -> dict[str, tuple[datetime | None, int]]: ...


def job_id(slug: str) -> str:
    """Stable per issue, so re-scheduling replaces the job instead of adding a second one."""
    return f"issue:{slug}"


@dataclass(frozen=True)
class DueTimes:
    """When a send is due: ``first`` wakes its job; past ``last`` + grace, nobody can get it.

    One moment for an ordinary send (``send_at`` moved into the window). With local time, ``first``
    is the earliest zone's due time and ``last`` the latest's (the site's zone counts, for readers
    without one); ``zones`` maps each known zone to its own (``""`` is the site's).
    """

    first: datetime
    last: datetime
    zones: dict[str, datetime]

    def passed(self, now: datetime, grace: timedelta) -> list[str]:
        """The zones whose due time is already more than ``grace`` ago (their readers miss it)."""
        late = [zone or "the site's zone" for zone, due in self.zones.items() if is_missed(due, now, grace)]
        return sorted(late)


def due_times(session: Session, send_at: datetime, window: SendWindow, local_time: bool) -> DueTimes:
    """When the job must fire and when the send is missed for everyone (see ``DueTimes``)."""
    if local_time:
        zones = local_due_times(session, send_at, window)
        return DueTimes(min(zones.values()), max(zones.values()), zones)
    due = due_at(send_at, window).astimezone(UTC)
    return DueTimes(due, due, {"": due})


@dataclass(frozen=True)
class Scheduled:
    """One scheduled send, as ``outreach schedule list`` shows it.

    ``wakes_at`` is when its job fires; ``last_due`` is the latest recipient's due time (the same
    unless local time), which is what decides a miss. ``passed_zones`` names the zones whose readers
    will miss a local-time send because their time passed more than the grace before it was scheduled.
    """

    campaign_id: int
    slug: str
    subject: str
    status: CampaignStatus
    send_at: datetime
    wakes_at: datetime
    local_time: bool
    transport: str
    rescheduled: bool = False
    last_due: datetime | None = None
    passed_zones: tuple[str, ...] = ()

    @property
    def missed_after(self) -> datetime:
        """The due time a miss is counted from."""
        return self.last_due or self.wakes_at


def scheduled_issue(session: Session, slug: str) -> tuple[Campaign, ScheduledSend] | None:
    """The issue's campaign that is waiting for its time, if any."""
    row = session.execute(
        sa.select(Campaign, ScheduledSend)
        .join(ScheduledSend, ScheduledSend.campaign_id == Campaign.id)
        .where(
            ScheduledSend.kind == ISSUE,
            Campaign.issue_slug == slug,
            Campaign.status == CampaignStatus.SCHEDULED,
        )
    ).first()
    return (row[0], row[1]) if row else None


def _in_progress(session: Session, slug: str) -> Campaign | None:
    return session.scalars(
        sa.select(Campaign).where(
            Campaign.issue_slug == slug,
            Campaign.status.in_([CampaignStatus.SENDING, CampaignStatus.PAUSED]),
        )
    ).first()


def _fill(campaign: Campaign, compiled: CompiledIssue, sender: Sender, transport: str) -> None:
    issue = compiled.issue
    campaign.issue_path = str(issue.path or "")
    campaign.subject = issue.subject
    campaign.audience = {"topics": list(issue.audience.topics), "segments": list(issue.audience.segments)}
    campaign.transport = transport
    campaign.subject_source = compiled.templates.subject_source
    campaign.html_source = compiled.templates.html_source
    campaign.text_source = compiled.templates.text_source
    campaign.from_name = sender.from_name
    campaign.from_address = sender.from_address
    campaign.reply_to = sender.reply_to
    campaign.list_id = sender.list_id
    campaign.message_id_domain = sender.message_id_domain
    campaign.language = issue.language
    campaign.content_hash = compiled.fingerprint


def schedule_issue(
    session: Session,
    compiled: CompiledIssue,
    sender: Sender,
    transport: str,
    clock: Clock,
    window: SendWindow,
    jobs: JobBook,
    *,
    local_time: bool = False,
    grace: timedelta | None = None,
    reviewed_commit: str = "",
    editions: Sequence[CompiledIssue] = (),
) -> Scheduled:
    """Create or replace the issue's scheduled campaign and its job (in the caller's transaction).

    ``compiled`` is the issue's default edition and ``editions`` its others: the campaign sends each
    reader the one in their language, chosen when the audience is snapshotted at the due time.

    With ``grace``, a local-time send reports the zones whose readers will miss it already.
    ``reviewed_commit`` is the commit the send gate found the issue clean in ('' without a review).
    """
    issue = compiled.issue
    where = str(issue.path or issue.slug)
    if issue.send_at is None:
        raise SchedulingError(
            f"{where} has no send_at; add e.g. 'send_at: 2026-12-01 09:00' to its front matter"
        )
    if issue.audience.is_empty:
        raise SchedulingError(f"{where} names no audience; add 'audience:' with topics or segments")
    send_at = issue.send_at.astimezone(UTC)
    now = clock.now()
    if send_at <= now:
        raise SchedulingError(
            f"send_at {show_time(send_at, window.zone)} is in the past; pick a later time, "
            f"or send it now with `outreach send {where} --yes`"
        )
    running = _in_progress(session, issue.slug)
    if running is not None:
        raise SchedulingError(
            f"campaign {running.id} of {issue.slug} is already {running.status}; "
            f"see `outreach campaigns status {running.id}`"
        )
    existing = scheduled_issue(session, issue.slug)
    if existing is None:
        campaign = Campaign(
            issue_slug=issue.slug, status=CampaignStatus.SCHEDULED, pause_reason="", created_at=now
        )
        _fill(campaign, compiled, sender, transport)
        campaign.reviewed_commit = reviewed_commit
        campaign.send_at = send_at
        campaign.archive = archivable(issue, None)
        session.add(campaign)
        session.flush()
        session.add(
            ScheduledSend(
                campaign_id=campaign.id, kind=ISSUE, name=issue.slug, local_time=local_time, created_at=now
            )
        )
        previous: datetime | None = None
    else:
        campaign, send = existing
        previous = campaign.send_at
        _fill(campaign, compiled, sender, transport)
        campaign.reviewed_commit = reviewed_commit
        campaign.send_at = send_at
        campaign.archive = archivable(issue, None)
        send.local_time = local_time
    session.flush()
    replace_editions(session, campaign, edition_rows(editions))
    due = due_times(session, send_at, window, local_time)
    wakes = due.first
    passed = tuple(due.passed(now, grace)) if grace is not None and local_time else ()
    when = show_time(send_at, window.zone)
    detail = f"for {when} via {transport}" + (", each recipient's local time" if local_time else "")
    if wakes != send_at and not local_time:
        detail += f"; the send window opens {show_time(wakes, window.zone)}"
    if passed:
        detail += f"; readers in {', '.join(passed)} will miss it: their local time has passed"
    if previous is None:
        log(session, campaign.id, "scheduled", clock, detail)
    else:
        log(
            session,
            campaign.id,
            "rescheduled",
            clock,
            f"{detail} (was {show_time(previous, window.zone)}); content rendered again",
        )
    # Never a job in the past: APScheduler would count it as misfired the moment it sees it.
    jobs.put(job_id(issue.slug), max(wakes, now), campaign.id)
    return Scheduled(
        campaign.id,
        issue.slug,
        campaign.subject,
        CampaignStatus.SCHEDULED,
        send_at,
        wakes,
        local_time,
        transport,
        rescheduled=previous is not None,
        last_due=due.last,
        passed_zones=passed,
    )


def cancel_issue(session: Session, slug: str, clock: Clock, jobs: JobBook) -> int:
    """Cancel the issue's scheduled send; returns the campaign id. Refuses once sending has begun."""
    existing = scheduled_issue(session, slug)
    if existing is None:
        running = _in_progress(session, slug)
        if running is not None:
            raise SchedulingError(
                f"{slug} is already {running.status} (campaign {running.id}); "
                f"stop it with `outreach campaigns cancel {running.id}`"
            )
        raise SchedulingError(f"{slug} is not scheduled; `outreach schedule list` shows what is")
    campaign, _send = existing
    stopped = session.execute(
        sa.update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.status == CampaignStatus.SCHEDULED)
        .values(status=CampaignStatus.CANCELLED, finished_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if int(getattr(stopped, "rowcount", 0)) != 1:
        raise SchedulingError(f"{slug} started sending a moment ago (campaign {campaign.id})")
    log(session, campaign.id, "cancelled", clock, "cancelled before it was sent")
    jobs.drop(job_id(slug))
    return campaign.id


def listing(session: Session, window: SendWindow, since: datetime) -> list[Scheduled]:
    """Scheduled issues, and those missed or cancelled since ``since`` (so a miss stays visible)."""
    rows = session.execute(
        sa.select(Campaign, ScheduledSend)
        .join(ScheduledSend, ScheduledSend.campaign_id == Campaign.id)
        .where(
            ScheduledSend.kind == ISSUE,
            sa.or_(
                Campaign.status == CampaignStatus.SCHEDULED,
                sa.and_(
                    Campaign.status.in_([CampaignStatus.MISSED, CampaignStatus.SENDING]),
                    Campaign.send_at >= since,
                ),
            ),
        )
        .order_by(Campaign.send_at, Campaign.id)
    ).all()
    found = []
    for campaign, send in rows:
        send_at = campaign.send_at or since
        due = due_times(session, send_at, window, send.local_time)
        found.append(
            Scheduled(
                campaign.id,
                campaign.issue_slug,
                campaign.subject,
                campaign.status,
                send_at,
                due.first,
                send.local_time,
                campaign.transport,
                last_due=due.last,
            )
        )
    return found


def recent(clock: Clock, days: int = 14) -> datetime:
    return clock.now() - timedelta(days=days)


def waiting_issues(session: Session, window: SendWindow) -> list[Scheduled]:
    """Every issue still waiting for its time, with when its job must fire."""
    return [
        s
        for s in listing(session, window, datetime.max.replace(tzinfo=UTC))
        if s.status is CampaignStatus.SCHEDULED
    ]


class PendingJobs:
    """Job changes held until the campaign rows are committed, then applied to the real job book.

    On SQLite a second connection cannot write while the planning transaction is open, and a job for
    an uncommitted campaign must not fire anyway. If applying fails, the scheduler re-creates the job
    from the committed row on its next pass.
    """

    def __init__(self) -> None:
        self.puts: dict[str, tuple[datetime, int]] = {}
        self.drops: set[str] = set()

    def put(self, job_id: str, run_at: datetime, campaign_id: int) -> None:
        self.drops.discard(job_id)
        self.puts[job_id] = (run_at, campaign_id)

    def drop(self, job_id: str) -> None:
        self.puts.pop(job_id, None)
        self.drops.add(job_id)

    def entries(self) -> dict[str, tuple[datetime | None, int]]:
        return dict(self.puts)

    def apply(self, book: JobBook) -> None:
        for key in sorted(self.drops):
            book.drop(key)
        for key, (run_at, campaign_id) in self.puts.items():
            book.put(key, run_at, campaign_id)
