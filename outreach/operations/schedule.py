"""Scheduling an issue, as every front end does it: the send gate, a scheduled campaign, the audit log.

``outreach schedule ISSUE`` and the admin app's plan page call ``schedule_send``, so both refuse what
the gate refuses (errors, spam, a draft, changes not committed in git) and both write who scheduled
what to the audit log, in the transaction that schedules it. The campaign row is the truth; its
APScheduler job is written after the commit (see ``apply_jobs``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from outreach.audience import transaction
from outreach.audience.audit import record
from outreach.clock import Clock, SystemClock, iso_time
from outreach.config import Config
from outreach.delivery.campaigns import sender_for
from outreach.delivery.wiring import build_transport, requires_public_links
from outreach.errors import DatabaseError, DeliveryError
from outreach.models import Actor
from outreach.operations.gate import Purpose, clear, reviewed_commit, when
from outreach.scheduling.aps import StoredJobs
from outreach.scheduling.planning import PendingJobs, Scheduled, schedule_issue
from outreach.scheduling.timing import SendWindow, grace_of


class SendAtChanged(DeliveryError):
    """The issue's send_at is not the time the person confirmed; nothing was scheduled."""


@dataclass(frozen=True)
class ScheduledIssue:
    """What was scheduled, and what the person should know about it (the gate's notes, a late job)."""

    scheduled: Scheduled
    notes: tuple[str, ...] = ()


@contextmanager
def database_errors(config: Config) -> Iterator[None]:
    """A database failure as one line: which database, what it said, what to do."""
    try:
        yield
    except sa.exc.SQLAlchemyError as err:
        detail = str(getattr(err, "orig", None) or err).splitlines()[0]
        hint = (
            "another outreach process is writing to it; try again in a moment"
            if "locked" in detail
            else "check [database] url in outreach.toml (or OUTREACH_DATABASE_URL) and that it is running"
        )
        where = sa.make_url(config.database_url).render_as_string(hide_password=True)
        raise DatabaseError(f"the database {where} failed: {detail}; {hint}; nothing was changed") from err


def apply_jobs(pending: PendingJobs, engine: Engine, config: Config) -> str:
    """Write the job changes after the campaign rows are committed; if that fails, say so and go on.

    The campaign row is the truth and the running scheduler re-creates a missing job from it on its
    next pass, so a failure here delays nothing by more than its poll. Returns a note, or "".
    """
    try:
        pending.apply(StoredJobs(engine, grace_of(config.settings.schedule)))
    except sa.exc.SQLAlchemyError as err:
        detail = str(getattr(err, "orig", None) or err).splitlines()[0]
        return (
            f"the scheduler's job table could not be updated ({detail}); "
            "the change is saved and a running scheduler picks it up on its next pass"
        )
    return ""


def schedule_send(
    config: Config,
    engine: Engine,
    path: Path,
    *,
    actor: Actor,
    transport: str | None = None,
    local_time: bool = False,
    allow_uncommitted: bool = False,
    expected_send_at: datetime | None = None,
    clock: Clock | None = None,
) -> ScheduledIssue:
    """Clear the issue for scheduling and schedule (or re-schedule) it for its send_at.

    ``expected_send_at`` is the time a person confirmed: an issue whose send_at has changed since is
    refused, so nobody schedules a time they did not see.
    """
    clock = clock or SystemClock()
    name = transport or config.settings.delivery.transport
    backend = config.transport(name).backend
    clearance = clear(
        path,
        config,
        Purpose.SCHEDULE,
        clock.now(),
        backend=backend,
        allow_uncommitted=allow_uncommitted,
    )
    compiled = clearance.require()
    send_at = compiled.issue.send_at
    if expected_send_at is not None and send_at != expected_send_at:
        now_due = when(send_at, config) if send_at else "no time at all"
        raise SendAtChanged(
            f"{path}'s send_at changed since you looked: it now says {now_due}, not "
            f"{when(expected_send_at, config)}; nothing was scheduled. Look at the plan again"
        )
    requires_public_links(config, build_transport(config, name))
    window = SendWindow.from_settings(config.settings.schedule)
    pending = PendingJobs()
    with database_errors(config), transaction(engine) as session:
        scheduled = schedule_issue(
            session,
            compiled,
            sender_for(config, compiled),
            name,
            clock,
            window,
            pending,
            local_time=local_time,
            grace=grace_of(config.settings.schedule),
            reviewed_commit=reviewed_commit(clearance),
            editions=clearance.editions[1:],
        )
        record(
            session,
            actor,
            "campaign.schedule",
            f"campaign {scheduled.campaign_id}",
            clock,
            {
                "issue": scheduled.slug,
                "send_at": iso_time(scheduled.send_at, config.time_zone),
                "transport": name,
                "local_time": local_time,
                "rescheduled": scheduled.rescheduled,
            },
        )
    late = apply_jobs(pending, engine, config)
    return ScheduledIssue(scheduled, tuple(clearance.notes) + ((late,) if late else ()))
