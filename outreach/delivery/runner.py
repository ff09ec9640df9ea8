"""Run one campaign: claim a batch, compose, send under the rate limits, record; until none is left.

Several runners (threads of one process, or ``outreach worker`` processes on PostgreSQL) may run the
same campaign: the ledger's claims keep them apart. A policy rejection (5.7.x) or too many consecutive
errors pause the campaign with a message saying what to do; nothing is retried in a loop forever.

Every hand-over and answer is journaled as it happens (``journal.py``), and a runner starts by
settling what a dead one left (``recovery.py``). SIGTERM or Ctrl+C stops a run cleanly
(``stopping.py``): nothing more is handed over, the messages in hand finish and are recorded, the rest
of the claimed rows go back to ``pending``, and the run ends with ``SendingStopped``.
"""

from __future__ import annotations

import contextlib
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from outreach.audience import transaction
from outreach.clock import Clock
from outreach.delivery import ledger
from outreach.delivery.campaigns import get_campaign, log, pause
from outreach.delivery.edition_choice import EditionChoice, EditionContent
from outreach.delivery.editions import contents_of
from outreach.delivery.journal import Journal, Journals
from outreach.delivery.ledger import Claimed
from outreach.delivery.limits import LedgerLimits
from outreach.delivery.outgoing import CampaignContent, CampaignMessages, Signer
from outreach.delivery.pacing import Backoff, Pace
from outreach.delivery.processes import SendingProcesses
from outreach.delivery.recovery import Recovered, recover
from outreach.delivery.schema import Campaign, CampaignStatus, Delivery, DeliveryState
from outreach.delivery.senders import Senders, SendingLoop, SendingThreads, Sent, failure, problem
from outreach.delivery.stopping import StopSwitch
from outreach.errors import DeliveryError
from outreach.transports.base import SendResult, Transport, stopped, unanswered


@dataclass(frozen=True)
class RunSettings:
    """How a runner paces itself; from ``[delivery]`` and the transport's table in outreach.toml."""

    batch_size: int = 200
    concurrency: int = 4
    max_attempts: int = 5
    max_consecutive_errors: int = 20
    lease: timedelta = timedelta(minutes=10)
    idle_wait: float = 5.0


@dataclass
class Progress:
    """Running totals for the progress bar and the summary."""

    total: int = 0
    done: int = 0
    sent: int = 0
    failed: int = 0
    other: int = 0
    started: float = field(default_factory=time.monotonic)
    message: str = ""

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.sent / elapsed if elapsed > 0 else 0.0


class SendingStopped(DeliveryError):
    """The run was stopped by a signal; what was in hand is recorded, the rest is pending again."""


@dataclass(frozen=True)
class _Chunk:
    rows: list[Claimed]
    segment: Path | None


Report = Callable[[Progress], None]

# How often a running campaign re-reads its status (pause and cancel take effect within this).
STATUS_EVERY = 0.5


# Seconds a thread may hold the GIL while another waits for it (CPython's default is 5 ms). A sender
# thread whose SMTP reply has arrived needs the GIL for microseconds; behind the runner's ledger work
# or another thread's composing it would wait up to the whole interval, once per reply, on every
# connection (a convoy that grows with the connections).
SWITCH_INTERVAL = 0.0005


_switching = threading.Lock()
_runs_switching = 0
_switch_before = 0.0


@contextlib.contextmanager
def _quick_switches() -> Iterator[None]:
    """Hand the GIL over every ``SWITCH_INTERVAL`` while any run of this process sends (the setting is
    the interpreter's: the first run to start sets it, the last to end restores it)."""
    global _runs_switching, _switch_before
    with _switching:
        if _runs_switching == 0:
            _switch_before = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_before, SWITCH_INTERVAL))
        _runs_switching += 1
    try:
        yield
    finally:
        with _switching:
            _runs_switching -= 1
            if _runs_switching == 0:
                sys.setswitchinterval(_switch_before)


