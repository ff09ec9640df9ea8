"""Signed-in browsers: server-side sessions with idle and absolute expiry.

The cookie holds a random token; the database holds only its SHA-256, the user, a CSRF secret and
the times. A session ends when it has been idle too long, when it is too old, when its user changes
password (sessions older than the change are refused) or signs out everywhere. Signing in always makes
a new session (a token planted before sign-in is never promoted).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.accounts.schema import User, UserSession
from outreach.clock import Clock

# How often a busy session's last_seen_at is written: not on every request.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Expiry:
    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start(
    session: Session, user: User, clock: Clock, *, verified: bool, ip: str = "", user_agent: str = ""
) -> str:
    """A new session for ``user``; returns the cookie's token (shown once, stored only as a digest)."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    session.add(
        UserSession(
            id=digest(token),
            user_id=user.id,
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            verified=verified,
            ip=ip[:64],
            user_agent=user_agent[:300],
        )
    )
    return token


@dataclass(frozen=True)
class Current:
    """The user behind a cookie, the session row's id and its CSRF secret."""

    user: User
    session_id: str
    csrf: str
    verified: bool


def current(session: Session, token: str | None, clock: Clock, expiry: Expiry) -> Current | None:
    """The live session of ``token``, touched; None (and the row deleted) when it has expired."""
    if not token or len(token) > 200:
        return None
    row = session.get(UserSession, digest(token))
    if row is None:
        return None
    user = session.get(User, row.user_id)
    now = clock.now()
    if (
        user is None
        or _aware(row.last_seen_at) + expiry.idle < now
        or _aware(row.created_at) + expiry.absolute < now
        or _aware(row.created_at) < _aware(user.password_changed_at)
    ):
        session.delete(row)
        return None
    if now - _aware(row.last_seen_at) >= TOUCH_EVERY:
        row.last_seen_at = now
    return Current(user=user, session_id=row.id, csrf=row.csrf, verified=row.verified)


def end(session: Session, token: str | None) -> None:
    if token:
        session.execute(sa.delete(UserSession).where(UserSession.id == digest(token)))


def end_all(session: Session, user_id: int) -> int:
    """Sign the user out everywhere; how many sessions ended."""
    result = session.execute(sa.delete(UserSession).where(UserSession.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


def prune(session: Session, clock: Clock, expiry: Expiry) -> None:
    """Delete sessions that can no longer be used (called now and then, not on every request)."""
    now = clock.now()
    session.execute(
        sa.delete(UserSession).where(
            sa.or_(
                UserSession.last_seen_at < now - expiry.idle, UserSession.created_at < now - expiry.absolute
            )
        )
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
