"""After a crash: settle the ``sending`` rows of claimers that are gone, from their journals first.

A row is ``sending`` while its claimer has it in hand. When the claimer is gone (its journal's lock is
free, its process is dead, or on another machine its lease ran out), its journal says what happened
to each row it claimed:

==============================  ==================  ==================================================
the journal says                the row becomes     why
==============================  ==================  ==================================================
an answer                       what the answer     as if the chunk had come back: sent, failed,
                                says                retry later, unknown if the answer was uncertain
handed over, no answer          ``unknown``         the transport may have it: never resent silently
never handed over               ``pending``         nothing left; the attempt is not counted
(no journal, another machine,   ``unknown``         nothing tells it apart from a message in flight
or a journal of an earlier
boot without an answer)
==============================  ==================  ==================================================

So ``unknown`` is at most the messages in the transports' hands when the process died: one per SMTP
connection (one HTTP request's messages for an ESP) of every sending thread or process.
"""

from __future__ import annotations

import os
import random
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.clock import Clock
from outreach.delivery.journal import Abandoned, Journals
from outreach.delivery.ledger import claimer_pid, record
from outreach.delivery.pacing import Backoff
from outreach.delivery.schema import Delivery, DeliveryState
from outreach.transports.base import SendResult

UNKNOWN = (
    "the sending process stopped before the transport answered; it may have been delivered "
    "(outreach campaigns resend-unknown sends these again)"
)
RETURNED = "returned to the queue: the sending process stopped before handing it over"


@dataclass(frozen=True, slots=True)
class _Row:
    delivery_id: int
    subscriber_id: int
    attempts: int


@dataclass
class Recovered:
    """What recovery did, and the journals it replayed (removed by ``finish`` once committed)."""

    answered: int = 0
    unknown: int = 0
    returned: int = 0
    journals: list[Abandoned] = field(default_factory=list)

    @property
    def settled(self) -> int:
        return self.answered + self.unknown + self.returned

    def finish(self, *, committed: bool) -> None:
        """Remove the replayed journals once their rows are committed (else only unlock them)."""
        for journal in self.journals:
            journal.done(remove=committed)
        self.journals = []


def alive(claimer: str) -> bool | None:
    """Whether the claiming process still runs; None when it ran on another host (ask the lease)."""
    host, pid = claimer_pid(claimer)
    if host != socket.gethostname() or pid is None:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _runs(claimer: str) -> bool:
    return alive(claimer) is True


def recover(
    session: Session,
    campaign_id: int,
    clock: Clock,
    lease: timedelta,
    journals: Journals | None = None,
    *,
    max_attempts: int = 5,
) -> Recovered:
    """Settle the campaign's ``sending`` rows whose claimer is gone (call inside a transaction, then
    ``finish`` the result after the commit). On PostgreSQL the rows are locked, skipping rows another
    recovering worker holds, so two workers never settle one row twice."""
    now = clock.now()
    rows: dict[str, list[_Row]] = {}
    updated: dict[str, datetime | None] = {}
    found = session.execute(
        sa.select(
            Delivery.id, Delivery.subscriber_id, Delivery.attempts, Delivery.claimed_by, Delivery.updated_at
        )
        .where(Delivery.campaign_id == campaign_id, Delivery.state == DeliveryState.SENDING)
        .with_for_update(skip_locked=True)
    )
    for row_id, subscriber_id, attempts, claimer, at in found:
        rows.setdefault(claimer, []).append(_Row(row_id, subscriber_id, attempts))
        latest = updated.get(claimer)
        updated[claimer] = at if latest is None or (at is not None and at > latest) else latest
    done = Recovered()
    for claimer, held in rows.items():
        journal = None
        if journals is not None and journals.is_local(claimer):
            journal = journals.abandoned(claimer, partial(_runs, claimer))
        if journal is True:
            continue  # in use: the claimer (or one of its sending processes) still runs
        if isinstance(journal, Abandoned):
            done.journals.append(journal)
            _replay(session, campaign_id, held, journal, clock, max_attempts, done)
            continue
        state = alive(claimer)
        expired = updated[claimer] is None or _aware(updated[claimer]) + lease < now
        if state is False or (state is None and expired):
            _settle_unknown(session, [row.delivery_id for row in held], now)
            done.unknown += len(held)
    if journals is not None:
        done.journals += journals.leftovers(campaign_id, set(rows))
    return done


def _replay(
    session: Session,
    campaign_id: int,
    held: list[_Row],
    journal: Abandoned,
    clock: Clock,
    max_attempts: int,
    done: Recovered,
) -> None:
    answered: list[tuple[_Row, SendResult]] = []
    unknown: list[int] = []
    returned: list[int] = []
    for row in held:
        account = journal.replay.account(row.delivery_id, row.attempts)
        if account.result is not None:
            answered.append((row, account.result))
        elif account.handed or not journal.replay.trusted:
            unknown.append(row.delivery_id)
        else:
            returned.append(row.delivery_id)
    if answered:
        record(
            session,
            campaign_id,
            answered,
            clock,
            max_attempts=max_attempts,
            backoff=Backoff(),
            rng=random.Random(),
        )
    _settle_unknown(session, unknown, clock.now())
    if returned:
        session.execute(
            sa.update(Delivery)
            .where(Delivery.id.in_(returned), Delivery.state == DeliveryState.SENDING)
            .values(
                state=DeliveryState.PENDING,
                attempts=Delivery.attempts - 1,
                claimed_at=None,
                reason=RETURNED,
                updated_at=clock.now(),
            )
        )
    done.answered += len(answered)
    done.unknown += len(unknown)
    done.returned += len(returned)


def _settle_unknown(session: Session, ids: list[int], now: datetime) -> None:
    if ids:
        session.execute(
            sa.update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.state == DeliveryState.SENDING)
            .values(state=DeliveryState.UNKNOWN, updated_at=now, reason=UNKNOWN)
        )


def _aware(moment: datetime | None) -> datetime:
    assert moment is not None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
