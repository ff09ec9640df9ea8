"""Sending processes: composing holds the GIL, so one process stops at one core; these use them all.

Each process gets the campaign's content once (at start), builds its own transport (its own SMTP
connection or HTTP client) and signer, and then only receives claimed rows and returns results. The
ledger stays in the parent: claims and results are still one process's short transactions, so the
exactly-once contract of the ledger does not change. Processes start from a clean server process
(``forkserver``), never by forking a parent that holds database connections.

The server process imports the program and the sending code once (``set_forkserver_preload``), and
each sending process is forked from it with all of that in memory: without it, every sending process
imports the program again (~1 s each, competing for the cores the campaign should be sending with).
"""

from __future__ import annotations

import atexit
import multiprocessing
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from outreach.delivery.ledger import Claimed
from outreach.delivery.outgoing import CampaignContent, CampaignMessages, Signer
from outreach.transports import backend_modules
from outreach.transports.base import SendResult, Transport

# What the server process imports before forking sending processes: the program (so a child does not
# import it again as ``__mp_main__``), the transports, and the wiring the transport factory lives in.
PRELOAD = ["__main__", "outreach.delivery.wiring", *backend_modules()]

_messages: CampaignMessages | None = None
_transport: Transport | None = None


@dataclass(frozen=True)
class SendingProcesses:
    """How many sending processes, and how each builds its transport and signer (picklable callables,
    e.g. ``functools.partial`` of a module-level function)."""

    count: int
    transport_factory: Callable[[], Transport]
    signer_factory: Callable[[], Signer | None]

    def start(self, content: CampaignContent, base_url: str, secret: str, mailto: str) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)  # no effect once this program's server has started
        return ProcessPoolExecutor(
            max_workers=self.count,
            mp_context=context,
            initializer=_start,
            initargs=(content, base_url, secret, mailto, self.transport_factory, self.signer_factory),
        )


def _start(
    content: CampaignContent,
    base_url: str,
    secret: str,
    mailto: str,
    transport_factory: Callable[[], Transport],
    signer_factory: Callable[[], Signer | None],
) -> None:
    global _messages, _transport
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle
    _transport = transport_factory()
    _messages = CampaignMessages(content, base_url, secret, signer_factory(), unsubscribe_mailto=mailto)
    atexit.register(_transport.close)


def compose_and_send_in_child(chunk: list[Claimed]) -> tuple[list[Claimed], list[SendResult]]:
    """Compose and send one chunk in a sending process (the Date header is this moment)."""
    if _messages is None or _transport is None:
        raise RuntimeError("the sending process was not started")
    now = datetime.now(UTC)
    return chunk, _transport.send([_messages.compose(claimed, now) for claimed in chunk])
