"""A real ``outreach send`` stopped by SIGKILL, SIGTERM or Ctrl+C while an SMTP server holds messages.

The sink accepts the first ``accept`` messages and then holds every later one (the DATA answer never
comes), so at the moment of the signal the state of the world is known exactly: ``accept`` messages
delivered and answered, one message held on every connection in use, every other claimed row never
handed over. The ledger must say exactly that:

- SIGKILL (nothing runs after it): once recovered, the rows the server accepted are ``sent``, the held
  ones ``unknown`` (at most one per connection in use: the stated bound), every other row ``pending``;
  the sending processes of a killed ``outreach send`` exit by themselves.
- SIGTERM / Ctrl+C: the held messages are answered (accepted) a moment later and recorded; nothing is
  ``unknown``, nothing stays ``sending``, every other row is ``pending`` at once.

Then the server works normally, ``outreach campaigns resume`` and ``resend-unknown`` run, and every
recipient has received exactly one copy: nobody twice, nobody skipped.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from outreach.audience import make_engine, transaction
from outreach.clock import SystemClock
from outreach.delivery.journal import Journals
from outreach.delivery.recovery import recover
from tests.conftest import REPO
from tests.delivery.subprocess_project import CLI, ISSUE, environment, outreach, sink_settings
from tests.ports import free_port

SUBSCRIBERS = 120
BATCH_SIZE = 40
MAX_BATCH = 10
CLIENT_TIMEOUT = 20.0  # longer than any test waits: a held message is answered only when released
LEASE = timedelta(minutes=10)


@dataclass
class HoldingSink:
    """Accepts ``accept`` messages, then holds each later one until ``release``; records (Message-ID,
    recipient) of what it accepted and of what it holds."""

    accept: float = 0
    accepted: list[tuple[str, str]] = field(default_factory=list)
    held: list[tuple[str, str]] = field(default_factory=list)
    reply: str = ""
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        headers = BytesHeaderParser().parsebytes(envelope.original_content or b"")
        seen = (str(headers.get("Message-ID", "")).strip(), envelope.rcpt_tos[0])
        with self.lock:
            if len(self.accepted) < self.accept:
                self.accepted.append(seen)
                return "250 2.0.0 Ok: queued"
            self.held.append(seen)
        while not self.released.is_set():
            await asyncio.sleep(0.01)
        with self.lock:
            if self.reply.startswith("250"):
                self.accepted.append(seen)
        return self.reply

    def release(self, reply: str) -> None:
        """Answer every held message (and any later one) with ``reply``; then work normally."""
        with self.lock:
            self.reply = reply
            self.accept = float("inf")
        self.released.set()

    def wait_for_held(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.held) < count:
            assert time.monotonic() < deadline, f"the sink holds {len(self.held)} messages, not {count}"
            time.sleep(0.01)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated project with the subscribers imported, copied for each case (importing once)."""
    root = tmp_path_factory.mktemp("crash-template")
    shutil.copytree(REPO / "templates", root / "templates")
    shutil.copytree(REPO / "lists", root / "lists")
    (root / "newsletters").mkdir()
    (root / "newsletters" / "2026-12-test.md").write_text(ISSUE, encoding="utf-8")
    configure(root, free_port(), connections=1, processes=1)
    with (root / "subscribers.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["Email", "First Name", "Topics"])
        for number in range(SUBSCRIBERS):
            writer.writerow([f"reader{number:04d}@example.org", f"Reader{number}", "monthly-newsletter"])
    outreach(root, "db", "upgrade")
    outreach(root, "lists", "import", "subscribers.csv", "--consent", "test")
    return root


def configure(root: Path, port: int, *, connections: int, processes: int, extra: str = "") -> None:
    toml = (REPO / "outreach.toml").read_text(encoding="utf-8")
    original = '[delivery]\ntransport = "outbox"\n'
    assert original in toml, "outreach.toml's [delivery] table changed; update this test"
    settings = sink_settings(
        port,
        BATCH_SIZE,
        MAX_BATCH,
        CLIENT_TIMEOUT,
        connections=connections,
        processes=processes,
        extra=f"concurrency = {connections}\n{extra}",
    )
    (root / "outreach.toml").write_text(toml.replace(original, settings), encoding="utf-8")


@pytest.fixture
def sink() -> Iterator[tuple[HoldingSink, int]]:
    handler = HoldingSink()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        handler.release("451 4.3.0 closing down")
        controller.stop()


def start_send(root: Path) -> subprocess.Popen[bytes]:
    """``outreach send --yes`` with its output in files (a process that lingers after a kill would
    hold a pipe open, and the test would hang on it instead of failing on the lingering)."""
    with (root / "send.out").open("wb") as out:
        return subprocess.Popen(
            [*CLI, "send", "newsletters/2026-12-test.md", "--yes"],
            cwd=root,
            env=environment(root),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def finish(send: subprocess.Popen[bytes], root: Path) -> str:
    """Wait for the process to end; its output."""
    try:
        send.wait(timeout=60)
    finally:
        if send.poll() is None:
            send.kill()
            send.wait()
    return (root / "send.out").read_text(encoding="utf-8", errors="replace")


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, grandchildren...), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def running(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def counts(root: Path) -> dict[str, int]:
    with sqlite3.connect(root / "outreach.db") as db:
        found = dict(
            db.execute("SELECT state, count(*) FROM deliveries WHERE campaign_id = 1 GROUP BY state")
        )
    return {state: int(found.get(state, 0)) for state in ("pending", "sending", "sent", "unknown", "failed")}


def sent_rows(root: Path) -> dict[str, str]:
    """recipient -> Message-ID of every row the ledger says was sent."""
    with sqlite3.connect(root / "outreach.db") as db:
        return dict(
            db.execute(
                "SELECT s.email, d.message_id FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id "
                "WHERE d.campaign_id = 1 AND d.state = 'sent'"
            )
        )


def recover_now(root: Path) -> None:
    """What `campaigns resume` does first: settle the dead run's rows from its journal."""
    engine = make_engine(f"sqlite:///{root / 'outreach.db'}")
    try:
        with transaction(engine) as session:
            done = recover(session, 1, SystemClock(), LEASE, Journals(root / ".outreach" / "journal"))
        done.finish(committed=True)
    finally:
        engine.dispose()


CASES = [
    # (signal, [delivery] processes, connections in all, messages accepted before the server holds).
    # Connections are not processes: the run's connections are threads, spread over at most one
    # sending process per core, so "3 processes" on two cores is two processes of 2 and 1 connections.
    pytest.param(signal.SIGKILL, 1, 1, 0, id="kill-1-connection-before-any"),
    pytest.param(signal.SIGKILL, 1, 1, 13, id="kill-1-connection"),
    pytest.param(signal.SIGKILL, 1, 3, 29, id="kill-3-connections"),
    pytest.param(signal.SIGKILL, 3, 3, 17, id="kill-3-connections-in-sending-processes"),
    pytest.param(signal.SIGKILL, 2, 10, 19, id="kill-10-connections-in-sending-processes"),
    pytest.param(signal.SIGTERM, 1, 1, 11, id="term-1-connection"),
    pytest.param(signal.SIGTERM, 1, 3, 23, id="term-3-connections"),
    pytest.param(signal.SIGTERM, 3, 3, 31, id="term-3-connections-in-sending-processes"),
    pytest.param(signal.SIGTERM, 2, 10, 5, id="term-10-connections-in-sending-processes"),
    pytest.param(signal.SIGINT, 1, 3, 7, id="ctrl-c-3-connections"),
    pytest.param(signal.SIGINT, 2, 10, 3, id="ctrl-c-10-connections-in-sending-processes"),
]


@pytest.mark.parametrize(("signum", "processes", "connections", "accept"), CASES)
def test_a_stopped_send_leaves_unknown_only_what_the_server_holds(
    signum: int,
    processes: int,
    connections: int,
    accept: int,
    template: Path,
    tmp_path: Path,
    sink: tuple[HoldingSink, int],
) -> None:
    handler, port = sink
    handler.accept = accept
    root = tmp_path / "project"
    shutil.copytree(template, root)
    configure(root, port, connections=connections, processes=processes)
    in_use = in_hand = connections  # one message per connection in use, however many processes

    send = start_send(root)
    try:
        handler.wait_for_held(in_hand)
        below = descendants(send.pid)
        send.send_signal(signum)
        if signum != signal.SIGKILL:
            time.sleep(0.5)  # the runner has stopped handing over; now the held messages are answered
            handler.release("250 2.0.0 Ok: queued after a pause")
    finally:
        output = finish(send, root)
    assert len(handler.held) == in_hand, "the server saw more messages than connections in use"

    if signum == signal.SIGKILL:
        # The sending processes notice their runner is gone and leave by themselves.
        deadline = time.monotonic() + 15
        while running(below) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert running(below) == set(), f"processes of the killed send linger: {running(below)}"
        handler.release("451 4.3.0 the client went away")
        recover_now(root)
        after = counts(root)
        assert after["sent"] == len(handler.accepted) == accept
        assert after["unknown"] == in_hand <= in_use  # the bound: one per connection in use
        assert after["sending"] == 0
        assert after["pending"] == SUBSCRIBERS - accept - in_hand
    else:
        assert send.returncode == 2, output
        assert f"stopped by {signal.Signals(signum).name}" in output
        after = counts(root)
        assert after["sent"] == len(handler.accepted) == accept + in_hand
        assert after["unknown"] == after["sending"] == 0
        assert after["pending"] == SUBSCRIBERS - accept - in_hand
        assert not list((root / ".outreach" / "journal").iterdir()), "a cleanly stopped run keeps no journal"
    # Sent means: the server accepted exactly this row's message.
    assert sent_rows(root) == {rcpt: message_id for message_id, rcpt in handler.accepted}

    outreach(root, "campaigns", "resume", "1")
    if after["unknown"]:
        outreach(root, "campaigns", "resend-unknown", "1")
    status = json.loads(outreach(root, "campaigns", "status", "1", "--json").stdout)
    assert status["status"] == "done"
    assert status["counts"]["sent"] == SUBSCRIBERS
    per_recipient = Counter(rcpt for _, rcpt in handler.accepted)
    assert [r for r, n in per_recipient.items() if n > 1] == []  # nobody twice
    assert len(per_recipient) == SUBSCRIBERS  # nobody skipped


def test_sigterm_of_a_paced_send_returns_every_unsent_claim_to_pending(
    template: Path, tmp_path: Path, sink: tuple[HoldingSink, int]
) -> None:
    handler, port = sink
    handler.accept = float("inf")
    root = tmp_path / "project"
    shutil.copytree(template, root)
    configure(root, port, connections=2, processes=1, extra="rate_per_second = 10\n")
    send = start_send(root)
    try:
        deadline = time.monotonic() + 60
        while len(handler.accepted) < 25:
            assert time.monotonic() < deadline and send.poll() is None
            time.sleep(0.01)
        send.send_signal(signal.SIGTERM)
    finally:
        output = finish(send, root)
    assert send.returncode == 2 and "stopped by SIGTERM" in output, output
    after = counts(root)
    assert after["unknown"] == after["sending"] == 0
    assert after["sent"] == len(handler.accepted)
    assert after["pending"] == SUBSCRIBERS - after["sent"]
    assert sent_rows(root) == {rcpt: message_id for message_id, rcpt in handler.accepted}


def test_the_sending_processes_of_a_killed_send_exit_by_themselves(
    template: Path, tmp_path: Path, sink: tuple[HoldingSink, int]
) -> None:
    """Sending processes, mostly idle (the send is paced), and the send is killed: every sending
    process (each waiting for its next chunk on the pipe the runner held) must still go."""
    handler, port = sink
    handler.accept = float("inf")
    root = tmp_path / "project"
    shutil.copytree(template, root)
    configure(root, port, connections=4, processes=4, extra="rate_per_second = 20\n")
    send = start_send(root)
    try:
        deadline = time.monotonic() + 60
        while len(handler.accepted) < 30:
            assert time.monotonic() < deadline and send.poll() is None
            time.sleep(0.01)
        below = descendants(send.pid)
        cores = min(4, len(os.sched_getaffinity(0)))
        assert len(below) == (cores if cores > 1 else 0), below  # one per core at most
        send.kill()
    finally:
        finish(send, root)
    deadline = time.monotonic() + 10
    while running(below) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running(below) == set(), f"processes of the killed send linger: {running(below)}"
