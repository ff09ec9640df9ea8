"""Sending processes: composing holds the GIL, so one process stops at one core; these use them all.

Each process gets the campaign's content once (at start), builds its own transport (its own SMTP
connection or HTTP client) and signer, and then only receives claimed rows and returns results. The
ledger stays in the parent: claims and results are still one process's short transactions, so the
exactly-once contract of the ledger does not change. Every hand-over and answer also goes to the
parent's journal as it happens, so whatever becomes of a sending process, the parent (or recovery)
knows what it had sent.

Processes start from a clean server process (``forkserver``), never by forking a parent that holds
database connections. The server process imports the program and the sending code once
(``set_forkserver_preload``), and each sending process is forked from it with all of that in memory:
without it, every sending process imports the program again (~1 s each).

A sending process never outlives the process that started it. Its parent is the fork server, which
every sending process keeps alive (each holds the server's "alive" pipe), so "exit when the parent
dies" (``PR_SET_PDEATHSIG``, Linux) covers the server only. The runner's own death is seen through a
lifeline: a pipe whose only writer is the runner, read by a watchdog thread in each sending process;
the kernel closes it however the runner dies, and the watchdog then lets the message in hand finish
(``GRACE`` seconds at most) and exits. SIGTERM (the pool shutting down, or a whole process group
being stopped) does the same. Ctrl+C is the runner's to handle: it tells every process to stop
handing messages over through a shared flag.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from outreach.delivery import journal
from outreach.delivery.ledger import Claimed
from outreach.delivery.outgoing import CampaignContent, CampaignMessages, Signer
from outreach.delivery.senders import Sent, compose_and_deliver
from outreach.transports import backend_modules
from outreach.transports.base import Transport

# What the server process imports before forking sending processes: the program (so a child does not
# import it again as ``__mp_main__``), the transports, and the wiring the transport factory lives in.
PRELOAD = ["__main__", "outreach.delivery.wiring", *backend_modules()]
# Seconds a sending process whose runner is gone waits for the answer to the message in hand.
GRACE = 2.0
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class SendingProcesses:
    """How many sending processes, and how each builds its transport and signer (picklable callables,
    e.g. ``functools.partial`` of a module-level function)."""

    count: int
    transport_factory: Callable[[], Transport]
    signer_factory: Callable[[], Signer | None]

    def start(
        self, content: CampaignContent, base_url: str, secret: str, mailto: str, lock_file: Path | None
    ) -> ProcessSenders:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)  # no effect once this program's server has started
        lifeline, keep = context.Pipe(duplex=False)
        stop = context.RawValue("b", 0)
        executor = ProcessPoolExecutor(
            max_workers=self.count,
            mp_context=context,
            initializer=_start,
            initargs=(
                content,
                base_url,
                secret,
                mailto,
                self.transport_factory,
                self.signer_factory,
                lifeline,
                stop,
                lock_file,
            ),
        )
        return ProcessSenders(self.count, executor, stop, (lifeline, keep))


class ProcessSenders:
    """The running pool, as the runner uses it."""

    def __init__(
        self, count: int, executor: ProcessPoolExecutor, stop: Any, lifeline: tuple[Connection, Connection]
    ) -> None:
        self.count = count
        self.executor = executor
        self._stop = stop
        self._lifeline = lifeline

    def submit(self, chunk: list[Claimed], segment: Path | None) -> Future[Sent]:
        return self.executor.submit(compose_and_send_in_child, chunk, segment)

    def stop(self) -> None:
        self._stop.value = 1

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        for end in self._lifeline:
            end.close()


# -- inside a sending process -----------------------------------------------------------------------------

_messages: CampaignMessages | None = None
_transport: Transport | None = None
_stop: Any = None
_leaving = False
_busy = False


def _start(
    content: CampaignContent,
    base_url: str,
    secret: str,
    mailto: str,
    transport_factory: Callable[[], Transport],
    signer_factory: Callable[[], Signer | None],
    lifeline: Connection,
    stop: Any,
    lock_file: Path | None,
) -> None:
    global _messages, _transport, _stop
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the runner's to handle
    signal.signal(signal.SIGTERM, _on_term)
    _stop = stop
    if lock_file is not None:
        journal.hold(lock_file)  # held until this process ends: recovery waits for it
    threading.Thread(target=_watch, args=(lifeline,), name="lifeline", daemon=True).start()
    _transport = transport_factory()
    _messages = CampaignMessages(content, base_url, secret, signer_factory(), unsubscribe_mailto=mailto)
    atexit.register(_transport.close)


def _die_with_parent() -> None:
    """Ask Linux for SIGTERM when the parent (the fork server) dies."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # the lifeline still works
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _on_term(signum: int, frame: object) -> None:
    global _leaving
    _leaving = True


def _watch(lifeline: Connection) -> None:
    """Wait for the runner to go (its end of the lifeline closes) or for SIGTERM, then leave."""
    while not _leaving:
        try:
            if lifeline.poll(0.2):
                break  # nothing is ever written: readable means the writer is gone
        except (OSError, EOFError):
            break
    _leave()


def _leave() -> None:
    """Stop handing messages over, give the one in hand ``GRACE`` seconds, then exit."""
    global _leaving
    _leaving = True
    deadline = time.monotonic() + GRACE
    while _busy and time.monotonic() < deadline:
        time.sleep(0.02)
    os._exit(0)


def _stopping() -> bool:
    return _leaving or bool(_stop is not None and _stop.value)


def compose_and_send_in_child(chunk: list[Claimed], segment: Path | None) -> Sent:
    """Compose and send one chunk in a sending process (the Date header is this moment)."""
    global _busy
    if _messages is None or _transport is None:
        raise RuntimeError("the sending process was not started")
    if segment is not None:
        journal.forget_older(segment)
    _busy = True
    try:
        return compose_and_deliver(_messages, _transport, chunk, segment, _stopping, datetime.now(UTC))
    finally:
        _busy = False
