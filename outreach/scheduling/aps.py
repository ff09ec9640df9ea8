"""APScheduler 3 wiring: one BackgroundScheduler on the project's database, with safe job options.

APScheduler's ``misfire_grace_time`` defaults to 1 s (a send whose process was down at the due time
would be dropped in silence), so it is set from ``[schedule] grace_hours``; ``coalesce`` and
``max_instances=1`` keep a late job from running twice. Job options are stored with each job, so the
scheduler re-puts every job at start with the current settings. One worker thread: jobs never
overlap in one process, and the lease keeps a single process active per database.

Commands (``outreach schedule ...``) only write the job table, through ``StoredJobs``: no scheduler
is started in them, so nothing can fire there (a started-then-stopped scheduler would still try to
run a job that is already due, and fail with a traceback, as it stops).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from sqlalchemy.engine import Engine

from outreach.scheduling.jobs import SEND_JOB

STORE = "default"
HEARTBEATS = "heartbeats"
TABLE = "apscheduler_jobs"


def build_scheduler(engine: Engine, grace: timedelta) -> BackgroundScheduler:
    """A scheduler whose persistent jobs live in ``apscheduler_jobs`` of the project's database."""
    return BackgroundScheduler(
        jobstores={STORE: SQLAlchemyJobStore(engine=engine, tablename=TABLE), HEARTBEATS: MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults=job_options(grace),
        timezone=UTC,
    )


def job_options(grace: timedelta) -> dict[str, Any]:
    return {"misfire_grace_time": max(1, int(grace.total_seconds())), "coalesce": True, "max_instances": 1}


class ApsJobs:
    """The ``JobBook`` over a scheduler's persistent store (running, or started paused by the CLI)."""

    def __init__(self, scheduler: BackgroundScheduler, grace: timedelta) -> None:
        self.scheduler = scheduler
        self.grace = grace

    def put(self, job_id: str, run_at: datetime, campaign_id: int) -> None:
        self.scheduler.add_job(
            SEND_JOB,
            trigger=DateTrigger(run_date=run_at, timezone=UTC),
            args=[campaign_id],
            id=job_id,
            name=f"send campaign {campaign_id}",
            jobstore=STORE,
            replace_existing=True,
            **job_options(self.grace),
        )

    def drop(self, job_id: str) -> None:
        with contextlib.suppress(JobLookupError):
            self.scheduler.remove_job(job_id, jobstore=STORE)

    def entries(self) -> dict[str, tuple[datetime | None, int]]:
        return _entries(self.scheduler.get_jobs(jobstore=STORE))


class StoredJobs:
    """The ``JobBook`` for a command: APScheduler's job table itself, with no scheduler running.

    The scheduler that runs (``outreach scheduler run``) reads the table on its next pass; jobs are
    written exactly as it would write them (same function, options and time zone).
    """

    def __init__(self, engine: Engine, grace: timedelta) -> None:
        self.grace = grace
        self._settings = build_scheduler(engine, grace)  # never started: it only names options and zone
        self.store = SQLAlchemyJobStore(engine=engine, tablename=TABLE)
        self.store.start(self._settings, STORE)  # creates the table on a new database

    def put(self, job_id: str, run_at: datetime, campaign_id: int) -> None:
        job = Job(
            self._settings,
            id=job_id,
            func=SEND_JOB,
            trigger=DateTrigger(run_date=run_at, timezone=UTC),
            executor="default",
            args=(campaign_id,),
            kwargs={},
            name=f"send campaign {campaign_id}",
            next_run_time=run_at,
            **job_options(self.grace),
        )
        try:
            self.store.add_job(job)
        except ConflictingIdError:
            self.store.update_job(job)

    def drop(self, job_id: str) -> None:
        with contextlib.suppress(JobLookupError):
            self.store.remove_job(job_id)

    def entries(self) -> dict[str, tuple[datetime | None, int]]:
        return _entries(self.store.get_all_jobs())


def _entries(jobs: list[Job]) -> dict[str, tuple[datetime | None, int]]:
    found: dict[str, tuple[datetime | None, int]] = {}
    for job in jobs:
        args = list(job.args)
        found[str(job.id)] = (job.next_run_time, int(args[0]) if args else 0)
    return found
