"""The scheduler lease: one row per name saying which process may run the scheduler, and until when.

APScheduler 3 has no locking: two schedulers on one job store fire every job twice. So only the
holder of an unexpired lease runs one. Acquiring is one conditional UPDATE ("take it if it
has expired or is already mine"), with an INSERT the first time; both are atomic on SQLite and
PostgreSQL, so two processes racing for a free lease cannot both win. Time comes from the injected
clock, and the holder's own clock decides expiry: keep the machines' clocks in sync (NTP).
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from outreach.clock import Clock
from outreach.scheduling.schema import SchedulerLease

DEFAULT_NAME = "scheduler"


def holder_id() -> str:
    """``host:pid:random``: readable in the standby's message, unique even if a pid is reused."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True)
class LeaseState:
    """Who holds the lease and until when (None: nobody ever did)."""

    holder: str
    expires_at: datetime


class Lease:
    """Acquire, renew and release one named lease for one holder."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        seconds: float = 30.0,
        name: str = DEFAULT_NAME,
        holder: str | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.duration = timedelta(seconds=seconds)
        self.name = name
        self.holder = holder or holder_id()
        self.expires_at: datetime | None = None

    def acquire(self) -> bool:
        """Take the lease if it is free, expired or already ours (then this renews it)."""
        now = self.clock.now()
        until = now + self.duration
        table = SchedulerLease
        with self.engine.begin() as connection:
            taken = connection.execute(
                sa.update(table)
                .where(
                    table.name == self.name,
                    sa.or_(table.expires_at < now, table.holder == self.holder),
                )
                .values(
                    holder=self.holder,
                    expires_at=until,
                    acquired_at=sa.case((table.holder == self.holder, table.acquired_at), else_=now),
                )
            )
            if int(getattr(taken, "rowcount", 0)) == 1:
                self.expires_at = until
                return True
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    sa.insert(table).values(
                        name=self.name, holder=self.holder, acquired_at=now, expires_at=until
                    )
                )
        except sa.exc.IntegrityError:
            self.expires_at = None
            return False
        self.expires_at = until
        return True

    def renew(self) -> bool:
        """Extend our lease; False if it expired and someone else took it (stop at once then)."""
        if self.expires_at is None:
            return False
        renewed = self.acquire()
        if not renewed:
            self.expires_at = None
        return renewed

    def release(self) -> None:
        """Give the lease up so a standby takes over without waiting for the expiry."""
        table = SchedulerLease
        past = self.clock.now() - timedelta(seconds=1)
        with self.engine.begin() as connection:
            connection.execute(
                sa.update(table)
                .where(table.name == self.name, table.holder == self.holder)
                .values(expires_at=past)
            )
        self.expires_at = None

    def held(self) -> bool:
        """Whether we still hold it by our own reckoning (no database round trip)."""
        return self.expires_at is not None and self.clock.now() < self.expires_at

    def current(self) -> LeaseState | None:
        """Who holds the lease now, for the standby's message."""
        table = SchedulerLease
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(table.holder, table.expires_at).where(table.name == self.name)
            ).first()
        return LeaseState(str(row.holder), row.expires_at) if row else None
