"""Sending processes as the runner drives them: real interpreters, a real SMTP server (aiosmtpd).

A sending process imports only the sending side; it sends chunks over several connections at once
and answers each chunk; "stop" comes back as ``stopped`` results; a process that dies fails its
chunks' futures (the runner then settles them from the journal); a chunk's messages are composed one
at a time, as the transport reaches for each.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from outreach.delivery.claims import Claimed
from outreach.delivery.outgoing import CampaignContent, CampaignMessages, no_signer
from outreach.delivery.processes import ProcessSenders, SendingProcessDied, SendingProcesses, spread
from outreach.delivery.senders import Composed
from outreach.models import Recipient
from outreach.transports.base import Outcome
from outreach.transports.smtp import SmtpSettings, SmtpTransport
from tests.conftest import TEST_SECRET
from tests.ports import free_port

HEAVY = (
    "pydantic",
    "sqlalchemy",
    "mjml",
    "premailer",
    "starlette",
    "typer",
    "outreach.audience",
    "outreach.config",
    "outreach.cli",
    "outreach.web",
    "outreach.admin",
    "outreach.scheduling",
    "outreach.delivery.ledger",
    "outreach.render.compiled",
)
CONTENT = CampaignContent(
    7,
    "2026-12-notes",
    "Notes for {{ subscriber.first_name }}",
    "<p>Dear {{ subscriber.first_name }}, <a href='{{ links.unsubscribe }}'>unsubscribe</a></p>",
    "Dear {{ subscriber.first_name }}. {{ links.unsubscribe }}",
    "VAIMH News",
    "news@vaimh.example",
    "",
    "VAIMH News <news.vaimh.example>",
)
BASE_URL = "https://news.vaimh.example"


def test_a_sending_process_imports_only_the_sending_side() -> None:
    code = (
        "import json, sys; import outreach.delivery.sending_process; print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stdout))
    assert "outreach.delivery.outgoing" in loaded and "outreach.transports.smtp" not in loaded
    assert [m for m in loaded if m.split(".")[0] in HEAVY or any(m.startswith(h) for h in HEAVY)] == []


def test_connections_are_spread_over_processes_as_evenly_as_they_go() -> None:
    assert spread(10, 2) == [5, 5]
    assert spread(3, 2) == [2, 1]
    assert spread(1, 1) == [1]
    processes = SendingProcesses(8, partial(SmtpTransport, "x", SmtpSettings("127.0.0.1")), no_signer)
    assert processes.processes_for(1) == 1  # one connection never needs a second process
    assert processes.processes_for(10) <= len(os.sched_getaffinity(0))


@dataclass
class Holding:
    """Accepts every message; while ``hold`` is set, holds each one until released."""

    hold: bool = False
    received: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    held: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        import asyncio

        if self.hold:
            with self.lock:
                self.held += 1
            while not self.release.is_set():
                await asyncio.sleep(0.01)
        with self.lock:
            self.received.extend(str(r) for r in envelope.rcpt_tos)
        return "250 2.0.0 Ok: queued as ABC123"


@pytest.fixture
def server() -> Iterator[tuple[Holding, int]]:
    handler = Holding()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        handler.release.set()
        controller.stop()


def rows(first: int, count: int) -> list[Claimed]:
    return [
        Claimed(n, n, f"<7.{n}.x@vaimh.example>", 1, Recipient(email=f"r{n}@example.org", first_name=f"P{n}"))
        for n in range(first, first + count)
    ]


def start(port: int, threads: int, processes: int = 2) -> ProcessSenders:
    settings = SmtpSettings("127.0.0.1", port, security="none", connections=threads, timeout=20)
    pool = SendingProcesses(processes, partial(SmtpTransport, "sink", settings), no_signer)
    return pool.start(CONTENT, BASE_URL, TEST_SECRET, "", None, threads)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: the runner sends with threads")
def test_chunks_sent_by_sending_processes_over_several_connections(server: tuple[Holding, int]) -> None:
    handler, port = server
    senders = start(port, threads=4)
    try:
        assert len(senders.children) == 2 and sorted(c.threads for c in senders.children) == [2, 2]
        futures = [senders.submit(rows(first, 5), None) for first in range(1, 41, 5)]
        wait(futures, timeout=60)
        results = [result for future in futures for result in future.result()[0]]
    finally:
        senders.close()
    assert [r.key for r in results] == [str(n) for n in range(1, 41)]
    assert {r.outcome for r in results} == {Outcome.SENT}
    assert sorted(handler.received) == sorted(f"r{n}@example.org" for n in range(1, 41))
    assert all(child.process.returncode == 0 for child in senders.children)  # said goodbye, exited


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: the runner sends with threads")
def test_stop_leaves_the_chunks_not_yet_sent_stopped(server: tuple[Holding, int]) -> None:
    handler, port = server
    handler.hold = True
    senders = start(port, threads=2)
    try:
        futures = [senders.submit(rows(first, 3), None) for first in range(1, 13, 3)]
        while handler.held < 2:  # one message in hand on each connection
            threading.Event().wait(0.01)
        senders.stop()
        handler.release.set()
        wait(futures, timeout=60)
        results = [result for future in futures for result in future.result()[0]]
    finally:
        senders.close()
    sent = [r for r in results if r.outcome is Outcome.SENT]
    assert len(sent) == 2 and len(handler.received) == 2  # only the two in hand
    assert all(r.code == "stopped" and not r.attempted for r in results if r.outcome is not Outcome.SENT)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: the runner sends with threads")
def test_a_sending_process_that_dies_fails_its_chunks(server: tuple[Holding, int]) -> None:
    handler, port = server
    handler.hold = True
    senders = start(port, threads=2)
    try:
        futures = [senders.submit(rows(first, 3), None) for first in range(1, 13, 3)]
        while handler.held < 2:
            threading.Event().wait(0.01)
        victim = senders.children[0]
        os.kill(victim.process.pid, signal.SIGKILL)
        victim.process.wait(10)
        handler.release.set()
        wait(futures, timeout=60)
        failed = [f for f in futures if f.exception() is not None]
    finally:
        senders.close()
    assert failed, "the killed process's chunks must fail"
    assert all(isinstance(f.exception(), SendingProcessDied) for f in failed)
    assert "SIGKILL" in str(failed[0].exception())


class Counting(CampaignMessages):
    """Real composing, counted."""

    made = 0

    def compose(self, claimed: Claimed, now: datetime) -> object:  # type: ignore[override]
        self.made += 1
        return super().compose(claimed, now)


def test_a_chunk_is_composed_one_message_at_a_time() -> None:
    messages = Counting(CONTENT, BASE_URL, TEST_SECRET)
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    chunk = rows(1, 4)
    composed = Composed(messages, chunk, now)
    assert len(composed) == 4 and messages.made == 0
    first = next(iter(composed))
    assert messages.made == 1  # the others wait until the transport reaches for them
    eager = [CampaignMessages(CONTENT, BASE_URL, TEST_SECRET).compose(c, now) for c in chunk]
    assert [m.key for m in composed] == [m.key for m in eager] and messages.made == 4
    assert composed[0] is first and composed[-1].recipient == "r4@example.org"
    assert [m.recipient for m in composed[1:3]] == ["r2@example.org", "r3@example.org"]
    assert (
        [m.subject for m in composed]
        == [m.subject for m in eager]
        == [f"Notes for P{n}" for n in range(1, 5)]
    )
    with pytest.raises(IndexError):
        composed[4]
