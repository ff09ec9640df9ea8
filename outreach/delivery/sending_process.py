"""Inside a sending process: compose and send the chunks the runner hands over, several at once.

A sending process is a fresh interpreter started by ``processes.py`` that imports this module and only
what sending needs (the frame, the transports, the journal): never the database, the audience layer,
the web or admin apps, the scheduler or the CLI (an import-linter contract in pyproject.toml keeps it
so). That keeps each one at ~30 MB instead of the ~90 MB of the whole program.

Connections are not processes: each sending process drives its share of an SMTP relay's connections
from one loop thread (``senders.SendingLoop``), composing each message there just before it leaves;
the other transports get one sender thread per connection. The runner starts at most one sending
process per core.

The conversation is framed pickles over two pipes (``wire``): the runner writes a start message and
then chunks on this process's stdin; the results go back on stdout as each chunk ends, in any order.
stdin is also the lifeline: its only writer is the runner, so the kernel closes it however the runner
dies; this process then stops handing messages over, lets the messages in hand finish (``GRACE``
seconds at most) and exits. SIGTERM does the same. SIGUSR1 is the runner's "stop": nothing more is
handed over and the chunks not yet sent come back ``stopped``. Ctrl+C is the runner's to handle, so
SIGINT is ignored here.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from outreach.delivery import journal, wire
from outreach.delivery.claims import Claimed
from outreach.delivery.outgoing import CampaignContent, CampaignMessages, Signer
from outreach.delivery.senders import SendingLoop, Sent, compose_and_deliver, problem
from outreach.transports.base import Transport, TransportFactory

# Seconds a sending process whose runner is gone waits for the answers to the messages in hand.
GRACE = 2.0
# As the runner's (runner.SWITCH_INTERVAL): seconds a thread may hold the GIL while another waits.
SWITCH_INTERVAL = 0.0005
# Signals the sender threads leave to the main thread (Python runs handlers there only).
_SIGNALS = {signal.SIGTERM, signal.SIGUSR1, signal.SIGINT}


@dataclass(frozen=True)
class Start:
    """The first message to a sending process: what every chunk of this campaign is composed from."""

    content: CampaignContent
    base_url: str
    secret: str
    mailto: str
    transport_factory: TransportFactory
    signer_factory: Any  # Callable[[], Signer | None], picklable
    lock_file: Path | None
    threads: int


@dataclass(frozen=True)
class Chunk:
    number: int
    rows: list[Claimed]
    segment: Path | None


_leaving = False  # the runner is gone, or SIGTERM: leave once the messages in hand are answered
_stopped = False  # the runner said stop (SIGUSR1)
_busy = 0
_busy_lock = threading.Lock()


def _stopping() -> bool:
    return _leaving or _stopped


def _on_stop(signum: int, frame: object) -> None:
    global _stopped
    _stopped = True


def _on_term(signum: int, frame: object) -> None:
    _leave()


def _leave() -> None:
    """Hand nothing more over, give the messages in hand ``GRACE`` seconds, then exit at once."""
    global _leaving
    _leaving = True
    deadline = time.monotonic() + GRACE
    while _busy and time.monotonic() < deadline:
        time.sleep(0.02)
    os._exit(0)


def _quiet_thread() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)


class _Sender:
    """This process's transport, composer, and sending loop (SMTP) or sender threads."""

    def __init__(self, start: Start, out: IO[bytes]) -> None:
        self.transport: Transport = start.transport_factory()
        signer: Signer | None = start.signer_factory()
        self.messages = CampaignMessages(
            start.content, start.base_url, start.secret, signer, unsubscribe_mailto=start.mailto
        )
        self.out = out
        self.write_lock = threading.Lock()
        self.loop: SendingLoop | None = None
        self.pool: ThreadPoolExecutor | None = None
        if self.transport.multiplexed:
            self.loop = SendingLoop(
                self.messages, self.transport, start.threads, _now, _quiet_thread, stopping=_stopping
            )
        else:
            self.pool = ThreadPoolExecutor(start.threads, "sender", initializer=_quiet_thread)
        self.segments: dict[Path, int] = {}  # chunks in hand per journal segment
        self.newest: Path | None = None

    def submit(self, chunk: Chunk) -> None:
        global _busy
        with _busy_lock:
            _busy += 1
            if chunk.segment is not None:
                self.segments[chunk.segment] = self.segments.get(chunk.segment, 0) + 1
                self.newest = max(self.newest or chunk.segment, chunk.segment)
        if self.loop is not None:
            future = self.loop.submit(chunk.rows, chunk.segment)
            future.add_done_callback(lambda done: self._answered(chunk, done))
        else:
            assert self.pool is not None
            self.pool.submit(self._send, chunk)

    def _finished(self, segment: Path | None) -> None:
        """Close the descriptors of older segments nothing here writes to any more: chunks arrive
        in segment order, but several are sent at once, so an older one may still be in hand."""
        if segment is None:
            return
        with _busy_lock:
            self.segments[segment] -= 1
            done = [
                path for path, n in self.segments.items() if n == 0 and self.newest and path < self.newest
            ]
            for path in done:
                del self.segments[path]
        for path in done:
            journal.forget(path)

    def _send(self, chunk: Chunk) -> None:
        try:
            sent = compose_and_deliver(
                self.messages, self.transport, chunk.rows, chunk.segment, _stopping, _now()
            )
        except Exception as err:  # never expected: the runner settles the chunk from the journal
            self._answer(chunk, None, problem(err))
            return
        self._answer(chunk, sent, "")

    def _answered(self, chunk: Chunk, done: Future[Sent]) -> None:
        error = done.exception()
        self._answer(chunk, None if error else done.result(), problem(error) if error else "")

    def _answer(self, chunk: Chunk, sent: Sent | None, trouble: str) -> None:
        global _busy
        with _busy_lock:
            _busy -= 1
        self._finished(chunk.segment)
        with self.write_lock:
            wire.write(self.out, (chunk.number, sent, trouble))

    def close(self) -> None:
        if self.loop is not None:
            self.loop.close()
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        self.transport.close()


def _now() -> datetime:
    return datetime.now(UTC)


def main() -> int:
    """Serve one runner until it closes stdin (the end of its run) or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.setswitchinterval(SWITCH_INTERVAL)  # a reply never waits long for another thread's composing
    signal.signal(signal.SIGUSR1, _on_stop)
    signal.signal(signal.SIGTERM, _on_term)
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # stdout carries results only
    start = wire.read(inp)
    if not isinstance(start, Start):
        return 2
    if start.lock_file is not None:
        journal.hold(start.lock_file)  # held until this process ends: recovery waits for it
    sender = _Sender(start, out)
    atexit.register(sender.transport.close)
    while True:
        try:
            item = wire.read(inp)
        except EOFError:  # the runner is gone (it always says goodbye first)
            _leave()
        if item is None:  # goodbye: every chunk was answered; close the connections politely
            sender.close()
            return 0
        sender.submit(item)


if __name__ == "__main__":
    sys.exit(main())
