"""Real ``outreach worker --once`` processes sharing one PostgreSQL campaign.

On PostgreSQL several workers share a campaign by claiming rows with ``FOR UPDATE SKIP LOCKED``, and
every recipient is sent exactly once; the transport's daily limit holds for all of them together. The
campaign is created with the library (all rows ``pending``, status ``sending``, nothing sent yet), then
the worker processes start together against a local aiosmtpd sink that records every message it
accepted.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from outreach.audience import load_segments, make_engine, transaction
from outreach.audience.subscribers import known_topics
from outreach.clock import SystemClock
from outreach.config import load_config
from outreach.content import read_issue
from outreach.delivery.campaigns import Sender, create_campaign
from outreach.delivery.schema import CampaignStatus
from outreach.render import render_issue
from tests.conftest import REPO, TEST_SECRET
from tests.databases import PG_SKIP, PG_URL, pg_url
from tests.delivery.subprocess_project import CLI, ISSUE, sink_settings, without_spamassassin
from tests.ports import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(not PG_URL, reason=PG_SKIP)]

RECIPIENTS = 5000
WORKERS = 3
BATCH_SIZE = 50


@dataclass
class Sink:
    """An aiosmtpd handler recording (Message-ID, recipient, client port) of every accepted message."""

    delay: float = 0.0005
    accepted: list[tuple[str, str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        headers = BytesHeaderParser().parsebytes(envelope.original_content or b"")
        message_id = str(headers.get("Message-ID", "")).strip()
        peer = session.peer[1] if isinstance(session.peer, tuple) else 0
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.accepted.append((message_id, rcpt, int(peer)))
        await asyncio.sleep(self.delay)
        return "250 2.0.0 Ok: queued"


def schema_url(schema: str) -> str:
    return pg_url(schema)


def outreach(root: Path, env: dict[str, str], *args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        [*CLI, *args], cwd=root, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"outreach {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def make_project(root: Path, port: int, recipients: int = RECIPIENTS, extra: str = "") -> None:
    shutil.copytree(REPO / "templates", root / "templates")
    shutil.copytree(REPO / "lists", root / "lists")
    (root / "newsletters").mkdir()
    (root / "newsletters" / "2026-12-test.md").write_text(ISSUE, encoding="utf-8")
    toml = (REPO / "outreach.toml").read_text(encoding="utf-8")
    original = '[delivery]\ntransport = "outbox"\n'
    assert original in toml, "outreach.toml's [delivery] table changed; update this test"
    toml = toml.replace(original, sink_settings(port, BATCH_SIZE, max_batch=25, timeout=30, extra=extra))
    (root / "outreach.toml").write_text(toml, encoding="utf-8")
    with (root / "subscribers.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["Email", "First Name", "Topics"])
        for number in range(recipients):
            writer.writerow([f"reader{number:05d}@example.org", f"Reader{number}", "monthly-newsletter"])


def create_pending_campaign(root: Path, env: dict[str, str]) -> int:
    """What ``outreach send --yes`` does before sending: the campaign and its 5,000 pending rows."""
    config = load_config(root, environ=env)
    compiled = render_issue(read_issue(root / "newsletters" / "2026-12-test.md", config.time_zone), config)
    sender = config.sender
    clock = SystemClock()
    engine = make_engine(config.database_url)
    try:
        with transaction(engine) as session:
            segments = load_segments(
                config.path("lists") / "segments.yaml", known_topics(session), "lists/segments.yaml"
            )
            campaign = create_campaign(
                session,
                compiled,
                Sender(
                    sender.from_name,
                    sender.from_address,
                    sender.reply_to,
                    sender.list_id,
                    sender.message_id_domain,
                ),
                compiled.issue.audience,
                segments,
                "sink",
                clock,
            )
            assert campaign.status is CampaignStatus.SENDING
            return campaign.id
    finally:
        engine.dispose()


def test_three_workers_share_one_campaign_and_send_everyone_exactly_once(tmp_path: Path) -> None:
    schema = f"t_workers_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    handler = Sink()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    workers: list[subprocess.Popen[str]] = []
    engine = make_engine(schema_url(schema))
    try:
        with admin.begin() as connection:
            connection.execute(sa.schema.CreateSchema(schema))
        root = tmp_path / "project"
        root.mkdir()
        make_project(root, port)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
        env.update(
            OUTREACH_SECRET_KEY=TEST_SECRET,
            OUTREACH_ROOT=str(root),
            OUTREACH_DATABASE_URL=schema_url(schema),
            COLUMNS="200",
            NO_COLOR="1",
        )
        env = without_spamassassin(env)
        outreach(root, env, "db", "upgrade")
        imported = outreach(root, env, "lists", "import", "subscribers.csv", "--consent", "test")
        assert "5000" in imported.replace(",", ""), imported
        campaign_id = create_pending_campaign(root, env)
        with engine.connect() as connection:
            states = {
                str(state): int(count)
                for state, count in connection.execute(
                    sa.text("SELECT state, count(*) FROM deliveries WHERE campaign_id = :c GROUP BY state"),
                    {"c": campaign_id},
                )
            }
        assert states == {"pending": RECIPIENTS}

        controller.start()
        started = time.monotonic()
        for _ in range(WORKERS):
            workers.append(
                subprocess.Popen(
                    [*CLI, "worker", "--once"],
                    cwd=root,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
        outputs = [worker.communicate(timeout=120)[0] for worker in workers]
        elapsed = time.monotonic() - started
        for worker, output in zip(workers, outputs, strict=True):
            assert worker.returncode == 0, output

        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT s.email, d.state, d.message_id, d.claimed_by, d.attempts FROM deliveries d "
                    "JOIN subscribers s ON s.id = d.subscriber_id WHERE d.campaign_id = :c"
                ),
                {"c": campaign_id},
            ).all()
        status = json.loads(outreach(root, env, "campaigns", "status", str(campaign_id), "--json"))
        claimers = Counter(str(row.claimed_by) for row in rows)
        print(
            f"{RECIPIENTS} sent by {WORKERS} workers in {elapsed:.1f} s; rows per worker {dict(claimers)}; "
            f"{len({peer for _, _, peer in handler.accepted})} SMTP connections"
        )

        # Every row sent, once, by its first attempt.
        assert len(rows) == RECIPIENTS
        assert Counter(str(row.state) for row in rows) == {"sent": RECIPIENTS}
        assert {int(row.attempts) for row in rows} == {1}
        assert status["status"] == "done"
        assert status["counts"]["sent"] == RECIPIENTS
        assert sum(status["counts"].values()) == RECIPIENTS

        # The sink saw each recipient exactly once, each with a distinct Message-ID: the row's own.
        per_recipient = Counter(rcpt for _, rcpt, _ in handler.accepted)
        assert [r for r, n in per_recipient.items() if n > 1] == []
        ids = Counter(message_id for message_id, _, _ in handler.accepted)
        assert all(ids) and [m for m, n in ids.items() if n > 1] == []
        arrived = {rcpt: message_id for message_id, rcpt, _ in handler.accepted}
        assert len(arrived) == RECIPIENTS
        assert {str(row.email): str(row.message_id) for row in rows} == arrived

        # The work was shared: more than one worker process claimed rows.
        assert len(claimers) >= 2, claimers
        assert all(claimer.split(":")[1].isdigit() for claimer in claimers)  # host:pid:token
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
            worker.wait(timeout=10)
        controller.stop(no_assert=True)
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(sa.schema.DropSchema(schema, cascade=True, if_exists=True))
        admin.dispose()


def test_two_workers_keep_one_daily_limit_between_them(tmp_path: Path) -> None:
    schema = f"t_limit_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    handler = Sink()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    workers: list[subprocess.Popen[str]] = []
    engine = make_engine(schema_url(schema))
    try:
        with admin.begin() as connection:
            connection.execute(sa.schema.CreateSchema(schema))
        root = tmp_path / "project"
        root.mkdir()
        make_project(root, port, recipients=60, extra="rate_per_day = 25\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
        env.update(
            OUTREACH_SECRET_KEY=TEST_SECRET,
            OUTREACH_ROOT=str(root),
            OUTREACH_DATABASE_URL=schema_url(schema),
            COLUMNS="200",
            NO_COLOR="1",
        )
        outreach(root, env, "db", "upgrade")
        outreach(root, env, "lists", "import", "subscribers.csv", "--consent", "test")
        campaign_id = create_pending_campaign(root, env)
        controller.start()
        for _ in range(2):
            workers.append(
                subprocess.Popen(
                    [*CLI, "worker", "--once"],
                    cwd=root,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
        outputs = [worker.communicate(timeout=120)[0] for worker in workers]
        for worker, output in zip(workers, outputs, strict=True):
            assert worker.returncode == 0, output
        with engine.connect() as connection:
            states = dict(
                connection.execute(
                    sa.text("SELECT state, count(*) FROM deliveries WHERE campaign_id = :c GROUP BY state"),
                    {"c": campaign_id},
                ).all()
            )
        print(f"two workers with rate_per_day = 25: {states}; outputs {outputs}")
        assert states == {"sent": 25, "pending": 35}
        assert len(handler.accepted) == 25
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
            worker.wait(timeout=10)
        controller.stop(no_assert=True)
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(sa.schema.DropSchema(schema, cascade=True, if_exists=True))
        admin.dispose()
