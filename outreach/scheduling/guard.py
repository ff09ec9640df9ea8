"""A transport that refuses to hand anything over once this process no longer holds the lease.

If the active scheduler stalls (a long pause, a lost network) past its lease, a standby takes over.
The stalled process may still be in the middle of a campaign when it wakes; this wrapper stops it
before the next message leaves, so two processes never send the same campaign at once. The rows it
had claimed but not handed over go back to ``pending`` (the journal shows they never left).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from outreach.errors import OutreachError
from outreach.transports.base import OutgoingMessage, Receipts, SendResult, Transport


class LeaseLost(OutreachError):
    """This scheduler's lease expired; another one may be active now."""


class LeaseGuardedTransport(Transport):
    """Wraps a transport; ``send`` raises LeaseLost instead of sending when the lease is gone."""

    def __init__(self, inner: Transport, holds_lease: Callable[[], bool]) -> None:
        super().__init__(inner.name)
        self.inner = inner
        self.backend = inner.backend
        self.max_batch = inner.max_batch
        self.holds_lease = holds_lease

    def open(self) -> None:
        self.inner.open()

    def close(self) -> None:
        self.inner.close()

    def deliver(self, messages: Sequence[OutgoingMessage], receipts: Receipts) -> None:
        if not self.holds_lease():
            raise LeaseLost("the scheduler lease expired; stopping before handing over more mail")
        self.inner.deliver(messages, receipts)

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        if not self.holds_lease():
            raise LeaseLost("the scheduler lease expired; stopping before handing over more mail")
        return self.inner.send(messages)
