"""Run one campaign: claim a batch, compose, send under the rate limit, record; until none is left.

Several runners (threads of one process, or ``outreach worker`` processes on PostgreSQL) may run the
same campaign: the ledger's claims keep them apart. A policy rejection (5.7.x) or too many consecutive
errors pause the campaign with a message saying what to do; nothing is retried in a loop forever.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
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
from outreach.transports.base import OutgoingMessage, SendResult, Transport


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
        messages = CampaignMessages(campaign, self.base_url, self.secret, self.signer)
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
                now = self.clock.now()
                outgoing = [messages.compose(c, now) for c in claimed]
                results = self._send(pool, outgoing)
                if not self._record(claimed, results):
                    break
        return self.progress

    def _still_sending(self) -> bool:
        with self.engine.connect() as connection:
            status = connection.scalar(sa.select(Campaign.status).where(Campaign.id == self.campaign_id))
        return status is CampaignStatus.SENDING

    def _send(self, pool: ThreadPoolExecutor, outgoing: Sequence[OutgoingMessage]) -> list[SendResult]:
        size = max(1, self.transport.max_batch)
        chunks = [outgoing[i : i + size] for i in range(0, len(outgoing), size)]
        futures = []
        for chunk in chunks:
            self.pace.acquire(len(chunk))
            futures.append(pool.submit(self.transport.send, chunk))
        results: list[SendResult] = []
        for future in futures:
            results.extend(future.result())
        return results

    def _record(self, claimed: list[Claimed], results: list[SendResult]) -> bool:
        by_key = {r.key: r for r in results}
        pairs = [(c, by_key[str(c.delivery_id)]) for c in claimed]
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
