"""Run one campaign: claim a batch, compose, send under the rate limit, record; until none is left.

Several runners (threads of one process, or ``outreach worker`` processes on PostgreSQL) may run the
same campaign: the ledger's claims keep them apart. A policy rejection (5.7.x) or too many consecutive
errors pause the campaign with a message saying what to do; nothing is retried in a loop forever.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from outreach.audience import transaction
from outreach.clock import Clock
from outreach.delivery import ledger
from outreach.delivery.campaigns import get_campaign, log, pause
from outreach.delivery.ledger import Claimed
from outreach.delivery.outgoing import CampaignMessages, Signer
from outreach.delivery.pacing import Backoff, Pace
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
        self.report = report or (lambda progress: None)
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.claimer = ledger.worker_id()
        self.progress = Progress()
        self.consecutive_errors = 0
        self.backoff = Backoff()

    def run(self, wait_for_retries: bool = True) -> Progress:
        with transaction(self.engine) as session:
            campaign = get_campaign(session, self.campaign_id)
            ledger.recover(session, self.campaign_id, self.clock, self.settings.lease)
            counts = ledger.counts(session, self.campaign_id)
        self.messages = CampaignMessages(
            campaign, self.base_url, self.secret, self.signer, unsubscribe_mailto=self.unsubscribe_mailto
        )
        self.progress.total = sum(counts.values())
        self.progress.done = self.progress.total - counts["pending"] - counts["sending"]
        self.progress.sent = counts["sent"]
        self.report(self.progress)
        with ThreadPoolExecutor(max_workers=self.settings.concurrency) as pool:
            while self._still_sending():
                with transaction(self.engine) as session:
                    claimed = ledger.claim(
                        session,
                        self.campaign_id,
                        self.settings.batch_size,
                        self.clock,
                        self.claimer,
                        campaign.message_id_domain,
                    )
                if not claimed:
                    if not self._wait_or_finish(wait_for_retries):
                        break
                    continue
                if not self._send_and_record(pool, claimed):
                    break
        return self.progress

    def _still_sending(self) -> bool:
        with self.engine.connect() as connection:
            status = connection.scalar(sa.select(Campaign.status).where(Campaign.id == self.campaign_id))
        return status is CampaignStatus.SENDING

    def _send_and_record(self, pool: ThreadPoolExecutor, claimed: list[Claimed]) -> bool:
        """Compose and send chunks in parallel, recording each chunk as soon as it returns.

        Each pool thread composes its own chunk, so composing one chunk overlaps the network wait of
        the others. Recording per chunk keeps the window in which a crash turns rows ``unknown`` as
        small as the chunks still in flight. Every chunk that was sent is recorded, even after one of
        them asks to pause.
        """
        size = max(1, min(self.transport.max_batch, self.pace.largest_batch or self.transport.max_batch))
        futures = []
        for start in range(0, len(claimed), size):
            chunk = claimed[start : start + size]
            self.pace.acquire(len(chunk))
            futures.append(pool.submit(self._compose_and_send, chunk))
        keep_going = True
        for future in as_completed(futures):
            chunk, results = future.result()
            keep_going &= self._record(chunk, results)
        return keep_going

    def _compose_and_send(self, chunk: list[Claimed]) -> tuple[list[Claimed], list[SendResult]]:
        now = self.clock.now()
        outgoing = [self.messages.compose(claimed, now) for claimed in chunk]
        return chunk, self.transport.send(outgoing)

    def _record(self, claimed: list[Claimed], results: list[SendResult]) -> bool:
        pairs = list(zip(claimed, results, strict=True))
        with transaction(self.engine) as session:
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
            if reason:
                pause(session, self.campaign_id, reason, self.clock)
        outcomes = recorded.outcomes
        self.progress.sent += outcomes["sent"]
        self.progress.failed += outcomes["bounced"] + outcomes["rejected"]
        self.progress.done = self.progress.sent + self.progress.failed
        if reason:
            self.progress.message = reason
        self.report(self.progress)
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
