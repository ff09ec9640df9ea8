"""The service's own mail (sign-up confirmations, and the notice of a preference change), sent off the
request path through a durable queue.

A sign-up request does one thing, the same for every address: it writes the sign-up as a
``received`` row of ``system_mails``. So neither the answer nor its timing can tell a new address
from a subscribed, bounced or suppressed one. A worker (a thread of ``outreach serve``, or
``outreach worker`` elsewhere) then, per row:

1. **decides**, in one transaction: records the sign-up (``outreach.web.signup.sign_up``, at the time
   it was posted) and turns the row into a ``pending`` mail, or ``skipped`` (no mail for this address,
   or its hourly limit is used up). The posted address is dropped from the row here.
2. **sends**: composes the mail, marks the row ``sending`` (with its Message-ID) and commits, hands
   it to the transport, and records ``sent``, a retry (``pending`` later), ``failed`` or ``unknown``.

A crash before step 1 commits leaves the row ``received``: it is decided again, nothing lost. A crash
between handing over and recording leaves ``sending``; after ``STALE_SENDING`` it becomes ``unknown``
and is never resent (the mail may have arrived), so no one gets the same mail twice. Rows are
claimed by a conditional update, so several workers (threads, processes, machines) share the queue.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from outreach.audience import email_hash, transaction
from outreach.audience.schema import Subscriber, SubscriberStatus
from outreach.clock import Clock, FixedClock
from outreach.config import Config
from outreach.errors import DatabaseError
from outreach.models import Recipient
from outreach.transports.base import Outcome, SendResult, Transport, one_line
from outreach.web.confirm_mail import ConfirmationMail
from outreach.web.links import confirm_url, subscriber_links
from outreach.web.mail_schema import SystemMail, SystemMailState
from outreach.web.signup import Mail, SignUp, form_consent, sign_up

log = logging.getLogger("outreach.web.mail")

State = SystemMailState
# At most this many mails per address per hour, whatever the IP: a list-bomber cycling an address
# through many connections still cannot flood its inbox.
MAILS_PER_ADDRESS = (3, timedelta(hours=1))
MAX_ATTEMPTS = 5
FIRST_RETRY = 60.0  # seconds; doubled after each transient failure, at most an hour
STALE_SENDING = timedelta(minutes=10)
KEEP_FINISHED = timedelta(days=30)
PER_PASS = 200  # rows decided, and mails sent, per pass at most: a stop request is heard between passes
FINISHED = (State.SENT, State.FAILED, State.SKIPPED, State.UNKNOWN)
COUNTED = (State.PENDING, State.SENDING, State.SENT, State.UNKNOWN)


def receive(
    session: Session, signup: SignUp, ip: str | None, user_agent: str | None, notice: str, now: datetime
) -> None:
    """The sign-up request's only write: one ``received`` row, whatever the address."""
    request = {
        "email": signup.email,
        "first_name": signup.first_name,
        "last_name": signup.last_name,
        "role": signup.role,
        "language": signup.language,
        "topics": list(signup.topics),
        "ip": ip,
        "user_agent": (user_agent or "")[:500] or None,
        "notice_version": notice,
    }
    session.add(_new_row(State.RECEIVED, "", email_hash(signup.email), now, request=request))


def queue_preferences_notice(session: Session, subscriber_id: int, email: str, now: datetime) -> bool:
    """Queue the notice that a subscriber's preferences were changed, in the transaction that saved
    them, so the notice exists exactly when the change does. A preference link can be forwarded with
    the mail that carried it; the notice tells the owner of the address, in their language, and links
    back to put things right. At most ``MAILS_PER_ADDRESS`` mails an hour, like the sign-up mails:
    several saves in a row send one or two notices, not one each. Returns whether one was queued."""
    address = email_hash(email)
    if limit_reached(session, address, now):
        return False
    session.add(_new_row(State.PENDING, Mail.PREFERENCES.value, address, now, subscriber_id=subscriber_id))
    return True


def _new_row(state: State, kind: str, address_hash: str, now: datetime, **values: Any) -> SystemMail:
    """A queue row, due now, not yet tried."""
    return SystemMail(
        state=state,
        kind=kind,
        address_hash=address_hash,
        created_at=now,
        due_at=now,
        attempts=0,
        detail="",
        updated_at=now,
        **values,
    )


