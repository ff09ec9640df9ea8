"""The delivery ledger's moves: claim rows, record what the transport said.

Every move is one short transaction. A row is ``sending`` with its Message-ID *before* the transport is
called and ``sent``/``failed``/``pending`` after; what a process that died in between had done is
settled by ``recovery``. On PostgreSQL, claims use ``FOR UPDATE SKIP LOCKED`` so several workers can
share one campaign without sending anyone twice.

A row's Message-ID is a keyed MAC of (campaign, row) under the site's key (``tokens.message_id``): a
recipient sees their own and cannot work out a neighbour's, so nobody can forge a bounce or a
complaint for someone else's message. It is the same on every attempt of the row, so a receiving
system that already has the message can recognise a resend as the same message.
"""

from __future__ import annotations

import functools
import os
import random
import secrets
import socket
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.audience import Consent, ConsentMethod, SuppressionReason, stop_mailing
from outreach.audience.db import execute_many
from outreach.audience.schema import (
    STILL_WRITTEN_TO,
    Subscriber,
    SubscriberStatus,
    SubscriberTopic,
    Suppression,
)
from outreach.clock import Clock
from outreach.delivery.claims import Claimed as Claimed  # made here; callers know it as ledger.Claimed
from outreach.delivery.edition_choice import EditionChoice
from outreach.delivery.pacing import Backoff
from outreach.delivery.schema import Campaign, CampaignStatus, Delivery, DeliveryState
from outreach.models import Recipient
from outreach.tokens import message_id
from outreach.transports.base import Outcome, SendResult


