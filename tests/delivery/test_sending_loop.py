"""The sending loop (``senders.SendingLoop``): one thread, many connections of a multiplexed transport.

Driven here with a transport whose conversations only wait (on a helper thread, as connecting does),
so what is tested is the loop's own bookkeeping: how many chunks are under way at once, what a stop
does to the chunks still waiting, and that a fault in the loop fails the chunks instead of leaving the
runner waiting for ever. The SMTP conversation itself is tested in tests/transports/.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from outreach.delivery.claims import Claimed
from outreach.delivery.senders import SendingLoop
from outreach.models import Recipient
from outreach.transports.base import OutgoingMessage, Receipts, Transport
from outreach.transports.conversation import Conversation, Offload


class Waiting(Transport):
    """A multiplexed transport whose every conversation takes ``pause`` seconds and hands nothing
    over (so nothing is composed); it counts how many conversations run at once."""

    multiplexed = True

    def __init__(self, connections: int, pause: float = 0.02, broken: bool = False) -> None:
        super().__init__("waiting")
        self.connections = connections
        self.pause = pause
        self.broken = broken
        self.now = 0
        self.most = 0

    def conversation(self, messages: Sequence[OutgoingMessage], receipts: Receipts) -> Conversation[None]:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            if self.broken:
                yield "neither a Wait nor an Offload"  # type: ignore[misc]
            yield Offload(lambda: time.sleep(self.pause))
        finally:
            self.now -= 1


def _chunk(first: int, size: int = 3) -> list[Claimed]:
    return [
        Claimed(n, n, f"<{n}@vaimh.example>", 1, Recipient(email=f"r{n}@example.org"))
        for n in range(first, first + size)
    ]


def _loop(transport: Transport, count: int) -> SendingLoop:
    messages: Any = None  # never composed: the transport above does not reach for the messages
    return SendingLoop(messages, transport, count, lambda: datetime.now(UTC))


def test_no_more_chunks_are_under_way_than_the_transport_has_connections() -> None:
    transport = Waiting(connections=2)
    senders = _loop(transport, count=5)
    futures = [senders.submit(_chunk(10 * n), None) for n in range(6)]
    try:
        sent = [future.result(timeout=10) for future in futures]
    finally:
        senders.close()
    assert transport.most == 2
    assert [(len(results), trouble) for results, trouble in sent] == [(3, "")] * 6


def test_a_stop_sends_the_waiting_chunks_back_not_attempted() -> None:
    transport = Waiting(connections=1, pause=0.2)
    senders = _loop(transport, count=1)
    first = senders.submit(_chunk(0), None)
    later = [senders.submit(_chunk(10 * n), None) for n in range(1, 4)]
    time.sleep(0.05)  # the first chunk is under way
    senders.stop()
    try:
        stopped = [future.result(timeout=10) for future in later]
        first.result(timeout=10)
    finally:
        senders.close()
    for results, trouble in stopped:
        assert trouble == ""
        assert all(r.code == "stopped" and not r.attempted for r in results)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the loop's bug report
def test_a_fault_in_the_loop_fails_its_chunks_instead_of_leaving_the_runner_waiting() -> None:
    senders = _loop(Waiting(connections=2, broken=True), count=2)
    futures = [senders.submit(_chunk(10 * n), None) for n in range(3)]
    for future in futures:
        with pytest.raises(AttributeError):
            future.result(timeout=10)
    with pytest.raises(AttributeError):  # and what comes after fails at once
        senders.submit(_chunk(100), None).result(timeout=10)
    senders.close()
