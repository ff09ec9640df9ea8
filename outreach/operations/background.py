"""Campaigns sent in the background of a long-running process (the admin app), one thread each.

When an admin sends or resumes a campaign from the browser, the page must answer at once while the
campaign runs. ``BackgroundSends`` runs ``run_campaign`` in a thread per campaign, never two for the
same campaign in this process; the ledger's claims keep it apart from any ``outreach worker`` that
works on the same campaign, so starting one here never sends anyone twice. A thread that stops (the
process ends, a pause) leaves the ledger as the contract says: pending rows wait for the next run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.engine import Engine

from outreach.config import Config
from outreach.errors import OutreachError
from outreach.operations.sending import run_campaign

log = logging.getLogger("outreach.background")

Runner = Callable[[Config, Engine, int, str], object]


class BackgroundSends:
    """Starts and tracks the threads sending campaigns for this process."""

    def __init__(self, config: Config, engine: Engine, runner: Runner | None = None) -> None:
        self.config = config
        self.engine = engine
        self._runner: Runner = runner or (lambda c, e, i, t: run_campaign(c, e, i, t))
        self._threads: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self, campaign_id: int, transport: str) -> bool:
        """Send ``campaign_id`` in a thread; False when this process is already sending it."""
        with self._lock:
            running = self._threads.get(campaign_id)
            if running is not None and running.is_alive():
                return False
            thread = threading.Thread(
                target=self._run, args=(campaign_id, transport), name=f"campaign-{campaign_id}", daemon=True
            )
            self._threads[campaign_id] = thread
            thread.start()
            return True

    def running(self, campaign_id: int) -> bool:
        with self._lock:
            thread = self._threads.get(campaign_id)
            return thread is not None and thread.is_alive()

    def join(self, campaign_id: int, timeout: float | None = None) -> None:
        """Wait for a campaign's thread (tests, and an orderly shutdown)."""
        with self._lock:
            thread = self._threads.get(campaign_id)
        if thread is not None:
            thread.join(timeout)

    def _run(self, campaign_id: int, transport: str) -> None:
        try:
            self._runner(self.config, self.engine, campaign_id, transport)
        except OutreachError as err:
            log.error("campaign %s stopped: %s", campaign_id, err)
        except Exception:
            log.exception("campaign %s stopped on an unexpected error", campaign_id)
