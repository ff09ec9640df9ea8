"""Sign-in limits, per account and per address, shared by every process through the database.

Five failures for one account in 15 minutes lock that account for the rest of the window; fifty from
one address lock the address. The account is the SHA-256 of what was typed, so an address that is
not a user is limited exactly like one that is: the answers never tell which accounts exist.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.accounts.schema import LoginAttempt
from outreach.clock import Clock


@dataclass(frozen=True)
class Limits:
    per_account: int = 5
    per_address: int = 50
    window: timedelta = timedelta(minutes=15)


def account_key(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def wait_before(session: Session, email: str, ip: str, clock: Clock, limits: Limits) -> timedelta | None:
    """How long until another attempt is allowed, or None when it is allowed now."""
    since = clock.now() - limits.window
    waits = []
    for column, value, limit in (
        (LoginAttempt.account, account_key(email), limits.per_account),
        (LoginAttempt.ip, ip, limits.per_address),
    ):
        failures = list(
            session.scalars(
                sa.select(LoginAttempt.at)
                .where(column == value, LoginAttempt.at >= since, LoginAttempt.succeeded.is_(False))
                .order_by(LoginAttempt.at.desc())
                .limit(limit)
            )
        )
        if len(failures) >= limit:
            oldest = _aware(failures[-1])
            waits.append(oldest + limits.window - clock.now())
    return max(waits) if waits else None


def note(session: Session, email: str, ip: str, succeeded: bool, clock: Clock) -> None:
    """Record an attempt; a success clears nothing (the window does), but it is kept for the audit."""
    now = clock.now()
    session.add(LoginAttempt(at=now, account=account_key(email), ip=ip[:64], succeeded=succeeded))
    session.execute(sa.delete(LoginAttempt).where(LoginAttempt.at < now - timedelta(days=1)))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
