"""Sending campaigns in the background of a long-running process: the admin app's "Send now".

Pressing "Send" in the admin app starts the campaign, then sends it in a thread the app owns, with
the runner ``outreach worker`` uses: the mail goes out with nothing else running, and the campaign's
page follows its progress. The ledger's claims keep runners apart, so an ``outreach worker`` running
beside the app shares the work safely. Retries that are not due yet are waited for (interruptibly)
and sent when due, until the campaign is done, paused or cancelled.

Stopping (the process is shutting down, or ``stop`` is called) works like a pause that is not
written to the database: chunks in flight are recorded, nothing more is claimed, and the rows left
stay ``pending`` for ``outreach worker`` or ``outreach campaigns resume ID``. Only a process killed
outright leaves up to one batch ``unknown``, as it would for any worker.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from outreach.audience import transaction
from outreach.clock import Clock, SystemClock, utc
from outreach.config import Config
from outreach.delivery.campaigns import get_campaign, pause
from outreach.delivery.runner import CampaignRunner
from outreach.delivery.schema import CampaignStatus, Delivery, DeliveryState
from outreach.delivery.wiring import build_transport, runner_for

log = logging.getLogger("outreach.sending")

# The longest a sending thread sleeps before looking again for retries that came due.
IDLE_SECONDS = 30.0
# How long shutting down waits for the chunks in flight to be answered and recorded.
STOP_SECONDS = 30.0


class _StoppableRunner(CampaignRunner):
    """The worker's runner, which also stops claiming when this process is stopping."""

    stopping: threading.Event

    def _still_sending(self) -> bool:
        return not self.stopping.is_set() and super()._still_sending()


Runner = Callable[[Config, Engine, int, str], object]


class BackgroundSends:
    """The campaigns this process is sending, one thread each (never two for one campaign).

    ``runner`` replaces the whole send of a campaign (tests hold a thread with it); by default the
    worker's runner sends it to the end, as described above.
    """

    def __init__(
        self, config: Config, engine: Engine, runner: Runner | None = None, clock: Clock | None = None
    ) -> None:
        self.config = config
        self.engine = engine
        self.clock = clock or SystemClock()
        self._runner = runner
        self.stopping = threading.Event()
        self._threads: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()
        _stop_at_exit(self)

    def start(self, campaign_id: int, transport: str | None = None) -> bool:
        """Send the campaign in a new thread (through ``transport``, else the campaign's own); False
        when this process sends it already, or is stopping."""
        with self._lock:
            if self.stopping.is_set() or self._alive(campaign_id):
                return False
            thread = threading.Thread(
                target=self._run, args=(campaign_id, transport), name=f"campaign-{campaign_id}", daemon=True
            )
            self._threads[campaign_id] = thread
            thread.start()
            return True

    def running(self, campaign_id: int) -> bool:
        with self._lock:
            return self._alive(campaign_id)

    def sending(self) -> list[int]:
        """The campaigns a thread of this process is sending now."""
        with self._lock:
            return sorted(cid for cid in self._threads if self._alive(cid))

    def join(self, campaign_id: int, timeout: float | None = None) -> None:
        """Wait for a campaign's thread (tests, and an orderly shutdown)."""
        with self._lock:
            thread = self._threads.get(campaign_id)
        if thread is not None:
            thread.join(timeout)

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Stop claiming, record what is in flight, and wait (up to ``timeout`` in all) for the threads."""
        self.stopping.set()
        with self._lock:
            threads = list(self._threads.values())
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _alive(self, campaign_id: int) -> bool:
        thread = self._threads.get(campaign_id)
        return thread is not None and thread.is_alive()

    def _run(self, campaign_id: int, transport: str | None) -> None:
        try:
            with transaction(self.engine) as session:
                name = transport or get_campaign(session, campaign_id).transport
            if self._runner is not None:
                self._runner(self.config, self.engine, campaign_id, name)
            else:
                self._send_until_done(campaign_id, name)
        except Exception as err:  # nobody is watching this thread: say it where staff look
            log.exception("campaign %s stopped sending", campaign_id)
            self._pause(campaign_id, f"the app could not go on sending it: {err}")

    def _send_until_done(self, campaign_id: int, name: str) -> None:
        with build_transport(self.config, name) as way_out:
            while not self.stopping.is_set():
                runner = runner_for(self.config, self.engine, campaign_id, name, way_out, self.clock)
                runner.__class__ = _StoppableRunner  # the same runner, told when to stop
                runner.stopping = self.stopping  # type: ignore[attr-defined]
                runner.run(wait_for_retries=False)
                wait = self._until_next_retry(campaign_id)
                if wait is None:
                    return
                self.stopping.wait(min(max(wait, 0.05), IDLE_SECONDS))

    def _until_next_retry(self, campaign_id: int) -> float | None:
        """Seconds until its next retry is due; None when it is not sending or nothing waits."""
        with transaction(self.engine) as session:
            if get_campaign(session, campaign_id).status is not CampaignStatus.SENDING:
                return None
            waiting, due = session.execute(
                sa.select(sa.func.count(), sa.func.min(Delivery.next_attempt_at)).where(
                    Delivery.campaign_id == campaign_id, Delivery.state == DeliveryState.PENDING
                )
            ).one()
        if not waiting:
            return None
        if due is None:
            return 0.0
        return (utc(due) - self.clock.now()).total_seconds()

    def _pause(self, campaign_id: int, reason: str) -> None:
        try:
            with transaction(self.engine) as session:
                campaign = get_campaign(session, campaign_id)
                if campaign.status is CampaignStatus.SENDING:
                    pause(
                        session,
                        campaign_id,
                        f"{reason}; fix it, then resume the campaign",
                        self.clock,
                    )
        except Exception:
            log.exception("campaign %s could not be paused", campaign_id)


def _stop_at_exit(sends: BackgroundSends) -> None:
    """Stop the threads as the process exits, before thread pools refuse new work.

    ``threading._register_atexit`` runs before the interpreter joins threads and shuts executors
    down (``concurrent.futures`` uses it too); plain ``atexit`` would run too late for a clean stop.
    """
    ref = weakref.ref(sends)

    def stop() -> None:
        found = ref()
        if found is not None:
            found.stop()

    register: Callable[[Callable[[], None]], object] = getattr(threading, "_register_atexit", atexit.register)
    with contextlib.suppress(RuntimeError):  # already shutting down: nothing new starts anyway
        register(stop)
