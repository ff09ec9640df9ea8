"""The delivery ledger's moves: claim rows, record what the transport said, recover after a crash.

Every move is one short transaction. A row is ``sending`` with its Message-ID *before* the transport is
called and ``sent``/``failed``/``pending`` after; a process that dies in between leaves ``sending`` rows
that ``recover`` turns into ``unknown``, never back into ``pending``. On PostgreSQL, claims use
``FOR UPDATE SKIP LOCKED`` so several workers can share one campaign without sending anyone twice.
"""

from __future__ import annotations

import functools
import os
import random
import secrets
import socket
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.audience import Consent, ConsentMethod, SuppressionReason, stop_mailing
from outreach.audience.db import execute_many
from outreach.audience.schema import Subscriber, SubscriberStatus, Suppression
from outreach.clock import Clock
from outreach.delivery.pacing import Backoff
from outreach.delivery.schema import Campaign, CampaignStatus, Delivery, DeliveryState
from outreach.models import Recipient
from outreach.transports.base import Outcome, SendResult


def worker_id() -> str:
    """``host:pid``: enough to tell, on this host, whether the claimer is still alive."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class Claimed:
    """A ledger row marked ``sending``, with what is needed to compose its message."""

    delivery_id: int
    subscriber_id: int
    message_id: str
    attempts: int
    recipient: Recipient


@dataclass
class Recorded:
    """What one batch of results did to the ledger."""

    outcomes: Counter[str] = field(default_factory=Counter)
    blocked: SendResult | None = None
    failed: int = 0
    consecutive_errors: int = 0
    last_error: str = ""


def _recipient(row: Any) -> Recipient:
    attributes = row.attributes if isinstance(row.attributes, dict) else {}
    return Recipient(
        email=str(row.email),
        first_name=str(row.first_name or ""),
        last_name=str(row.last_name or ""),
        organisation=str(row.organisation or ""),
        role=str(row.role or ""),
        region=str(row.region or ""),
        language=str(row.language or ""),
        attributes=tuple((str(k), str(v)) for k, v in attributes.items() if v is not None),
    )


def update_rows(
    session: Session, rows: list[dict[str, object]], only_state: DeliveryState | None = None
) -> int:
    """UPDATE ledger rows by id (and, if given, only while in ``only_state``), one executemany per
    shape of row: this runs for every chunk of every campaign, so the statements are built once and
    go through ``execute_many``. Returns how many rows changed."""
    shapes: dict[tuple[str, ...], list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        shapes[tuple(sorted(k for k in row if k != "id"))].append(row)
    connection = session.connection()
    changed = 0
    for columns, group in shapes.items():
        statement = _update_by_id(columns, only_state)
        changed += execute_many(connection, statement, [{**row, "row_id": row["id"]} for row in group])
    return changed


@functools.cache
def _update_by_id(columns: tuple[str, ...], only_state: DeliveryState | None) -> sa.Update:
    table: sa.Table = Delivery.__table__  # type: ignore[assignment]
    statement = sa.update(table).where(table.c.id == sa.bindparam("row_id"))
    if only_state is not None:
        statement = statement.where(table.c.state == only_state)
    return statement.values({column: sa.bindparam(column) for column in columns})


_Rows = sa.Select[*tuple[Any, ...]]


@functools.cache
def _due_rows() -> tuple[_Rows, _Rows]:
    """The claim's two reads, built once (building them costs more than running them on SQLite):
    never-tried rows in id order, then due retries in due order. Two index-ordered reads instead of
    one "IS NULL OR <= now" that would sort every pending row (1.2 s a batch at a million recipients).
    Rows are locked ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so workers never wait on each other."""
    campaign_id: sa.BindParameter[int] = sa.bindparam("campaign_id")
    suppressed = sa.select(Suppression.email_hash).where(Suppression.email_hash == Subscriber.email_hash)
    base = (
        sa.select(
            Delivery.id,
            Delivery.subscriber_id,
            Delivery.attempts,
            Subscriber.email,
            Subscriber.first_name,
            Subscriber.last_name,
            Subscriber.organisation,
            Subscriber.role,
            Subscriber.region,
            Subscriber.language,
            Subscriber.attributes,
            Subscriber.status,
            suppressed.exists().label("suppressed"),
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(
            Delivery.campaign_id == campaign_id,
            Delivery.state == DeliveryState.PENDING,
            # checked in the claim itself: after a pause or cancel, not one more row is taken
            sa.select(Campaign.id)
            .where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.SENDING)
            .exists(),
        )
        .limit(sa.bindparam("batch"))
        .with_for_update(skip_locked=True, of=Delivery)
    )
    fresh = base.where(Delivery.next_attempt_at.is_(None)).order_by(Delivery.id)
    retries = base.where(Delivery.next_attempt_at <= sa.bindparam("now")).order_by(
        Delivery.next_attempt_at, Delivery.id
    )
    return fresh, retries


@functools.cache
def _mark_sending() -> sa.Update:
    """One UPDATE for a whole claim: the Message-ID is made in SQL from the row's id and the claim's
    random token, so no per-row parameters are sent. Only rows still pending change hands: SQLite
    reads outside the write transaction (and has no FOR UPDATE), so a cancel or another claim may
    have moved a row since it was read."""
    table: sa.Table = Delivery.__table__  # type: ignore[assignment]
    text = sa.String()
    message_id = (
        sa.literal("<", text)
        + sa.cast(table.c.campaign_id, text)
        + "."
        + sa.cast(table.c.id, text)
        + "."
        + sa.bindparam("token", type_=text)
        + "@"
        + sa.bindparam("domain", type_=text)
        + ">"
    )
    return (
        sa.update(table)
        .where(table.c.id.in_(sa.bindparam("ids", expanding=True)), table.c.state == DeliveryState.PENDING)
        .values(
            state=DeliveryState.SENDING,
            message_id=message_id,
            attempts=table.c.attempts + 1,
            claimed_by=sa.bindparam("claimer"),
            updated_at=sa.bindparam("now"),
        )
    )


def claim(
    session: Session, campaign_id: int, batch: int, clock: Clock, claimer: str, domain: str
) -> list[Claimed]:
    """Mark up to ``batch`` due pending rows ``sending`` and return them (call inside a transaction).

    Rows whose subscriber may no longer be mailed (unsubscribed, bounced, suppressed since the
    campaign started) become ``skipped`` with the reason instead: an unsubscribe is honoured at once.
    """
    now = clock.now()
    fresh, retries = _due_rows()
    values = {"campaign_id": campaign_id, "batch": batch, "now": now}
    connection = session.connection()  # Core: the ORM's result machinery costs more than the read
    rows = list(connection.execute(fresh, values))
    if len(rows) < batch:
        rows += connection.execute(retries, {**values, "batch": batch - len(rows)})
    token = secrets.token_hex(6)
    claimed: list[Claimed] = []
    skipped: list[dict[str, object]] = []
    for row in rows:
        if row.status is not SubscriberStatus.ACTIVE or row.suppressed or not row.email:
            reason = (
                f"subscriber is {row.status}" if row.status is not SubscriberStatus.ACTIVE else "suppressed"
            )
            skipped.append(
                {"id": row.id, "state": DeliveryState.SKIPPED, "reason": reason, "updated_at": now}
            )
            continue
        message_id = f"<{campaign_id}.{row.id}.{token}@{domain}>"
        claimed.append(Claimed(row.id, row.subscriber_id, message_id, row.attempts + 1, _recipient(row)))
    if skipped:
        update_rows(session, skipped, only_state=DeliveryState.PENDING)
    if not claimed:
        return claimed
    result = connection.execute(
        _mark_sending(),
        {
            "ids": [c.delivery_id for c in claimed],
            "token": token,
            "domain": domain,
            "claimer": claimer,
            "now": now,
        },
    )
    if result.rowcount == len(claimed):
        return claimed
    mine = set(
        session.scalars(
            sa.select(Delivery.id).where(
                Delivery.id.in_([c.delivery_id for c in claimed]),
                Delivery.message_id.in_([c.message_id for c in claimed]),
            )
        )
    )
    return [c for c in claimed if c.delivery_id in mine]


def record(
    session: Session,
    campaign_id: int,
    results: list[tuple[Claimed, SendResult]],
    clock: Clock,
    *,
    max_attempts: int,
    backoff: Backoff,
    rng: random.Random,
    consecutive_errors: int = 0,
) -> Recorded:
    """Write each result to its row (call inside a transaction); suppress hard-bounced addresses."""
    now = clock.now()
    summary = Recorded(consecutive_errors=consecutive_errors)
    updates: list[dict[str, object]] = []
    for claimed, result in results:
        summary.outcomes[result.outcome.value] += 1
        row: dict[str, object] = {"id": claimed.delivery_id, "updated_at": now}
        said = " ".join(p for p in (result.code, result.detail) if p)
        if result.outcome is Outcome.SENT:
            row.update(state=DeliveryState.SENT, provider_id=result.provider_id[:250], reason="")
            summary.consecutive_errors = 0
        elif result.uncertain:
            row.update(state=DeliveryState.UNKNOWN, reason=f"uncertain: {said}")
        elif result.outcome is Outcome.BLOCKED or not result.attempted:
            # Not the recipient's fault and maybe not even tried: the row waits, costing no attempt.
            wait = result.retry_after or 0.0
            row.update(
                state=DeliveryState.PENDING,
                attempts=claimed.attempts - 1,
                reason=said,
                next_attempt_at=now + timedelta(seconds=wait),
            )
            if result.outcome is Outcome.BLOCKED:
                summary.blocked = result
        elif result.outcome is Outcome.RETRY:
            summary.consecutive_errors += 1
            summary.last_error = said
            if claimed.attempts >= max_attempts:
                row.update(
                    state=DeliveryState.FAILED,
                    reason=f"retry exhausted after {claimed.attempts} attempts: {said}",
                )
                summary.failed += 1
            else:
                delay = backoff.delay(claimed.attempts, rng, result.retry_after)
                row.update(
                    state=DeliveryState.PENDING,
                    reason=f"will retry: {said}",
                    next_attempt_at=now + timedelta(seconds=delay),
                )
        elif result.outcome is Outcome.BOUNCED:
            row.update(state=DeliveryState.FAILED, reason=f"bounced: {said}")
            summary.failed += 1
            stop_mailing(
                session,
                claimed.subscriber_id,
                SuppressionReason.BOUNCED,
                consent=Consent(ConsentMethod.BOUNCE, source=f"campaign {campaign_id}: {said}"[:500]),
                clock=clock,
            )
        else:
            summary.consecutive_errors += 1
            summary.last_error = said
            row.update(state=DeliveryState.FAILED, reason=f"rejected: {said}")
            summary.failed += 1
        updates.append(row)
    if updates:
        update_rows(session, updates)
    return summary


def _alive(claimer: str) -> bool | None:
    """Whether the claiming process still runs; None when it ran on another host (ask the lease)."""
    host, _, pid = claimer.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(session: Session, campaign_id: int, clock: Clock, lease: timedelta) -> int:
    """Turn ``sending`` rows whose worker is gone into ``unknown``: they may have been delivered."""
    now = clock.now()
    stale: list[int] = []
    for row_id, claimer, updated in session.execute(
        sa.select(Delivery.id, Delivery.claimed_by, Delivery.updated_at).where(
            Delivery.campaign_id == campaign_id, Delivery.state == DeliveryState.SENDING
        )
    ):
        alive = _alive(claimer)
        expired = updated is None or _aware(updated) + lease < now
        if alive is False or (alive is None and expired):
            stale.append(row_id)
    if stale:
        session.execute(
            sa.update(Delivery)
            .where(Delivery.id.in_(stale), Delivery.state == DeliveryState.SENDING)
            .values(
                state=DeliveryState.UNKNOWN,
                updated_at=now,
                reason="the sending process stopped before the transport answered; it may have been "
                "delivered (outreach campaigns resend-unknown sends these again)",
            )
        )
    return len(stale)


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def counts(session: Session, campaign_id: int) -> dict[str, int]:
    """How many rows are in each state."""
    found = dict(
        session.execute(
            sa.select(Delivery.state, sa.func.count())
            .where(Delivery.campaign_id == campaign_id)
            .group_by(Delivery.state)
        ).all()
    )
    return {state.value: int(found.get(state, 0)) for state in DeliveryState}


def reasons(session: Session, campaign_id: int, limit: int = 20) -> list[tuple[str, str, int]]:
    """(state, reason, count) for failed, skipped, unknown and waiting rows, most common first."""
    rows = session.execute(
        sa.select(Delivery.state, Delivery.reason, sa.func.count().label("n"))
        .where(Delivery.campaign_id == campaign_id, Delivery.reason != "")
        .group_by(Delivery.state, Delivery.reason)
        .order_by(sa.desc("n"))
        .limit(limit)
    ).all()
    return [(str(state), str(reason), int(n)) for state, reason, n in rows]
