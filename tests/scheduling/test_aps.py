"""APScheduler 3's misfire grace comes from ``[schedule] grace_hours``, explicitly, on every job.

Its default is one second: a send whose scheduler was down at the due time would be dropped without a
word. Checked three ways on a real job store (SQLite, and PostgreSQL when asked): what a command
stores, what a real scheduler does with a late job either side of the grace, and that a scheduler
that starts re-puts jobs stored under an older setting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from sqlalchemy.engine import Engine

from outreach.clock import SystemClock
from outreach.config import Config, Schedule
from outreach.scheduling.aps import StoredJobs, build_scheduler
from outreach.scheduling.planning import job_id
from outreach.scheduling.service import SchedulerService, ServiceSettings
from outreach.scheduling.timing import grace_of
from tests.scheduling.conftest import Plan, issue_text

# Only so that a broken build ends; nothing waits this long when it works.
CAP = 60.0


def wait_for(what: Callable[[], bool], why: str) -> None:
    deadline = time.monotonic() + CAP
    while not what():
        assert time.monotonic() < deadline, f"gave up waiting for {why}"
        time.sleep(0.05)


def test_a_stored_job_carries_the_grace_of_the_config(engine: Engine) -> None:
    grace = grace_of(Schedule(grace_hours=2.5))
    StoredJobs(engine, grace).put("issue:december", datetime(2027, 1, 1, 14, tzinfo=UTC), 7)
    job = StoredJobs(engine, grace).store.lookup_job("issue:december")
    assert job is not None
    assert job.misfire_grace_time == 9000
    assert job.coalesce is True and job.max_instances == 1
    assert job.next_run_time == datetime(2027, 1, 1, 14, tzinfo=UTC)
    assert list(job.args) == [7]


def test_a_real_scheduler_runs_a_job_late_within_grace_and_skips_one_beyond_it(engine: Engine) -> None:
    """The scheduler was down: one job is an hour late, one three hours, and the grace is two."""
    grace = grace_of(Schedule(grace_hours=2))
    now = datetime.now(UTC)
    jobs = StoredJobs(engine, grace)
    jobs.put("issue:an-hour-late", now - timedelta(hours=1), 1)
    jobs.put("issue:three-hours-late", now - timedelta(hours=3), 2)
    seen: dict[str, int] = {}
    scheduler = build_scheduler(engine, grace)

    def record(event: JobExecutionEvent) -> None:
        seen[str(event.job_id)] = event.code

    scheduler.add_listener(record, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR)
    scheduler.start()
    try:
        wait_for(lambda: len(seen) == 2, "both jobs to be run or skipped")
    finally:
        scheduler.shutdown(wait=True)
    # The job itself finds no active scheduler runtime here and returns: what matters is that it ran.
    assert seen == {"issue:an-hour-late": EVENT_JOB_EXECUTED, "issue:three-hours-late": EVENT_JOB_MISSED}


def test_a_starting_scheduler_re_puts_jobs_stored_under_an_older_grace(
    synced: Engine, site: Config, plan: Plan, issue_file: Path
) -> None:
    """grace_hours was 1 second's worth when the job was stored; it is 6 h now (outreach.toml)."""
    issue_file.write_text(issue_text(send_at="2099-01-05 09:00"), encoding="utf-8")  # far from any clock
    campaign_id = plan()
    send_at = datetime(2099, 1, 5, 14, 0, tzinfo=UTC)
    StoredJobs(synced, timedelta(seconds=1)).put(job_id("2026-12-news"), send_at, campaign_id)
    wanted = grace_of(site.settings.schedule).total_seconds()
    assert wanted == 6 * 3600

    def stored_grace() -> float | None:
        job = StoredJobs(synced, timedelta(seconds=1)).store.lookup_job(job_id("2026-12-news"))
        return None if job is None else job.misfire_grace_time

    said: list[str] = []
    stop = threading.Event()
    settings = ServiceSettings(lease_seconds=30, poll_seconds=3600, automations_every=3600)
    service = SchedulerService(site, synced, SystemClock(), settings, said.append, stop)
    runner = threading.Thread(target=service.run, name="scheduler under test")
    runner.start()
    try:
        wait_for(lambda: any(line.startswith("active:") for line in said), "the scheduler to be active")
        wait_for(lambda: stored_grace() == wanted, f"the job's grace to become {wanted:g} s")
    finally:
        stop.set()
        runner.join(CAP)
    assert not runner.is_alive()
    assert said[-1] == "scheduler stopped; lease released"
