"""Run one campaign: claim a batch, compose, send under the rate limit, record; until none is left.

Several runners (threads of one process, or ``outreach worker`` processes on PostgreSQL) may run the
same campaign: the ledger's claims keep them apart. A policy rejection (5.7.x) or too many consecutive
errors pause the campaign with a message saying what to do; nothing is retried in a loop forever.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from outreach.audience import transaction
from outreach.clock import Clock
from outreach.delivery import ledger
from outreach.delivery.campaigns import get_campaign, log, pause
from outreach.delivery.ledger import Claimed
from outreach.delivery.outgoing import CampaignContent, CampaignMessages, Signer
from outreach.delivery.pacing import Backoff, Pace
from outreach.delivery.processes import SendingProcesses, compose_and_send_in_child
from outreach.delivery.schema import Campaign, CampaignStatus, Delivery, DeliveryState
from outreach.transports.base import SendResult, Transport


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


Report = Callable[[Progress], None]

# How often a running campaign re-reads its status (pause and cancel take effect within this).
STATUS_EVERY = 0.5


class CampaignRunner:
    """Sends one campaign until it is done, paused, cancelled, or only waits for retries."""

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
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.campaign_id = campaign_id
        self.transport = transport
        self.pace = pace
        self.clock = clock
        self.settings = settings
        self.base_url = base_url
        self.secret = secret
        self.signer = signer
        self.unsubscribe_mailto = unsubscribe_mailto
        self.return_path = return_path  # [events] return_path: each message's VERP envelope sender
        self.processes = processes
        self.report = report or (lambda progress: None)
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.claimer = ledger.worker_id()
        self.progress = Progress()
        self.consecutive_errors = 0
        self.backoff = Backoff()
        self._sending = False
        self._status_at = 0.0

    def run(self, wait_for_retries: bool = True) -> Progress:
        with transaction(self.engine) as session:
            campaign = get_campaign(session, self.campaign_id)
            ledger.recover(session, self.campaign_id, self.clock, self.settings.lease)
            counts = ledger.counts(session, self.campaign_id)
        content = CampaignContent.of(campaign, self.return_path)
        self.messages = CampaignMessages(
            content, self.base_url, self.secret, self.signer, unsubscribe_mailto=self.unsubscribe_mailto
        )
        self.progress.total = sum(counts.values())
        self.progress.done = self.progress.total - counts["pending"] - counts["sending"]
        self.progress.sent = counts["sent"]
        self.report(self.progress)
        with self._pool(content) as pool:
            self._pipeline(pool, campaign.message_id_domain, wait_for_retries)
        return self.progress

    def _pipeline(self, pool: Executor, domain: str, wait_for_retries: bool) -> None:
        """Keep up to ``batch_size`` rows in flight, in chunks of one transport batch.

        Each time chunks come back, one transaction records them and claims as many new chunks as
        slots are free, so the senders never wait for the slowest chunk of a batch and the ledger
        costs one commit per chunk. At most ``batch_size`` rows are ``sending`` at any moment: that is
        all a crash can leave ``unknown``. After a pause, the chunks in flight are still recorded.
        """
        workers = self.processes.count if self.processes else self.settings.concurrency
        largest = self.pace.largest_batch or self.transport.max_batch
        # Two chunks per worker: one sending, one ready, so no worker idles while the ledger records.
        share = max(1, self.settings.batch_size // (2 * workers))
        size = max(1, min(self.transport.max_batch, largest, share))
        slots = max(1, self.settings.batch_size // size)
        work = self._compose_and_send if self.processes is None else compose_and_send_in_child
        in_flight: dict[Future[tuple[list[Claimed], list[SendResult]]], int] = {}
        returned: list[tuple[list[Claimed], list[SendResult]]] = []
        keep_going = True
        while True:
            free = slots - len(in_flight) if keep_going else 0
            keep_going, chunks = self._settle(returned, free, size, domain)
            returned = []
            for chunk in chunks:
                self.pace.acquire(len(chunk))
                in_flight[pool.submit(work, chunk)] = len(chunk)
            if not in_flight:
                if not keep_going or not self._still_sending() or not self._wait_or_finish(wait_for_retries):
                    return
                continue
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                del in_flight[future]
                returned.append(future.result())

    def _settle(
        self, returned: list[tuple[list[Claimed], list[SendResult]]], free: int, size: int, domain: str
    ) -> tuple[bool, list[list[Claimed]]]:
        """Record the chunks that came back and claim up to ``free`` new chunks of ``size`` rows, in
        one transaction. Returns whether to go on (False once the campaign was paused) and the chunks."""
        keep_going = True
        claimed: list[Claimed] = []
        with transaction(self.engine) as session:
            for chunk, results in returned:
                keep_going &= self._record(session, chunk, results)
            if keep_going and free and self._still_sending():
                claimed = ledger.claim(
                    session, self.campaign_id, size * free, self.clock, self.claimer, domain
                )
        if returned:
            self.report(self.progress)
        return keep_going, [claimed[start : start + size] for start in range(0, len(claimed), size)]

    def _pool(self, content: CampaignContent) -> Executor:
        """Threads by default; with ``processes`` set, sending processes that compose and send on every
        core (composing holds the GIL, so threads alone stop at one core)."""
        if self.processes is None:
            return ThreadPoolExecutor(max_workers=self.settings.concurrency)
        return self.processes.start(content, self.base_url, self.secret, self.unsubscribe_mailto)

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

    def _compose_and_send(self, chunk: list[Claimed]) -> tuple[list[Claimed], list[SendResult]]:
        now = self.clock.now()
        outgoing = [self.messages.compose(claimed, now) for claimed in chunk]
        return chunk, self.transport.send(outgoing)

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
        wait = (due - self.clock.now()).total_seconds() if due else self.settings.idle_wait
        self.sleep(min(max(wait, 0.05), self.settings.idle_wait))
        return True
