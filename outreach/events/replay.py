"""Stale and replayed webhook requests: a signed timestamp must be recent and a token used once.

A signature proves who made a request, not when it was sent to us: a request captured once (a log, a
proxy, a misdirected retry) verifies forever. So each provider's signed timestamp must lie within
``MAX_AGE`` of now, and where a provider signs a token (Mailgun: its signature covers timestamp and
token but not the body, so a captured signature could carry other event data), or where the whole
signed request can be named (a SendGrid signature, an SNS MessageId), that token is kept in the
``webhook_tokens`` table and refused the second time. The token is written in the same transaction
as the request's events, so a request that failed leaves nothing behind and the provider's retry is
accepted; tokens are pruned once their timestamps are too old to be accepted anyway. Every web
process shares the table, so they all agree.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from outreach.events.model import BadSignature
from outreach.events.schema import WebhookToken

MAX_AGE = 300.0
"""Seconds a signed timestamp is accepted either side of now: clock skew plus the provider's latency."""


def check_fresh(provider: str, signed_at: float, now: datetime, max_age: float = MAX_AGE) -> None:
    """BadSignature unless ``signed_at`` (Unix seconds) is within ``max_age`` seconds of ``now``."""
    age = now.timestamp() - signed_at
    if not abs(age) <= max_age:  # also refuses NaN
        when = "old" if age > 0 else "in the future"
        raise BadSignature(
            f"the {provider} signature timestamp is {abs(age):.0f} s {when}; at most {max_age:.0f} s "
            "is accepted (check this server's clock if the provider's requests all fail this way)"
        )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def use_token(session: Session, provider: str, token: str, now: datetime, max_age: float = MAX_AGE) -> None:
    """Record ``token`` as used (inside the caller's transaction); BadSignature if it was used before.

    This provider's tokens older than twice its window are deleted first: their timestamps are
    refused anyway."""
    session.execute(
        sa.delete(WebhookToken).where(
            WebhookToken.provider == provider, WebhookToken.seen_at < now - timedelta(seconds=2 * max_age)
        )
    )
    values = {"provider": provider, "token": _digest(token), "seen_at": now}
    statement: sa.Insert
    if session.get_bind().dialect.name == "postgresql":
        statement = postgresql.insert(WebhookToken).values(values).on_conflict_do_nothing()
    else:
        statement = sqlite.insert(WebhookToken).values(values).on_conflict_do_nothing()
    if session.execute(statement.returning(WebhookToken.token)).first() is None:
        raise BadSignature(f"this {provider} request was already received: a signed token is accepted once")