def limit_reached(session: Session, address_hash: str, now: datetime, but: int | None = None) -> bool:
    """Has the address had ``MAILS_PER_ADDRESS`` mails (queued, sending, sent or maybe sent) in the
    hour before ``now``, not counting the row ``but``?"""
    count, period = MAILS_PER_ADDRESS
    conditions = [
        SystemMail.address_hash == address_hash,
        SystemMail.state.in_(COUNTED),
        SystemMail.created_at > now - period,
    ]
    if but is not None:
        conditions.append(SystemMail.id != but)
    mailed = session.scalar(sa.select(sa.func.count()).select_from(SystemMail).where(*conditions))
    return int(mailed or 0) >= count


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class SystemMailer:
    """Decides and sends what the queue holds; ``run_once`` is one pass, safe to call from any thread."""

    def __init__(
        self,
        config: Config,
        engine: Engine,
        clock: Clock,
        transport: Callable[[], Transport],
        mail: ConfirmationMail | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.clock = clock
        self.transport = transport
        self.mail = mail or ConfirmationMail(config)
        # One pass at a time in this process: a caller that asks for a pass while another runs
        # waits for it, so when ``run_once`` returns, every row received before the call is handled.
        self._pass = threading.Lock()

    def run_once(self) -> int:
        """Decide every received sign-up and send every due mail; returns how many were handed over."""
        with self._pass:
            self._recover()
            for _ in range(PER_PASS):
                if not self._decide_next():
                    break
            sent = 0
            for _ in range(PER_PASS):
                handed = self._send_next()
                if handed is None:
                    break
                sent += handed
            self._prune()
            return sent

    # --- claiming ---------------------------------------------------------------------------------

    def _next(self, session: Session, state: State, now: datetime | None = None) -> int | None:
        query = sa.select(SystemMail.id).where(SystemMail.state == state)
        if now is not None:
            query = query.where(SystemMail.due_at <= now)
        query = query.order_by(SystemMail.id).limit(1).with_for_update(skip_locked=True)
        found = session.scalar(query)
        return None if found is None else int(found)

    def _take(self, session: Session, row_id: int, current: State, **values: Any) -> bool:
        """Move the row on from ``current``; False when another worker was first."""
        moved = session.execute(
            sa.update(SystemMail)
            .where(SystemMail.id == row_id, SystemMail.state == current)
            .values(updated_at=self.clock.now(), **values)
        )
        return bool(getattr(moved, "rowcount", 0))

    # --- 1. deciding ------------------------------------------------------------------------------

    def _decide_next(self) -> bool:
        """Decide one received sign-up; False when there is none left."""
        row_id: int | None = None
        try:
            with transaction(self.engine) as session:
                row_id = self._next(session, State.RECEIVED)
                if row_id is None:
                    return False
                if self._take(session, row_id, State.RECEIVED, state=State.SKIPPED):
                    row = session.get(SystemMail, row_id)
                    assert row is not None
                    self._decide(session, row)
                return True
        except (DatabaseError, sa.exc.OperationalError):
            raise  # busy or unreachable: the row stays received and the next pass tries again
        except Exception as err:  # a sign-up that cannot be recorded must not block the queue
            if row_id is None:
                raise
            log.exception("a sign-up could not be recorded; it is set aside as failed")
            with transaction(self.engine) as session:
                detail = one_line(f"not recorded: {err}")
                self._take(session, row_id, State.RECEIVED, state=State.FAILED, request=None, detail=detail)
            return True

    def _decide(self, session: Session, row: SystemMail) -> None:
        posted = dict(row.request or {})
        signup = SignUp(
            email=str(posted["email"]),
            first_name=str(posted.get("first_name", "")),
            last_name=str(posted.get("last_name", "")),
            role=str(posted.get("role", "")),
            language=str(posted.get("language", "en")),
            topics=tuple(str(t) for t in posted.get("topics", ())),
        )
        consent = form_consent(
            posted.get("ip"), posted.get("user_agent"), notice_version=str(posted.get("notice_version", ""))
        )
        outcome = sign_up(session, signup, consent, FixedClock(_aware(row.created_at)))
        row.request = None  # the subscriber row holds what is needed now; the queue keeps no address
        row.subscriber_id = outcome.subscriber_id
        if outcome.mail is Mail.NONE or outcome.subscriber_id is None:
            row.detail = "no mail: this address is not mailed"
            return
        if limit_reached(session, row.address_hash, _aware(row.created_at), but=row.id):
            log.warning("not mailing a sign-up address again so soon (mail limit)")
            row.detail = f"no mail: at most {MAILS_PER_ADDRESS[0]} mails per address per hour"
            return
        row.state = State.PENDING
        row.kind = outcome.mail.value
        row.confirm = outcome.confirm or None
        row.due_at = self.clock.now()

    # --- 2. sending -------------------------------------------------------------------------------

    def _send_next(self) -> int | None:
        """Send one due mail: 1 if handed over, 0 if not, None when none is due."""
        now = self.clock.now()
        with transaction(self.engine) as session:
            row_id = self._next(session, State.PENDING, now)
            if row_id is None:
                return None
            row = session.get(SystemMail, row_id)
            assert row is not None
            kind, payload, subscriber_id = Mail(row.kind), list(row.confirm or []), row.subscriber_id
            subscriber = session.get(Subscriber, subscriber_id) if subscriber_id is not None else None
            recipient = _recipient(subscriber)
            if kind is Mail.PREFERENCES and subscriber is not None:
                # Left the list since the change: the notice is about a subscription they no longer have.
                recipient = recipient if subscriber.status is SubscriberStatus.ACTIVE else None
        if recipient is None or subscriber_id is None:
            with transaction(self.engine) as session:
                self._take(
                    session,
                    row_id,
                    State.PENDING,
                    state=State.SKIPPED,
                    detail="no mail: the subscriber is gone",
                )
            return 0
        link = confirm_url(self.config, self.clock, payload) if kind is Mail.CONFIRM else ""
        message = self.mail.compose(kind, recipient, subscriber_links(self.config, subscriber_id), link, now)
        with transaction(self.engine) as session:
            taken = self._take(
                session,
                row_id,
                State.PENDING,
                state=State.SENDING,
                message_id=message.message_id,
                attempts=SystemMail.attempts + 1,
            )
        if not taken:
            return 0
        try:
            result: SendResult | None = self.transport().send([message])[0]
        except Exception:  # the transport cannot be used at all: nothing was handed over
            log.exception("the confirmation mail could not be handed to the transport")
            result = None
        self._record(row_id, result)
        return 1 if result is not None and result.outcome is Outcome.SENT else 0

    def _record(self, row_id: int, result: SendResult | None) -> None:
        now = self.clock.now()
        with transaction(self.engine) as session:
            row = session.get(SystemMail, row_id)
            assert row is not None
            row.updated_at = now
            if result is not None and result.outcome is Outcome.SENT:
                row.state, row.detail = State.SENT, one_line(f"{result.code} {result.detail}")
                return
            if result is not None and result.uncertain:
                row.state, row.detail = State.UNKNOWN, one_line(f"answer lost: {result.code} {result.detail}")
                return
            detail = "the transport could not be used" if result is None else f"{result.code} {result.detail}"
            transient = result is None or result.outcome is Outcome.RETRY
            if transient and row.attempts < MAX_ATTEMPTS:
                wait = (result.retry_after if result is not None else None) or FIRST_RETRY * 2 ** (
                    row.attempts - 1
                )
                row.state, row.due_at = State.PENDING, now + timedelta(seconds=min(wait, 3600.0))
            else:
                row.state = State.FAILED
            row.detail = one_line(detail)
            log.warning("the confirmation mail was not sent: %s", row.detail)

    # --- housekeeping -----------------------------------------------------------------------------

    def _recover(self) -> None:
        """Rows left ``sending`` by a worker that stopped mid-send: maybe delivered, never resent."""
        now = self.clock.now()
        with transaction(self.engine) as session:
            session.execute(
                sa.update(SystemMail)
                .where(SystemMail.state == State.SENDING, SystemMail.updated_at < now - STALE_SENDING)
                .values(state=State.UNKNOWN, detail="the worker stopped while sending", updated_at=now)
            )

    def _prune(self) -> None:
        now = self.clock.now()
        with transaction(self.engine) as session:
            session.execute(
                sa.delete(SystemMail).where(
                    SystemMail.state.in_(FINISHED), SystemMail.updated_at < now - KEEP_FINISHED
                )
            )


def _recipient(subscriber: Subscriber | None) -> Recipient | None:
    if subscriber is None or not subscriber.email or subscriber.status is SubscriberStatus.ERASED:
        return None
    return Recipient(
        subscriber.email, subscriber.first_name, subscriber.last_name, language=subscriber.language or ""
    )
