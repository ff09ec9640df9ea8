"""The functions APScheduler calls, by reference, with plain arguments only.

A job stored in the database is a pickled reference like ``outreach.scheduling.jobs:send_due_campaign``
with a campaign id: nothing else survives a restart, so everything a job needs (config, database,
clock, the lease) comes from the ``Runtime`` the running scheduler installs here. Jobs run one at a
time (the scheduler has a single worker thread), and each first checks that this process still holds
the lease.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from outreach.audience import transaction
from outreach.audience.site_segments import sending_segments
from outreach.clock import Clock, show_time
from outreach.config import Config
from outreach.delivery.campaigns import get_campaign
from outreach.delivery.runner import Progress
from outreach.delivery.tracking import tracking_for
from outreach.delivery.wiring import build_transport, requires_public_links, runner_for
from outreach.scheduling.guard import LeaseGuardedTransport
from outreach.scheduling.planning import JobBook, job_id, waiting_issues
from outreach.scheduling.sending import Start, due_campaigns, mark_missed, overdue, start_due
from outreach.scheduling.timing import SendWindow, grace_of, is_missed

logger = logging.getLogger("outreach.scheduling")
SEND_JOB = "outreach.scheduling.jobs:send_due_campaign"
SLACK = timedelta(seconds=1)


@dataclass
class Runtime:
    """What the running scheduler hands its jobs."""

    config: Config
    engine: Engine
    clock: Clock
    jobs: JobBook
    holds_lease: Callable[[], bool]
    say: Callable[[str], None] = field(default=lambda line: None)

    @property
    def window(self) -> SendWindow:
        return SendWindow.from_settings(self.config.settings.schedule)


_runtime: Runtime | None = None


def install(runtime: Runtime | None) -> None:
    """Called by the scheduler service when it becomes active (and with None when it stops)."""
    global _runtime
    _runtime = runtime


def current() -> Runtime | None:
    """The installed runtime, or None (jobs then do nothing: this process is not the scheduler)."""
    if _runtime is None or not _runtime.holds_lease():
        return None
    return _runtime


def send_due_campaign(campaign_id: int) -> None:
    """APScheduler's job for a scheduled issue: start it exactly once, then send it."""
    runtime = current()
    if runtime is None:
        logger.warning("campaign %s is due but this process does not hold the scheduler lease", campaign_id)
        return
    started = start_campaign(runtime, campaign_id)
    if started is Start.STARTED:
        send_campaign(runtime, campaign_id)


def start_campaign(runtime: Runtime, campaign_id: int) -> Start:
    config = runtime.config
    try:
        with transaction(runtime.engine) as session:
            segments = sending_segments(session, config)
            started = start_due(
                session,
                campaign_id,
                segments,
                runtime.clock,
                runtime.window,
                grace_of(config.settings.schedule),
                tracking_for(config),
            )
    except Exception as err:  # a bad segment file must not kill the scheduler: report and move on
        logger.exception("campaign %s could not start", campaign_id)
        runtime.say(f"ERROR campaign {campaign_id} could not start: {err}")
        return Start.GONE
    if started.outcome is Start.MISSED:
        runtime.say(f"MISSED campaign {campaign_id}: {started.detail}")
    elif started.outcome is Start.STARTED:
        runtime.say(f"campaign {campaign_id} started: {started.detail}")
    return started.outcome


def send_campaign(runtime: Runtime, campaign_id: int) -> Progress | None:
    """Run the campaign's due rows to the end (retries and later local times are left for the tick)."""
    config = runtime.config
    with transaction(runtime.engine) as session:
        name = get_campaign(session, campaign_id).transport
    try:
        inner = build_transport(config, name)
        requires_public_links(config, inner)
    except Exception as err:
        logger.exception("campaign %s cannot build transport %s", campaign_id, name)
        runtime.say(f"ERROR campaign {campaign_id}: transport {name!r} is not usable: {err}")
        return None
    with LeaseGuardedTransport(inner, runtime.holds_lease) as way_out:
        runner = runner_for(config, runtime.engine, campaign_id, name, way_out, runtime.clock)
        progress = runner.run(wait_for_retries=False)
    runtime.say(f"campaign {campaign_id}: {progress.sent} sent, {progress.failed} failed in this run")
    return progress


def reconcile(runtime: Runtime, *, refresh: bool = False) -> None:
    """Make the jobs match the campaigns: past-grace ones missed (loudly), missing jobs re-created.

    APScheduler silently discards a job that is later than its misfire grace; this catches those and
    every other way a job can go missing, so a scheduled campaign is sent or reported, never lost.
    ``refresh`` re-puts every job even if it looks right: job options (the misfire grace) are stored
    with each job, so a scheduler that starts re-puts them all with today's ``grace_hours``.
    """
    now = runtime.clock.now()
    window = runtime.window
    grace = grace_of(runtime.config.settings.schedule)
    wanted: dict[str, tuple[datetime, int]] = {}
    with transaction(runtime.engine) as session:
        for plan in waiting_issues(session, window):
            due = plan.missed_after
            if is_missed(due, now, grace):
                missed = mark_missed(session, plan.campaign_id, due, runtime.clock, window, grace)
                if missed.outcome is Start.MISSED:
                    runtime.say(f"MISSED campaign {plan.campaign_id} ({plan.slug}): {missed.detail}")
                continue
            late = now if plan.local_time else window.next_open(now)
            wanted[job_id(plan.slug)] = (plan.wakes_at if plan.wakes_at > now else late, plan.campaign_id)
    entries = runtime.jobs.entries()
    for key, (run_at, campaign_id) in wanted.items():
        have = entries.get(key)
        stale = have is None or have[1] != campaign_id or have[0] is None or abs(have[0] - run_at) > SLACK
        if stale or refresh:
            logger.info("job %s set for %s", key, show_time(run_at, window.zone))
            runtime.jobs.put(key, run_at, campaign_id)
    for key in entries:
        if key.startswith("issue:") and key not in wanted:
            runtime.jobs.drop(key)


def start_overdue(runtime: Runtime) -> None:
    """Start scheduled issues whose time has come (within grace) even if their job never fired."""
    with transaction(runtime.engine) as session:
        late = overdue(
            session, runtime.window, grace_of(runtime.config.settings.schedule), runtime.clock.now()
        )
    for campaign_id, _slug in late:
        if start_campaign(runtime, campaign_id) is Start.STARTED:
            send_campaign(runtime, campaign_id)


def continue_sending(runtime: Runtime) -> None:
    """Send what is due in campaigns the scheduler owns: after a restart, retries, local times."""
    with transaction(runtime.engine) as session:
        due = due_campaigns(session, runtime.window, runtime.clock.now())
    for campaign_id in due:
        if not runtime.holds_lease():
            return
        send_campaign(runtime, campaign_id)


def tick() -> None:
    """The scheduler's heartbeat (every few seconds): reconcile jobs, start overdue sends, continue."""
    runtime = current()
    if runtime is None:
        return
    try:
        reconcile(runtime)
        start_overdue(runtime)
        continue_sending(runtime)
    except Exception as err:
        logger.exception("scheduler tick failed")
        runtime.say(f"ERROR scheduler tick: {err}")


def automations_tick() -> None:
    """Queue the subscribers due for each automation step, then send them."""
    runtime = current()
    if runtime is None:
        return
    from outreach.scheduling.automations import run_automations

    try:
        for line in run_automations(runtime.engine, runtime.config, runtime.clock):
            runtime.say(line)
        continue_sending(runtime)
    except Exception as err:
        logger.exception("automations tick failed")
        runtime.say(f"ERROR automations: {err}")
