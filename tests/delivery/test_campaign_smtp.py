"""A campaign end to end through the SMTP transport into an aiosmtpd server on 127.0.0.1 that misbehaves
per recipient: 421 and hang up, 451, 452, 550 5.1.1, 552, 554 5.7.1, a connection dropped after the
message was handed over, and a stall longer than the client's timeout.

The runner's clock is fake (retries wait in simulated time); the SMTP conversation is real.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from outreach.audience import is_mailable, is_suppressed, transaction
from outreach.delivery import campaigns
from outreach.transports.smtp import SmtpSettings, SmtpTransport
from tests.delivery.conftest import ISSUE_SLUG, SECRET, Bench, copy_project
from tests.ports import free_port

STALL_SECONDS = 1.5
CLIENT_TIMEOUT = 0.4


@dataclass
class FaultySink:
    """Answers each RCPT from a per-recipient script (one entry per attempt, then 250) and records
    the Message-ID of every message whose data arrived, accepted or not."""

    faults: dict[str, list[str]] = field(default_factory=dict)
    accepted: list[tuple[str, str, str]] = field(default_factory=list)  # (recipient, message-id, queue id)
    seen: list[str] = field(default_factory=list)  # every Message-ID whose data reached the server
    sessions: int = 0
    _dropping: set[str] = field(default_factory=set)

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        script = self.faults.get(address, [])
        fault = script.pop(0) if script else ""
        if fault == "stall":
            await asyncio.sleep(STALL_SECONDS)
            return "451 4.4.2 too late"
        if fault == "drop-after-data":
            self._dropping.add(address)
        elif fault.startswith("421"):
            transport = server.transport
            assert transport is not None
            asyncio.get_running_loop().call_soon(transport.close)
            return fault
        elif fault:
            return fault
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        (recipient,) = envelope.rcpt_tos
        content = envelope.original_content or b""
        message_id = str(BytesHeaderParser().parsebytes(content)["Message-ID"])
        self.seen.append(message_id)
        if recipient in self._dropping:
            self._dropping.discard(recipient)
            assert server.transport is not None
            server.transport.abort()  # the whole message arrived; the answer never leaves
            return "250 never sent"
        queue_id = f"Q{len(self.accepted) + 1:05d}"
        self.accepted.append((recipient, message_id, queue_id))
        return f"250 2.0.0 Ok: queued as {queue_id}"


@dataclass
class Sink:
    host: str
    port: int
    handler: FaultySink


@pytest.fixture
def sink() -> Iterator[Sink]:
    handler = FaultySink()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Sink("127.0.0.1", port, handler)
    finally:
        controller.stop()


def smtp_transport(sink: Sink) -> SmtpTransport:
    settings = SmtpSettings(
        host=sink.host, port=sink.port, security="none", timeout=CLIENT_TIMEOUT, connections=1, max_batch=50
    )
    return SmtpTransport("relay", settings)


def assert_no_message_id_twice(handler: FaultySink) -> None:
    repeated = [mid for mid, n in Counter(handler.seen).items() if n > 1]
    assert not repeated, f"the server saw these Message-IDs more than once: {repeated}"
    delivered = Counter(recipient for recipient, _, _ in handler.accepted)
    assert max(delivered.values(), default=1) == 1, delivered


# -- the runner against every fault -------------------------------------------------------------------------


SCRIPT = {
    "ok0": [],
    "busy421": ["421 4.3.2 Service shutting down, try again in 2 minutes"],
    "ok1": [],
    "grey451": ["451 4.7.1 Greylisted, please try again later"],
    "full452": ["452 4.2.2 Mailbox full", "452 4.2.2 Mailbox full"],
    "nouser550": ["550 5.1.1 <nouser550@example.org>: Recipient address rejected: User unknown"],
    "big552": ["552 5.3.4 Message size exceeds fixed limit"],
    "dropped": ["drop-after-data"],
    "stalled": ["stall"],
    "ok2": [],
    "policy554": ["554 5.7.1 Service unavailable; Client host blocked using zen.spamhaus.org"],
    "ok3": [],
}


def test_a_campaign_through_a_misbehaving_smtp_server(bench: Bench, sink: Sink) -> None:
    addresses = {name: f"{name}@example.org" for name in SCRIPT}
    bench.add(*addresses.values())
    for name, replies in SCRIPT.items():
        sink.handler.faults[addresses[name]] = list(replies)
    campaign = bench.campaign()
    relay = smtp_transport(sink)

    with relay:
        bench.run(campaign, relay, batch_size=50)
    status, reason = bench.status(campaign)
    assert status == "paused"
    assert "554 5.7.1" in reason and f"outreach campaigns resume {campaign}" in reason
    rows = bench.rows(campaign)
    assert rows[addresses["policy554"]].state == "pending"
    assert rows[addresses["policy554"]].attempts == 0  # a policy block costs the recipient nothing
    assert rows[addresses["busy421"]].state == "sent" and rows[addresses["busy421"]].attempts == 2

    # the operator fixes the sender's reputation and resumes; retries go out as they fall due
    with transaction(bench.engine) as session:
        campaigns.resume(session, campaign, bench.clock)
    with relay:
        bench.run(campaign, relay, batch_size=50)

    rows = bench.rows(campaign)
    state = {name: rows[address].state for name, address in addresses.items()}
    assert state == {
        "ok0": "sent",
        "busy421": "sent",
        "ok1": "sent",
        "grey451": "sent",
        "full452": "sent",
        "nouser550": "failed",
        "big552": "failed",
        "dropped": "unknown",
        "stalled": "sent",
        "ok2": "sent",
        "policy554": "sent",
        "ok3": "sent",
    }
    assert bench.counts(campaign) == {
        "pending": 0,
        "sending": 0,
        "sent": 9,
        "failed": 2,
        "skipped": 0,
        "unknown": 1,
    }
    assert bench.status(campaign) == ("done", "")
    attempts = {name: rows[address].attempts for name, address in addresses.items()}
    assert attempts["grey451"] == 2 and attempts["full452"] == 3 and attempts["stalled"] == 2
    assert attempts["ok2"] == attempts["ok3"] == attempts["policy554"] == 1  # "not attempted" is free
    assert rows[addresses["nouser550"]].reason.startswith("bounced: 550 5.1.1")
    assert rows[addresses["big552"]].reason.startswith("rejected: 552 5.3.4")
    assert "may have been delivered" in rows[addresses["dropped"]].reason

    with transaction(bench.engine) as session:
        assert is_suppressed(session, addresses["nouser550"])
        assert not is_mailable(session, rows[addresses["nouser550"]].subscriber_id)
        assert not is_suppressed(session, addresses["big552"])
        assert is_mailable(session, rows[addresses["big552"]].subscriber_id)

    # what the server accepted is exactly the sent rows, under the Message-IDs and queue ids recorded
    accepted = {recipient: (mid, queue) for recipient, mid, queue in sink.handler.accepted}
    assert set(accepted) == {rows[a].email for a in addresses.values() if rows[a].state == "sent"}
    for recipient, (message_id, queue_id) in accepted.items():
        assert rows[recipient].message_id == message_id
        assert rows[recipient].provider_id == queue_id
    assert rows[addresses["dropped"]].message_id in sink.handler.seen
    assert_no_message_id_twice(sink.handler)


def test_resend_unknown_after_a_dropped_connection_sends_the_same_message_again(
    bench: Bench, sink: Sink
) -> None:
    bench.add("dropped@example.org", "fine@example.org")
    sink.handler.faults["dropped@example.org"] = ["drop-after-data"]
    campaign = bench.campaign()
    relay = smtp_transport(sink)
    with relay:
        bench.run(campaign, relay)
    assert bench.states(campaign) == {"dropped@example.org": "unknown", "fine@example.org": "sent"}
    with transaction(bench.engine) as session:
        assert campaigns.resend_unknown(session, campaign, bench.clock) == 1
    with relay:
        bench.run(campaign, relay)
    assert bench.states(campaign) == {"dropped@example.org": "sent", "fine@example.org": "sent"}
    assert len(sink.handler.seen) == 3  # the operator accepted a possible duplicate
    # ...under the same keyed Message-ID, so a mailbox that did get the first copy can tell it is one
    dropped = bench.rows(campaign)["dropped@example.org"].message_id
    assert Counter(sink.handler.seen)[dropped] == 2
    assert len(set(sink.handler.seen)) == 2


def test_consecutive_transient_errors_pause_the_campaign(bench: Bench, sink: Sink) -> None:
    people = [f"reader{n}@example.org" for n in range(6)]
    bench.add(*people)
    for address in people:
        sink.handler.faults[address] = ["451 4.3.0 Temporary lookup failure"] * 10
    campaign = bench.campaign()
    relay = smtp_transport(sink)
    with relay:
        bench.run(campaign, relay, max_consecutive_errors=4, batch_size=2)
    status, reason = bench.status(campaign)
    assert status == "paused"
    assert reason.startswith("4 errors in a row (last: 451 4.3.0 RCPT TO: 4.3.0 Temporary lookup failure)")
    assert f"outreach campaigns resume {campaign}" in reason
    assert sink.handler.accepted == []
    assert bench.counts(campaign)["pending"] == 6


# -- the real command ----------------------------------------------------------------------------------------


def _outreach(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from outreach.cli import main; main()", *args, "--root", str(project)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_outreach_send_yes_through_smtp(bench: Bench, sink: Sink, database_url: str, tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    toml = project / "outreach.toml"
    text = toml.read_text().replace('[delivery]\ntransport = "outbox"', '[delivery]\ntransport = "relay"')
    text += (
        f'\n[transports.relay]\nbackend = "smtp"\nhost = "127.0.0.1"\nport = {sink.port}\n'
        'security = "none"\ntimeout = 5\n'
    )
    toml.write_text(text)
    people = [f"member{n}@example.org" for n in range(6)]
    bench.add(*people)
    sink.handler.faults["member1@example.org"] = ["550 5.1.1 User unknown"]
    sink.handler.faults["member3@example.org"] = ["452 4.2.2 Mailbox full"]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin"),
        "HOME": str(tmp_path),
        "OUTREACH_SECRET_KEY": SECRET,
        "OUTREACH_DATABASE_URL": database_url,
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    issue = str(project / "newsletters" / f"{ISSUE_SLUG}.md")

    sent = _outreach(project, env, "send", issue, "--yes", "--limit", "4")
    assert sent.returncode == 0, sent.stderr
    out = " ".join(sent.stdout.split())
    assert "recipients: 4" in out and "campaign 1 created" in out
    assert "campaign 1 is sending: 1 pending, 2 sent, 1 failed" in out
    assert "1 wait for a retry" in out
    assert sorted(r for r, _, _ in sink.handler.accepted) == ["member0@example.org", "member2@example.org"]

    status = _outreach(project, env, "campaigns", "status", "1", "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["counts"] == {
        "pending": 1,
        "sending": 0,
        "sent": 2,
        "failed": 1,
        "skipped": 0,
        "unknown": 0,
    }
    assert {r["state"] for r in report["reasons"]} == {"failed", "pending"}
    assert [e["kind"] for e in report["history"]] == ["created"]
    with transaction(bench.engine) as session:
        assert is_suppressed(session, "member1@example.org")

    seen = len(sink.handler.seen)
    again = _outreach(project, env, "send", issue)  # without --yes: only the plan
    assert again.returncode == 0, again.stderr
    assert "recipients: 2" in again.stdout and "Nothing was sent" in again.stdout  # member4, member5
    assert len(sink.handler.seen) == seen
    assert "left out, already sent this issue: 3" in again.stdout  # 2 sent, 1 waiting for a retry
    assert "left out, bounced: 1" in again.stdout
    assert_no_message_id_twice(sink.handler)
