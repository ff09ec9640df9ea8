"""Who composes and sends the chunks a runner claims: one loop thread driving every connection of a
multiplexed transport (SMTP), threads of the runner's process (the other transports), or sending
processes (``processes.py``, each running one of the first two). All do the same thing per chunk
(``InHand``: compose each message as the transport reaches it, journal each hand-over and answer) and
all can be told to stop: the message each connection has in hand finishes, the rest of its chunk is
not handed over.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Protocol, overload

from outreach.delivery.claims import Claimed
from outreach.delivery.journal import ChunkReceipts
from outreach.delivery.outgoing import CampaignMessages
from outreach.errors import DeliveryError, OutreachError
from outreach.transports.base import Outcome, OutgoingMessage, SendResult, Transport, stopped
from outreach.transports.conversation import Multiplexer

# What a chunk comes back as: one result per claimed row, in order, and what went wrong if sending
# could not go on (the results then say what had happened up to that point).
Sent = tuple[list[SendResult], str]


class Senders(Protocol):
    """A pool that sends claimed chunks (journaling into ``segment`` when there is a journal)."""

    count: int

    def submit(self, chunk: list[Claimed], segment: Path | None) -> Future[Sent]: ...

    def wait(self, futures: Collection[Future[Sent]], timeout: float | None) -> set[Future[Sent]]:
        """The chunks among ``futures`` that are done, waiting up to ``timeout`` seconds for one."""

    def stop(self) -> None:
        """Hand nothing more over (safe to call from a signal handler)."""

    def close(self) -> None: ...


def compose_and_deliver(
    messages: CampaignMessages,
    transport: Transport,
    chunk: Sequence[Claimed],
    segment: Path | None,
    stopping: Callable[[], bool],
    now: datetime,
) -> Sent:
    """Compose ``chunk`` and hand it to ``transport``; every answer is journaled as it comes."""
    if stopping():
        return all_stopped(chunk), ""
    hand = InHand(messages, chunk, segment, stopping, now)
    try:
        transport.deliver(hand.outgoing, hand.receipts)
    except Exception as err:  # reported with what had happened; the runner stops and says it
        return hand.ended(err)
    return hand.ended(None)


def first_done(futures: Collection[Future[Sent]], timeout: float | None) -> set[Future[Sent]]:
    """The chunks among ``futures`` that are done, waiting up to ``timeout`` seconds for one (the
    ``wait`` of the senders whose chunks finish on other threads)."""
    return wait(futures, timeout, FIRST_COMPLETED).done


def all_stopped(chunk: Sequence[Claimed]) -> list[SendResult]:
    return [stopped(str(claimed.delivery_id)) for claimed in chunk]


class InHand:
    """A chunk being sent: its messages (composed as the transport reaches them) and its receipts."""

    def __init__(
        self,
        messages: CampaignMessages,
        chunk: Sequence[Claimed],
        segment: Path | None,
        stopping: Callable[[], bool],
        now: datetime,
    ) -> None:
        self.chunk = chunk
        attempts = {str(claimed.delivery_id): claimed.attempts for claimed in chunk}
        self.receipts = ChunkReceipts(segment, attempts, stopping)
        self.outgoing = Composed(messages, chunk, now)

    def ended(self, error: BaseException | None) -> Sent:
        """What the chunk comes back as once the transport is done with it (or failed: then the
        results say what had happened up to that point, and the error what went wrong)."""
        receipts = self.receipts
        receipts.flush()
        keys = [str(claimed.delivery_id) for claimed in self.chunk]
        if error is None:
            return receipts.results(keys), ""
        return [receipts.answers.get(key) or _left(receipts, key) for key in keys], problem(error)


class Composed(Sequence[OutgoingMessage]):
    """A chunk's messages, each composed when a transport first reaches for it.

    Composing holds the GIL; sending does not. Composed one at a time, just before its bytes leave,
    a message costs the other connections' threads at most one message's composing (~100 µs) before
    they get the GIL back; a whole chunk composed up front would hold it for milliseconds, and every
    SMTP reply that arrived meanwhile would wait for it (a convoy). A transport that needs the whole
    batch (one HTTP request) simply iterates it first."""

    def __init__(self, messages: CampaignMessages, chunk: Sequence[Claimed], now: datetime) -> None:
        self._messages = messages
        self._chunk = chunk
        self._now = now
        self._made: list[OutgoingMessage] = []

    def __len__(self) -> int:
        return len(self._chunk)

    @overload
    def __getitem__(self, index: int) -> OutgoingMessage: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[OutgoingMessage]: ...
    def __getitem__(self, index: int | slice) -> OutgoingMessage | Sequence[OutgoingMessage]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self._chunk)))]
        if index < 0:
            index += len(self._chunk)
        if not 0 <= index < len(self._chunk):
            raise IndexError(index)
        while len(self._made) <= index:
            self._made.append(self._messages.compose(self._chunk[len(self._made)], self._now))
        return self._made[index]

    def __iter__(self) -> Iterator[OutgoingMessage]:
        for index in range(len(self._chunk)):
            yield self[index]


def problem(err: BaseException) -> str:
    """An error as the line a user reads."""
    return str(err) if isinstance(err, OutreachError) else f"{type(err).__name__}: {err}"


def _left(receipts: ChunkReceipts, key: str) -> SendResult:
    """An unanswered message of a chunk whose sending failed: uncertain if it was handed over."""
    if key in receipts.handed:
        detail = "sending failed after it was handed over; it may have been delivered"
        return SendResult(key, Outcome.RETRY, "error", detail, uncertain=True)
    return stopped(key)


class SendingThreads:
    """``count`` threads of this process, one connection (or request) each: for the transports that
    cannot be multiplexed (the HTTP APIs, maildir, the memory transport, which only this allows)."""

    def __init__(
        self, messages: CampaignMessages, transport: Transport, count: int, clock: Callable[[], datetime]
    ) -> None:
        self.count = count
        self.messages = messages
        self.transport = transport
        self.clock = clock
        self.stopping = False
        self.executor = ThreadPoolExecutor(max_workers=count)

    def submit(self, chunk: list[Claimed], segment: Path | None) -> Future[Sent]:
        return self.executor.submit(self._send, chunk, segment)

    def wait(self, futures: Collection[Future[Sent]], timeout: float | None) -> set[Future[Sent]]:
        return first_done(futures, timeout)

    def _send(self, chunk: list[Claimed], segment: Path | None) -> Sent:
        return compose_and_deliver(
            self.messages, self.transport, chunk, segment, lambda: self.stopping, self.clock()
        )

    def stop(self) -> None:
        self.stopping = True

    def close(self) -> None:
        self.executor.shutdown(wait=True)


class SendingLoop:
    """Up to ``count`` connections of a multiplexed transport (SMTP), all driven by one thread
    (``conversation.Multiplexer``): composing and every connection's reads and writes take turns in
    that thread, with no GIL hand-offs between connection threads (see docs/performance.md). Each
    chunk is one connection's batch, as with threads; at most ``count`` chunks (and never more than
    the transport's ``connections``) are under way at once, the others wait their turn.

    ``threaded``: the loop runs in a thread of its own (a sending process, whose main thread reads
    the runner's pipe). Not threaded (the runner's own process), the loop runs in the caller's thread
    whenever it ``wait``s for chunks: the ledger's work and the sending then take turns in one thread
    instead of trading the GIL hundreds of times a second (each trade costs both threads time)."""

    def __init__(
        self,
        messages: CampaignMessages,
        transport: Transport,
        count: int,
        clock: Callable[[], datetime],
        initializer: Callable[[], None] | None = None,
        stopping: Callable[[], bool] | None = None,
        threaded: bool = True,
    ) -> None:
        self.count = count
        self.messages = messages
        self.transport = transport
        self.clock = clock
        self.stopping = False
        self._most = min(count, transport.connections or count)
        self._stopping = stopping or (lambda: self.stopping)
        self._initializer = initializer
        self._loop = Multiplexer(offload_initializer=initializer)
        self._waiting: deque[tuple[list[Claimed], Path | None, Future[Sent]]] = deque()
        self._unanswered: set[Future[Sent]] = set()  # submitted, not yet answered
        self._lock = threading.Lock()
        self._sending = 0
        self._finished: list[Future[Sent]] = []  # answered, not yet returned by ``wait`` (not threaded)
        self._broken: BaseException | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._serve, name="sending-loop", daemon=True)
            self._thread.start()

    def submit(self, chunk: list[Claimed], segment: Path | None) -> Future[Sent]:
        future: Future[Sent] = Future()
        with self._lock:
            if self._broken is not None:
                future.set_exception(self._broken)
                return future
            self._unanswered.add(future)
        if self._thread is None:
            self._guarded(lambda: self._queue(chunk, segment, future))
        else:
            self._loop.call_soon(lambda: self._queue(chunk, segment, future))
        return future

    def wait(self, futures: Collection[Future[Sent]], timeout: float | None) -> set[Future[Sent]]:
        """The chunks among ``futures`` that are done, waiting at most ``timeout`` seconds for one
        (and, when not threaded, sending meanwhile)."""
        if self._thread is not None or self._broken is not None:
            return first_done(futures, timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._finished:  # answered since the last look (asking every future costs a lock each)
                done = {future for future in self._finished if future in futures}
                if done:
                    self._finished = [future for future in self._finished if future not in done]
                    return done
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return set()
            if not self._guarded(partial(self._loop.turn, left)):
                return {future for future in futures if future.done()}

    def stop(self) -> None:
        self.stopping = True

    def close(self) -> None:
        """Finish every chunk submitted, then release the loop."""
        if self._thread is not None:
            self._loop.shut()
            self._thread.join()
            return
        if self._broken is None:
            self._loop.shut()
            self._guarded(self._loop.serve)
        self._loop.release()

    def _serve(self) -> None:
        if self._initializer is not None:
            self._initializer()
        try:
            self._loop.serve()
        except BaseException as err:
            self._fail(err)
            raise

    def _guarded(self, step: Callable[[], None]) -> bool:
        """Run ``step`` of the loop in this thread; False when it failed (a bug: see ``_fail``)."""
        try:
            step()
        except Exception as err:
            self._fail(err)
            return False
        return True

    def _fail(self, err: BaseException) -> None:
        """A fault in the loop itself (a bug): every chunk in hand, and any submitted later, fails with
        it, and the runner settles them from the journal instead of waiting for ever."""
        with self._lock:
            self._broken = err
            unanswered = list(self._unanswered)
        for future in unanswered:
            if not future.done():
                future.set_exception(err)

    # -- in the loop's thread -------------------------------------------------------------------------

    def _queue(self, chunk: list[Claimed], segment: Path | None, future: Future[Sent]) -> None:
        self._waiting.append((chunk, segment, future))
        self._start_next()

    def _start_next(self) -> None:
        while self._sending < self._most and self._waiting:
            chunk, segment, future = self._waiting.popleft()
            if self._stopping():
                self._answer(future, (all_stopped(chunk), ""))
                continue
            hand = InHand(self.messages, chunk, segment, self._stopping, self.clock())
            self._sending += 1
            conversation = self.transport.conversation(hand.outgoing, hand.receipts)
            self._loop.start(conversation, partial(self._ended, hand, future))

    def _ended(self, hand: InHand, future: Future[Sent], _: object, error: BaseException | None) -> None:
        self._sending -= 1
        self._answer(future, hand.ended(error))
        self._start_next()

    def _answer(self, future: Future[Sent], sent: Sent) -> None:
        with self._lock:
            self._unanswered.discard(future)
        future.set_result(sent)
        if self._thread is None:
            self._finished.append(future)


def failure(text: str, campaign_id: int) -> DeliveryError:
    return DeliveryError(
        f"sending stopped: {text}; what had been sent is recorded. Fix it, then "
        f"`outreach campaigns resume {campaign_id}`"
    )