def worker_id() -> str:
    """``host:pid:token``, new for every runner: the host and process say where the claimer ran (and
    whether it still runs there), the token tells it apart from an earlier process with the same id."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def claimer_pid(claimer: str) -> tuple[str, int | None]:
    """(host, process id) of a claimer written by ``worker_id`` (or by an older ``host:pid``)."""
    host, _, rest = claimer.partition(":")
    pid = rest.partition(":")[0]
    return host, int(pid) if pid.isdigit() else None


class Taken(Protocol):
    """A claimed row as far as recording its result is concerned."""

    @property
    def delivery_id(self) -> int: ...
    @property
    def subscriber_id(self) -> int: ...
    @property
    def attempts(self) -> int: ...


@dataclass
class Recorded:
    """What one batch of results did to the ledger."""

    outcomes: Counter[str] = field(default_factory=Counter)
    blocked: SendResult | None = None
    failed: int = 0
    consecutive_errors: int = 0
    last_error: str = ""


def _recipient(row: Any, topics: Sequence[str] = ()) -> Recipient:
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
        fields=tuple((str(k), str(v)) for k, v in (row.fields or {}).items() if v is not None),
        topics=tuple(sorted(topics)),
    )


def _not_mailable(row: Any) -> str:
    """Why a claimed row may not be sent now, or "": a newsletter goes to active subscribers only; a
    one-off letter (a row with its contact's fields) also to contacts and the unconfirmed."""
    allowed = STILL_WRITTEN_TO if row.fields is not None else (SubscriberStatus.ACTIVE,)
    if row.status not in allowed:
        return f"subscriber is {row.status}"
    if row.suppressed or not row.email:
        return "suppressed"
    return ""


def _topics(connection: sa.Connection, subscriber_ids: list[int]) -> dict[int, list[str]]:
    """The topics each subscriber receives (what ``::: only topic=`` sections look at): one read per
    batch, not a join that would repeat each row once per topic."""
    topics: dict[int, list[str]] = defaultdict(list)
    if subscriber_ids:
        for subscriber_id, key in connection.execute(_topics_of(), {"ids": subscriber_ids}):
            topics[subscriber_id].append(str(key))
    return topics


@functools.cache
def _topics_of() -> _Rows:
    return sa.select(SubscriberTopic.subscriber_id, SubscriberTopic.topic_key).where(
        SubscriberTopic.subscriber_id.in_(sa.bindparam("ids", expanding=True))
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
            Delivery.language.label("edition"),
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
            Delivery.fields,
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
    """The claim's write on SQLite: one parameter set per row (its id and its own Message-ID), one row
    write each. Only rows still pending change hands: SQLite reads outside the write transaction (and
    has no FOR UPDATE), so a cancel or another claim may have moved a row since it was read."""
    table: sa.Table = Delivery.__table__  # type: ignore[assignment]
    return (
        sa.update(table)
        .where(table.c.id == sa.bindparam("row_id"), table.c.state == DeliveryState.PENDING)
        .values(
            state=DeliveryState.SENDING,
            message_id=sa.bindparam("message_id"),
            attempts=table.c.attempts + 1,
            claimed_by=sa.bindparam("claimer"),
            claimed_at=sa.bindparam("now"),
            updated_at=sa.bindparam("now"),
        )
    )


# PostgreSQL takes the whole claim in one statement: the rows' ids and Message-IDs as two arrays.
_MARK_SENDING_PG = sa.text(
    "UPDATE deliveries SET state = 'sending', message_id = given.message_id, attempts = attempts + 1, "
    "claimed_by = :claimer, claimed_at = :now, updated_at = :now "
    "FROM unnest(CAST(:ids AS bigint[]), CAST(:message_ids AS varchar[])) AS given(id, message_id) "
    "WHERE deliveries.id = given.id AND deliveries.state = 'pending' RETURNING deliveries.id"
).bindparams(sa.bindparam("now", type_=sa.DateTime(timezone=True)))


def claim(
    session: Session,
    campaign_id: int,
    batch: int,
    clock: Clock,
    claimer: str,
    domain: str,
    secret: str,
    editions: EditionChoice | None = None,
    with_topics: bool = True,
) -> list[Claimed]:
    """Mark up to ``batch`` due pending rows ``sending`` and return them (call inside a transaction).

    Each row gets the Message-ID ``tokens.message_id(secret, campaign, row, domain)``. Rows whose
    subscriber may no longer be mailed (unsubscribed, bounced, suppressed since the campaign started)
    become ``skipped`` with the reason instead: an unsubscribe is honoured at once. With ``editions``
    (a campaign in several languages), each row's edition is chosen again from its reader's language
    now, and the row says so when that changed since the snapshot. ``with_topics`` False leaves the
    readers' topics unread (the campaign's templates never look at them: one query a chunk saved).
    """
    now = clock.now()
    fresh, retries = _due_rows()
    values = {"campaign_id": campaign_id, "batch": batch, "now": now}
    connection = session.connection()  # Core: the ORM's result machinery costs more than the read
    rows = list(connection.execute(fresh, values))
    if len(rows) < batch:
        rows += connection.execute(retries, {**values, "batch": batch - len(rows)})
    claimed: list[Claimed] = []
    skipped: list[dict[str, object]] = []
    switched: list[dict[str, object]] = []
    mailable = []
    for row in rows:
        if reason := _not_mailable(row):
            skipped.append(
                {"id": row.id, "state": DeliveryState.SKIPPED, "reason": reason, "updated_at": now}
            )
        else:
            mailable.append(row)
    topics = _topics(connection, [row.subscriber_id for row in mailable]) if with_topics else {}
    for row in mailable:
        mid = message_id(secret, campaign_id, row.id, domain)
        edition = str(row.edition or "")
        if editions is not None and editions.others:
            edition = editions.for_reader(row.language)
            if edition != row.edition:
                switched.append({"id": row.id, "language": edition})
        reader = _recipient(row, topics.get(row.subscriber_id, ()))
        claimed.append(Claimed(row.id, row.subscriber_id, mid, row.attempts + 1, reader, edition))
    if skipped:
        update_rows(session, skipped, only_state=DeliveryState.PENDING)
    if switched:
        update_rows(session, switched, only_state=DeliveryState.PENDING)
    if not claimed:
        return claimed
    ids = [c.delivery_id for c in claimed]
    if connection.dialect.name == "postgresql":
        values = {"ids": ids, "message_ids": [c.message_id for c in claimed], "claimer": claimer, "now": now}
        mine = set(connection.scalars(_MARK_SENDING_PG, values))
        return claimed if len(mine) == len(claimed) else [c for c in claimed if c.delivery_id in mine]
    changed = execute_many(
        connection,
        _mark_sending(),
        [
            {"row_id": c.delivery_id, "message_id": c.message_id, "claimer": claimer, "now": now}
            for c in claimed
        ],
    )
    if changed != len(claimed):
        held = set(
            session.scalars(
                sa.select(Delivery.id).where(
                    Delivery.id.in_(ids),
                    Delivery.claimed_by == claimer,
                    Delivery.state == DeliveryState.SENDING,
                )
            )
        )
        claimed = [c for c in claimed if c.delivery_id in held]
    return claimed


def record(
    session: Session,
    campaign_id: int,
    results: Sequence[tuple[Taken, SendResult]],
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
                claimed_at=None,
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
                    claimed_at=None,
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


def counts_by_edition(session: Session, campaign_id: int) -> dict[str, dict[str, int]]:
    """How many rows of each language edition are in each state; empty for a one-edition campaign."""
    found: dict[str, dict[str, int]] = {}
    rows = session.execute(
        sa.select(Delivery.language, Delivery.state, sa.func.count())
        .where(Delivery.campaign_id == campaign_id)
        .group_by(Delivery.language, Delivery.state)
    )
    for language, state, n in rows:
        found.setdefault(str(language), {s.value: 0 for s in DeliveryState})[str(state)] = int(n)
    return dict(sorted(found.items())) if len(found) > 1 else {}


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
