"""A transport's per-hour and per-day limits, counted from the ledger so they hold across runs,
processes and workers (a second ``outreach send`` the same day sees what the first one sent).

The count is of the transport's ledger rows (every campaign sent through it) that were claimed within
the window and are ``sending``, ``sent`` or ``unknown``: what may have reached the provider. A row that
goes back to ``pending`` stops counting. Claims of one transport take turns (a PostgreSQL advisory
lock, SQLite's write lock) and each counts and claims within its turn, so two processes can never
both take the last places in a window.

Counting a day of rows on every claim would cost more than sending them, so each process keeps a
checkpoint: the exact count at a moment ``t0``, after which the window can only have gained the rows
claimed since ``t0`` (rows leave a sliding window, they never join it from the past). The bound
``count at t0 + rows claimed since t0`` is an upper bound, cheap to count (a range of the
``claimed_at`` index), and exact counting happens only when the bound says the window is full, or the
rows since the checkpoint grow many. Every claimer's ``claimed_at`` is taken inside its turn, so on one
machine they never go back in time; machines sharing a PostgreSQL database must keep their clocks in
step (NTP), and ``SKEW`` covers what remains (SQLite has one machine: no skew to cover).
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.delivery.pacing import RateLimits
from outreach.delivery.schema import Campaign, Delivery, DeliveryState

COUNTED = (DeliveryState.SENDING, DeliveryState.SENT, DeliveryState.UNKNOWN)
SKEW = timedelta(seconds=1)
TICK = timedelta(microseconds=1)
# Count exactly again once this many rows were claimed since the checkpoint.
RECOUNT_AFTER = 2_000


@dataclass
class _Window:
    limit: int
    period: timedelta
    checked_at: datetime | None = None
    count_then: int = 0


class LedgerLimits:
    """The per-hour and per-day limits of the transport called ``transport``."""

    def __init__(self, transport: str, limits: RateLimits) -> None:
        self.transport = transport
        self.windows = [
            _Window(int(limit), period)
            for limit, period in ((limits.per_hour, timedelta(hours=1)), (limits.per_day, timedelta(days=1)))
            if limit
        ]
        if any(window.limit < 1 for window in self.windows):
            raise ValueError("a per-hour or per-day limit must be at least 1")

    @classmethod
    def of(cls, transport: str, limits: RateLimits) -> LedgerLimits | None:
        return cls(transport, limits) if limits.per_hour or limits.per_day else None

    @property
    def largest_batch(self) -> int:
        return min(window.limit for window in self.windows)

    def take_turn(self, session: Session) -> None:
        """Wait for this transport's claims to be ours alone until the transaction ends. Call first in
        the transaction: on SQLite, a write lock taken after a read may find the snapshot stale."""
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            key = zlib.crc32(f"outreach rate {self.transport}".encode()) - 2**31
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        else:  # any write takes SQLite's one write lock, even one that changes nothing
            connection.execute(sa.text("UPDATE campaigns SET id = id WHERE 0 = 1"))

    def allowance(self, session: Session, now: datetime, wanted: int) -> tuple[int, float]:
        """How many of ``wanted`` rows may be claimed at ``now`` (call after ``take_turn``, in the
        same transaction as the claim), and when none may, the seconds until one may."""
        allowed, wait = wanted, 0.0
        for window in self.windows:
            used = self._bound(session, window, now)
            if used + min(wanted, window.limit) > window.limit:
                used = self._recount(session, window, now)
            room = window.limit - used
            if room <= 0:
                allowed = 0
                wait = max(wait, self._frees_in(session, window, now, used - window.limit + 1))
            else:
                allowed = min(allowed, room)
        return allowed, wait

    def _bound(self, session: Session, window: _Window, now: datetime) -> int:
        if window.checked_at is None or now - window.checked_at > window.period:
            return self._recount(session, window, now)
        # A claim in the very microsecond of the checkpoint counts too (twice at worst, never not).
        skew = SKEW if session.get_bind().dialect.name == "postgresql" else TICK
        since = _count(session, self.transport, window.checked_at - skew, None)
        if since > RECOUNT_AFTER:
            return self._recount(session, window, now)
        return window.count_then + since

    def _recount(self, session: Session, window: _Window, now: datetime) -> int:
        window.count_then = _count(session, self.transport, now - window.period, None)
        window.checked_at = now
        return window.count_then

    def _frees_in(self, session: Session, window: _Window, now: datetime, leaving: int) -> float:
        """Seconds until ``leaving`` rows have left the window (the oldest first)."""
        moment = session.scalar(
            _counted(self.transport, now - window.period)
            .with_only_columns(Delivery.claimed_at)
            .order_by(Delivery.claimed_at)
            .offset(leaving - 1)
            .limit(1)
        )
        if moment is None:
            return 0.0
        moment = moment if moment.tzinfo else moment.replace(tzinfo=now.tzinfo)
        return max((moment + window.period - now).total_seconds(), 0.001)


def _counted(transport: str, since: datetime) -> sa.Select[tuple[int]]:
    count: sa.Select[tuple[int]] = sa.select(sa.func.count())
    return count.where(
        Delivery.claimed_at > since,
        Delivery.state.in_(COUNTED),
        Delivery.campaign_id.in_(_campaigns_of(transport)),
    )


@functools.lru_cache(maxsize=64)
def _campaigns_of(transport: str) -> sa.Select[tuple[int]]:
    ids: sa.Select[tuple[int]] = sa.select(Campaign.id)
    return ids.where(Campaign.transport == transport)


def _count(session: Session, transport: str, since: datetime, until: datetime | None) -> int:
    query = _counted(transport, since)
    if until is not None:
        query = query.where(Delivery.claimed_at <= until)
    return int(session.scalar(query) or 0)
