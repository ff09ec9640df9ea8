"""``outreach scheduler run``: hold the lease and run APScheduler, or wait as a standby.

The loop: try to take the lease; whoever has it starts the scheduler, then renews the lease every
third of its length. A process that cannot renew (someone else took an expired lease, or the
database is gone past the expiry) shuts its scheduler down at once. A standby says who is active
and takes over when that lease expires (a SIGKILLed scheduler never releases it; a stopped one does).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from outreach.clock import Clock, show_time
from outreach.config import Config
from outreach.scheduling import jobs
from outreach.scheduling.aps import HEARTBEATS, ApsJobs, build_scheduler
from outreach.scheduling.lease import Lease
from outreach.scheduling.timing import SendWindow, grace_of

logger = logging.getLogger("outreach.scheduling")


@dataclass(frozen=True)
class ServiceSettings:
    """How often things happen; small values make the real-process tests fast."""

    lease_seconds: float = 30.0
    poll_seconds: float = 5.0
    automations_every: float = 300.0


class SchedulerService:
    """One scheduler process: active while it holds the lease, standby otherwise."""

    def __init__(
        self,
        config: Config,
        engine: Engine,
        clock: Clock,
        settings: ServiceSettings,
        say: Callable[[str], None],
        stop: threading.Event | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.clock = clock
        self.settings = settings
        self.say = say
        self.stop = stop or threading.Event()
        self.lease = Lease(engine, clock, seconds=settings.lease_seconds)
        self.scheduler: BackgroundScheduler | None = None
        SendWindow.from_settings(config.settings.schedule)  # a bad window is an error before we start

    def run(self) -> None:
        """Until stopped: be active or standby; on the way out, stop jobs and release the lease."""
        standby_said = False
        try:
            while not self.stop.is_set():
                if self.scheduler is None:
                    if self._try_acquire():
                        self._activate()
                        standby_said = False
                    elif not standby_said:
                        self._say_standby()
                        standby_said = True
                elif not self._renew():
                    self.say("lost the scheduler lease: stopping this scheduler at once; now a standby")
                    self._deactivate(wait=False)
                self.stop.wait(self._pause())
        finally:
            if self.scheduler is not None:
                self._deactivate(wait=True)
                self.lease.release()
                self.say("scheduler stopped; lease released")

    def _pause(self) -> float:
        third = self.settings.lease_seconds / 3
        return third if self.scheduler is not None else min(third, self.settings.poll_seconds)

    def _try_acquire(self) -> bool:
        try:
            return self.lease.acquire()
        except sa.exc.SQLAlchemyError as err:
            logger.warning("cannot reach the database for the lease: %s", err)
            return False

    def _renew(self) -> bool:
        try:
            return self.lease.renew()
        except sa.exc.SQLAlchemyError as err:
            logger.warning("cannot renew the lease: %s", err)
            # Keep running only while the lease is surely still ours, minus one renewal interval.
            margin = timedelta(seconds=self.settings.lease_seconds / 3)
            return self.lease.expires_at is not None and self.clock.now() + margin < self.lease.expires_at

    def _say_standby(self) -> None:
        state = self.lease.current()
        if state is None:
            self.say("standby: waiting for the database")
            return
        until = show_time(state.expires_at, self.config.time_zone, seconds=True)
        self.say(
            f"standby: another scheduler ({state.holder}) is active (its lease runs to {until}); "
            "this one waits and takes over if it stops"
        )

    def _activate(self) -> None:
        grace = grace_of(self.config.settings.schedule)
        scheduler = build_scheduler(self.engine, grace)
        scheduler.start(paused=True)
        self.scheduler = scheduler
        runtime = jobs.Runtime(
            config=self.config,
            engine=self.engine,
            clock=self.clock,
            jobs=ApsJobs(scheduler, grace),
            holds_lease=self.lease.held,
            say=self.say,
        )
        jobs.install(runtime)
        hours = grace.total_seconds() / 3600
        self.say(f"active: this scheduler ({self.lease.holder}) holds the lease; grace {hours:g} h")
        # Before any job may fire: mark past-grace sends missed and re-put every job with today's options.
        jobs.reconcile(runtime, refresh=True)
        now = datetime.now(UTC)
        scheduler.add_job(
            "outreach.scheduling.jobs:tick",
            "interval",
            seconds=self.settings.poll_seconds,
            id="tick",
            jobstore=HEARTBEATS,
            next_run_time=now,
            misfire_grace_time=None,
        )
        scheduler.add_job(
            "outreach.scheduling.jobs:automations_tick",
            "interval",
            seconds=self.settings.automations_every,
            id="automations",
            jobstore=HEARTBEATS,
            next_run_time=now,
            misfire_grace_time=None,
        )
        scheduler.resume()

    def _deactivate(self, wait: bool) -> None:
        jobs.install(None)
        if self.scheduler is not None:
            scheduler, self.scheduler = self.scheduler, None
            scheduler.shutdown(wait=wait)
