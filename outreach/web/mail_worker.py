"""The thread of ``outreach serve`` that sends the service's own mail while the service runs.

It runs a pass of ``SystemMailer`` whenever a sign-up wakes it, and every ``poll`` seconds anyway
(for retries that come due, and for rows another process left). A failing pass is logged and tried
again on the next one; stopping waits for the pass in hand, up to a limit.
"""

from __future__ import annotations

import logging
import threading

from outreach.web.system_mails import SystemMailer

log = logging.getLogger("outreach.web.mail")
POLL = 5.0


class MailWorker:
    """``start``, ``wake`` after each sign-up, ``stop`` at shutdown."""

    def __init__(self, mailer: SystemMailer, poll: float = POLL) -> None:
        self.mailer = mailer
        self.poll = poll
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="outreach-mail", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, wait: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(wait)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()  # a wake during the pass below makes the next wait return at once
            try:
                self.mailer.run_once()
            except Exception:
                log.exception("sending the sign-up mails failed; trying again shortly")
            self._wake.wait(self.poll)
