"""A real ``outreach send`` killed with SIGKILL at random points, then resumed: the ledger contract holds.

Every recipient ends ``sent`` exactly once or ``unknown`` (caught in flight: at most one message per SMTP
connection, since every answer is journaled as it arrives), nobody is missing, and a resume never sends
anyone twice. Each trial runs the real
command line in its own process against a local aiosmtpd sink that records every message it accepted,
kills it with SIGKILL (no cleanup, no ``finally``) after a seeded random delay, runs ``outreach campaigns
resume 1`` to completion and compares the ledger with what the sink accepted.

The sink records a message *before* its slow 250 reply, as a real MTA commits before answering: a kill
in that window leaves a row ``sending`` whose message did arrive, which is exactly the ``unknown`` case.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.conftest import REPO
from tests.delivery.subprocess_project import CLI, ISSUE, environment, outreach, sink_settings
from tests.ports import free_port

SUBSCRIBERS = 300
BATCH_SIZE = 20
TRIALS = 22
SEED = 20261201
# A few trials kill at a delay counted from the process start, most from the moment the campaign exists.
EARLY_TRIALS = {5, 16}
CONNECTIONS = 2  # sink_settings' default
SINK_DELAY = 0.003  # seconds the sink takes to answer each DATA, so the send lasts long enough to interrupt
RESULTS: dict[int, dict[str, object]] = {}


@dataclass
class Sink:
    """An aiosmtpd handler recording (Message-ID, recipient) of every message it accepted."""

    delay: float = SINK_DELAY
    accepted: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        headers = BytesHeaderParser().parsebytes(envelope.original_content or b"")
        message_id = str(headers.get("Message-ID", "")).strip()
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.accepted.append((message_id, rcpt))
        await asyncio.sleep(self.delay)
        return "250 2.0.0 Ok: queued"


def configure(root: Path, port: int) -> None:
    """Point the project's default transport at the sink, with small batches so kills land mid-campaign."""
    toml = (REPO / "outreach.toml").read_text(encoding="utf-8")
    original = '[delivery]\ntransport = "outbox"\n'
    assert original in toml, "outreach.toml's [delivery] table changed; update this test"
    toml = toml.replace(original, sink_settings(port, BATCH_SIZE, max_batch=10, timeout=10))
    (root / "outreach.toml").write_text(toml, encoding="utf-8")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated project with the subscribers imported, copied for each trial (importing once)."""
    root = tmp_path_factory.mktemp("kill-template")
    shutil.copytree(REPO / "templates", root / "templates")
    shutil.copytree(REPO / "lists", root / "lists")
    (root / "newsletters").mkdir()
    (root / "newsletters" / "2026-12-test.md").write_text(ISSUE, encoding="utf-8")
    configure(root, free_port())
    with (root / "subscribers.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["Email", "First Name", "Topics"])
        for number in range(SUBSCRIBERS):
            writer.writerow([f"reader{number:04d}@example.org", f"Reader{number}", "monthly-newsletter"])
    outreach(root, "db", "upgrade")
    imported = outreach(root, "lists", "import", "subscribers.csv", "--consent", "test")
    assert str(SUBSCRIBERS) in imported.stdout
    assert not any(root.glob("outreach.db-wal")) or (root / "outreach.db-wal").stat().st_size == 0
    return root


@pytest.fixture
def sink() -> Iterator[tuple[Sink, int]]:
    handler = Sink()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


class Send:
    """``outreach send ISSUE --yes`` in its own process; notes when it reports the campaign created."""

    def __init__(self, root: Path) -> None:
        self.created = threading.Event()
        self.output: list[str] = []
        self.process = subprocess.Popen(
            [*CLI, "send", "newsletters/2026-12-test.md", "--yes"],
            cwd=root,
            env=environment(root),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.started = time.monotonic()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if "campaign 1 created" in line:
                self.created.set()

    def kill(self) -> bool:
        """SIGKILL the process; False if it had already finished on its own."""
        finished = self.process.poll() is not None
        if not finished:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.reader.join(timeout=5)
        return not finished

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


def ledger_rows(root: Path) -> list[tuple[str, str, str | None]]:
    """(email, state, message_id) of every ledger row of campaign 1."""
    with sqlite3.connect(root / "outreach.db") as db:
        return [
            (str(email), str(state), message_id)
            for email, state, message_id in db.execute(
                "SELECT s.email, d.state, d.message_id FROM deliveries d "
                "JOIN subscribers s ON s.id = d.subscriber_id WHERE d.campaign_id = 1"
            )
        ]


def campaigns(root: Path) -> int:
    with sqlite3.connect(root / "outreach.db") as db:
        return int(db.execute("SELECT count(*) FROM campaigns").fetchone()[0])


@pytest.mark.parametrize("trial", range(TRIALS))
def test_kill_at_a_random_point_then_resume_sends_everyone_at_most_once(
    trial: int, template: Path, tmp_path: Path, sink: tuple[Sink, int]
) -> None:
    handler, port = sink
    rng = random.Random(SEED + trial)
    root = tmp_path / "project"
    shutil.copytree(template, root)
    configure(root, port)

    send = Send(root)
    try:
        if trial in EARLY_TRIALS:
            delay = rng.uniform(0.05, 1.5)  # from the process start: often before the campaign exists
            time.sleep(delay)
        else:
            assert send.created.wait(timeout=30), "".join(send.output)
            # The whole send (300 at ~3 ms each over 2 connections) lasts about 1 s: spread kills across it.
            delay = rng.uniform(0.0, 1.0)
            time.sleep(delay)
        killed = send.kill()
    finally:
        send.stop()
    arrived_before_resume = len(handler.accepted)

    if campaigns(root) == 0:
        # Killed before the campaign was committed: nothing may have gone out, and sending again is safe.
        assert handler.accepted == [], "messages went out for a campaign that does not exist"
        outreach(root, "send", "newsletters/2026-12-test.md", "--yes")
        resumed = False
    else:
        outreach(root, "campaigns", "resume", "1")
        resumed = True

    status = json.loads(outreach(root, "campaigns", "status", "1", "--json").stdout)
    counts = status["counts"]
    rows = ledger_rows(root)
    states = Counter(state for _, state, _ in rows)
    RESULTS[trial] = {
        "delay": round(delay, 3),
        "killed": killed,
        "resumed": resumed,
        "arrived_before_resume": arrived_before_resume,
        "unknown": counts["unknown"],
    }
    print(f"trial {trial}: {RESULTS[trial]}")

    # None missing: one row per subscriber, each settled as sent or unknown.
    assert len(rows) == SUBSCRIBERS
    assert len({email for email, _, _ in rows}) == SUBSCRIBERS
    assert set(states) <= {"sent", "unknown"}, states
    assert counts == {state: states.get(state, 0) for state in counts}
    assert sum(counts.values()) == SUBSCRIBERS
    assert status["status"] == "done"
    # At most the messages in the transport's hands when the process died: one per connection.
    assert counts["unknown"] <= CONNECTIONS
    if not killed or not resumed:
        assert counts["unknown"] == 0

    # The sink: no Message-ID twice, nobody twice.
    ids = Counter(message_id for message_id, _ in handler.accepted)
    assert all(ids.values()), "a message arrived without a Message-ID"
    assert [m for m, n in ids.items() if n > 1] == []
    per_recipient = Counter(rcpt for _, rcpt in handler.accepted)
    assert [r for r, n in per_recipient.items() if n > 1] == []
    arrived = {rcpt: message_id for message_id, rcpt in handler.accepted}
    for email, state, message_id in rows:
        if state == "sent":
            # Sent means the sink accepted exactly this row's message, once.
            assert arrived.get(email) == message_id, (email, message_id, arrived.get(email))
        elif email in arrived:
            # Unknown and in fact delivered: the same message the row was sending when the process died.
            assert arrived[email] == message_id
    assert set(arrived) <= {email for email, _, _ in rows}