class CampaignRunner:
    """Sends one campaign until it is done, paused, cancelled, stopped, or only waits for retries."""

    def __init__(
        self,
        engine: Engine,
        campaign_id: int,
        transport: Transport,
        pace: Pace,
        clock: Clock,
        settings: RunSettings,
        *,
        base_url: str,
        secret: str,
        signer: Signer | None = None,
        unsubscribe_mailto: str = "",
        return_path: str = "",
        processes: SendingProcesses | None = None,
        report: Report | None = None,
        sleep: Callable[[float], None] | None = None,
        rng: random.Random | None = None,
        journals: Journals | None = None,
        limits: LedgerLimits | None = None,
    ) -> None:
        self.engine = engine
        self.campaign_id = campaign_id
        self.transport = transport
        self.pace = pace
        self.clock = clock
        self.settings = settings
        self.base_url = base_url
        self.secret = secret  # the site's current key: links and keyed Message-IDs
        self.signer = signer
        self.unsubscribe_mailto = unsubscribe_mailto
        self.return_path = return_path  # [events] return_path: each message's VERP envelope sender
        self.processes = processes
        self.report = report or (lambda progress: None)
        self.stop = StopSwitch()
        self.sleep = sleep or self.stop.nap
        self.rng = rng or random.Random()
        self.journals = journals
        self.limits = limits
        self.claimer = ledger.worker_id()
        self.progress = Progress()
        self.consecutive_errors = 0
        self.backoff = Backoff()
        self._sending = False
        self._status_at = 0.0
        self._failure: DeliveryError | None = None
        self.editions: EditionChoice | None = None  # the campaign's languages, known once it runs
        self.uses_topics = True  # whether claims read each reader's topics (known once it runs)

    def run(self, wait_for_retries: bool = True) -> Progress:
        campaign, counts, editions = self._recover()
        content = CampaignContent.of(campaign, self.return_path, editions)
        self.editions = content.choice
        self.uses_topics = content.uses_topics
        self.messages = CampaignMessages(
            content, self.base_url, self.secret, self.signer, unsubscribe_mailto=self.unsubscribe_mailto
        )
        self.progress.total = sum(counts.values())
        self.progress.done = self.progress.total - counts["pending"] - counts["sending"]
        self.progress.sent = counts["sent"]
        self.report(self.progress)
        with self.stop.armed(), _quick_switches():
            journal = self.journals.start(self.claimer, self.campaign_id) if self.journals else None
            finished = False
            try:
                senders = self._start_senders(content, journal)
                self.stop.listeners = [senders.stop]
                try:
                    self._pipeline(senders, journal, campaign.message_id_domain, wait_for_retries)
                    finished = True
                finally:
                    if not finished:  # an error: let the messages in hand finish, hand over no more
                        senders.stop()
                    senders.close()
            finally:
                if journal is not None:  # kept after an error: the rows in hand are settled from it
                    journal.close(remove=finished)
        if self._failure is not None:
            raise self._failure
        if self.stop.signal is not None:
            raise SendingStopped(
                f"stopped by {self.stop.name} after {self.progress.sent} sent; the "
                f"messages in hand were recorded and every other recipient is pending again: "
                f"`outreach campaigns resume {self.campaign_id}` continues"
            )
        return self.progress

    def _recover(self) -> tuple[Campaign, dict[str, int], tuple[EditionContent, ...]]:
        """Settle what dead runners left (their journals first), in one transaction."""
        recovered = Recovered()
        try:
            with transaction(self.engine) as session:
                campaign = get_campaign(session, self.campaign_id)
                recovered = recover(
                    session,
                    self.campaign_id,
                    self.clock,
                    self.settings.lease,
                    self.journals,
                    max_attempts=self.settings.max_attempts,
                )
                if recovered.settled:
                    log(
                        session,
                        self.campaign_id,
                        "recovered",
                        self.clock,
                        f"a stopped run's rows: {recovered.answered} answered, {recovered.returned} "
                        f"returned to the queue, {recovered.unknown} unknown",
                    )
                counts = ledger.counts(session, self.campaign_id)
                editions = contents_of(session, self.campaign_id)
        except BaseException:
            recovered.finish(committed=False)
            raise
        recovered.finish(committed=True)
        return campaign, counts, editions

    def _start_senders(self, content: CampaignContent, journal: Journal | None) -> Senders:
        """This process by default (one loop thread for all of an SMTP relay's connections, or one
        thread per connection for the other transports); with ``processes`` set, the connections
        spread over sending processes, at most one per core (composing holds the GIL, so one process
        stops at one core; connections are never processes)."""
        threads = self.settings.concurrency
        if self.processes is None or self.processes.processes_for(threads) < 2:
            if self.transport.multiplexed:  # the loop runs here, whenever the pipeline waits
                return SendingLoop(self.messages, self.transport, threads, self.clock.now, threaded=False)
            return SendingThreads(self.messages, self.transport, threads, self.clock.now)
        lock = journal.lock_file if journal is not None else None
        return self.processes.start(
            content, self.base_url, self.secret, self.unsubscribe_mailto, lock, threads
        )

    def _sizes(self, workers: int) -> tuple[int, int]:
        """(rows per chunk, chunks in flight): two chunks per worker, one sending and one ready, so no
        worker idles while the ledger records; at most ``batch_size`` rows are in hand."""
        shared = self.limits.largest_batch if self.limits is not None else None
        largest = min((n for n in (self.pace.largest_batch, shared) if n is not None), default=None)
        largest = largest or self.transport.max_batch
        share = max(1, self.settings.batch_size // (2 * workers))
        size = max(1, min(self.transport.max_batch, largest, share))
        return size, max(1, self.settings.batch_size // size)

    def _pipeline(
        self, senders: Senders, journal: Journal | None, domain: str, wait_for_retries: bool
    ) -> None:
        """Keep up to ``batch_size`` rows in flight, in chunks of one transport batch.

        Each time chunks come back, one transaction records them and claims as many new chunks as
        slots are free and the limits allow, so the senders never wait for the slowest chunk of a
        batch and the ledger costs one commit per chunk. After a pause, a stop or a failure, the
        chunks in flight are still recorded.
        """
        size, slots = self._sizes(senders.count)
        in_flight: dict[Future[Sent], _Chunk] = {}
        returned: list[tuple[_Chunk, list[SendResult]]] = []
        keep_going = True
        while True:
            going = keep_going and self.stop.signal is None and self._failure is None
            free = slots - len(in_flight) if going else 0
            keep_going, claimed, later = self._settle(returned, free, size, domain)
            if journal is not None:
                for chunk, _ in returned:
                    assert chunk.segment is not None
                    journal.recorded(chunk.segment)
            returned = []
            for rows in claimed:
                segment = journal.assign(len(rows)) if journal is not None else None
                in_flight[senders.submit(rows, segment)] = _Chunk(rows, segment)
            if not in_flight:
                if not going or not keep_going:
                    return
                if later > 0 and self._anything_due():  # the rate limits allow nothing yet
                    if later > self.settings.idle_wait and not wait_for_retries:
                        return
                    self.sleep(min(later, self.settings.idle_wait))
                    continue
                if not self._still_sending() or not self._wait_or_finish(wait_for_retries):
                    return
                continue
            for future in senders.wait(in_flight, later or None):
                chunk = in_flight.pop(future)
                returned.append((chunk, self._results(future, chunk, journal)))

    def _settle(
        self, returned: list[tuple[_Chunk, list[SendResult]]], free: int, size: int, domain: str
    ) -> tuple[bool, list[list[Claimed]], float]:
        """Record the chunks that came back and claim up to ``free`` new chunks of ``size`` rows, in
        one transaction. Returns whether to go on (False once the campaign was paused), the chunks,
        and when nothing could be claimed because of a rate limit, the seconds until something can."""
        keep_going = True
        claimed: list[Claimed] = []
        later = 0.0
        with transaction(self.engine) as session:
            if free and self.limits is not None:
                self.limits.take_turn(session)
            for chunk, results in returned:
                keep_going &= self._record(session, chunk.rows, results)
            if keep_going and free and self._still_sending():
                wanted, later = self._allowed(session, size * free, size)
                if wanted:
                    claimed = ledger.claim(
                        session,
                        self.campaign_id,
                        wanted,
                        self.clock,
                        self.claimer,
                        domain,
                        self.secret,
                        editions=self.editions,
                        with_topics=self.uses_topics,
                    )
                    self.pace.take(len(claimed))
        if returned:
            self.report(self.progress)
        return keep_going, [claimed[start : start + size] for start in range(0, len(claimed), size)], later

    def _allowed(self, session: Session, wanted: int, size: int) -> tuple[int, float]:
        """How many rows the per-second pace and the ledger-counted limits allow now; if none, when."""
        room = self.pace.room()
        if room is not None and room < wanted:
            wanted = room
            if not wanted:
                return 0, self.pace.wait_for(size)
        if self.limits is None:
            return wanted, 0.0
        return self.limits.allowance(session, self.clock.now(), wanted)

    def _results(self, future: Future[Sent], chunk: _Chunk, journal: Journal | None) -> list[SendResult]:
        """The chunk's results; when its sender failed or died, what the journal says happened."""
        try:
            results, trouble = future.result()
        except Exception as err:  # a sending process died (or the pool broke): the journal knows
            if self.stop.signal is None and self._failure is None:
                trouble = f"a sending process stopped unexpectedly ({problem(err)})"
                self._failure = failure(trouble, self.campaign_id)
            return self._from_journal(chunk, journal)
        if trouble and self._failure is None:
            self._failure = failure(trouble, self.campaign_id)
        return results

    def _from_journal(self, chunk: _Chunk, journal: Journal | None) -> list[SendResult]:
        replay = journal.replay() if journal is not None else None
        results = []
        for claimed in chunk.rows:
            key = str(claimed.delivery_id)
            account = replay.account(claimed.delivery_id, claimed.attempts) if replay else None
            if account is not None and account.result is not None:
                results.append(account.result)
            elif account is not None and not account.handed:
                results.append(stopped(key))
            else:
                results.append(unanswered(key))
        return results

    def _anything_due(self) -> bool:
        with self.engine.connect() as connection:
            due = sa.select(Delivery.id).where(
                Delivery.campaign_id == self.campaign_id,
                Delivery.state == DeliveryState.PENDING,
                sa.or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= self.clock.now()),
            )
            return bool(connection.scalar(sa.select(due.exists())))

    def _still_sending(self) -> bool:
        """Whether the campaign is still 'sending' (an operator may pause or cancel it from another
        process); asked at most every ``STATUS_EVERY`` seconds, not for every chunk."""
        now = time.monotonic()
        if now - self._status_at >= STATUS_EVERY or not self._sending:
            with self.engine.connect() as connection:
                status = connection.scalar(sa.select(Campaign.status).where(Campaign.id == self.campaign_id))
            self._sending = status is CampaignStatus.SENDING
            self._status_at = now
        return self._sending

    def _record(self, session: Session, claimed: list[Claimed], results: list[SendResult]) -> bool:
        """Write one chunk's results; pause the campaign on a policy refusal or too many errors."""
        pairs = list(zip(claimed, results, strict=True))
        recorded = ledger.record(
            session,
            self.campaign_id,
            pairs,
            self.clock,
            max_attempts=self.settings.max_attempts,
            backoff=self.backoff,
            rng=self.rng,
            consecutive_errors=self.consecutive_errors,
        )
        self.consecutive_errors = recorded.consecutive_errors
        reason = ""
        if recorded.blocked is not None:
            said = f"{recorded.blocked.code} {recorded.blocked.detail}".strip()
            reason = (
                f"the transport refused on policy grounds ({said}); fix the sender's "
                f"authentication or account, then `outreach campaigns resume {self.campaign_id}`"
            )
        elif self.consecutive_errors >= self.settings.max_consecutive_errors:
            reason = (
                f"{self.consecutive_errors} errors in a row (last: {recorded.last_error}); check "
                f"the transport, then `outreach campaigns resume {self.campaign_id}`"
            )
        if reason and not self.progress.message:  # chunks still in flight must not pause it again
            pause(session, self.campaign_id, reason, self.clock)
            self._sending = False
            self.progress.message = reason
        self.progress.sent += recorded.outcomes["sent"]
        self.progress.failed += recorded.failed
        self.progress.done = self.progress.sent + self.progress.failed
        return not reason

    def _wait_or_finish(self, wait_for_retries: bool) -> bool:
        """No row is due: finish if nothing is left, else wait for the next retry (or stop)."""
        with transaction(self.engine) as session:
            left = session.execute(
                sa.select(sa.func.count(), sa.func.min(Delivery.next_attempt_at)).where(
                    Delivery.campaign_id == self.campaign_id,
                    Delivery.state.in_([DeliveryState.PENDING, DeliveryState.SENDING]),
                )
            ).one()
            if left[0] == 0:
                campaign = get_campaign(session, self.campaign_id)
                if campaign.status is CampaignStatus.SENDING:
                    campaign.status = CampaignStatus.DONE
                    campaign.finished_at = self.clock.now()
                    counts = ledger.counts(session, self.campaign_id)
                    log(
                        session,
                        self.campaign_id,
                        "finished",
                        self.clock,
                        ", ".join(f"{n} {state}" for state, n in counts.items() if n),
                    )
                return False
        if not wait_for_retries:
            return False
        due = left[1]
        if due is not None:
            due = ledger._aware(due)
        pause_for = (due - self.clock.now()).total_seconds() if due else self.settings.idle_wait
        self.sleep(min(max(pause_for, 0.05), self.settings.idle_wait))
        return True
