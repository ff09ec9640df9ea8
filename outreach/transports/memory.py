"""A transport that keeps messages in a list: for tests, and for dry runs that should count, not send.

The outbox belongs to the instance (never a module global, unlike Django's ``mail.outbox``), so tests
running side by side never see each other's mail. A script of outcomes lets a test play a server that
bounces, blocks or times out without any server.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from outreach.transports.base import Outcome, OutgoingMessage, Receipts, SendResult, Transport, stopped


class MemoryTransport(Transport):
    """Accepts everything into ``outbox`` unless ``script`` says otherwise.

    ``script`` holds one entry per message to come, in order: an ``Outcome`` (filled in with a plain
    code and detail) or a complete ``SendResult`` (its key is replaced by the message's). When the
    script runs out every further message is SENT. Only SENT messages land in ``outbox``.
    """

    backend = "memory"
    max_batch = 1000

    def __init__(self, name: str = "memory", script: Iterable[Outcome | SendResult] = ()) -> None:
        super().__init__(name)
        self.outbox: list[OutgoingMessage] = []
        self.attempts: list[OutgoingMessage] = []
        self.is_open = False
        self.opened = 0
        self._script = list(script)
        self._lock = threading.Lock()
        self._counter = 0

    def open(self) -> None:
        with self._lock:
            if not self.is_open:
                self.is_open = True
                self.opened += 1

    def close(self) -> None:
        with self._lock:
            self.is_open = False

    def deliver(self, messages: Sequence[OutgoingMessage], receipts: Receipts) -> None:
        self.open()
        going = True
        for message in messages:
            going = going and receipts.handing((message,))
            if not going:
                receipts.answered(stopped(message.key))
                continue
            with self._lock:
                result = self._one(message)
            receipts.answered(result)

    def _one(self, message: OutgoingMessage) -> SendResult:
        self.attempts.append(message)
        planned = self._script.pop(0) if self._script else Outcome.SENT
        if isinstance(planned, SendResult):
            result = SendResult(
                key=message.key,
                outcome=planned.outcome,
                code=planned.code,
                detail=planned.detail,
                provider_id=planned.provider_id,
                retry_after=planned.retry_after,
                uncertain=planned.uncertain,
                attempted=planned.attempted,
            )
        elif planned is Outcome.SENT:
            self._counter += 1
            result = SendResult(message.key, Outcome.SENT, "250", "accepted", f"memory-{self._counter}")
        else:
            result = SendResult(message.key, planned, "scripted", f"scripted {planned.value}")
        if result.outcome is Outcome.SENT:
            self.outbox.append(message)
        return result
