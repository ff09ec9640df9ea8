"""Fixtures for the delivery tests: a database per test (SQLite, and PostgreSQL when asked), a compiled
issue, a clock that only moves when a fake ``sleep`` moves it, and a small bench to build campaigns.

PostgreSQL runs when ``OUTREACH_TEST_DATABASE_URL`` is set (CI sets it), e.g.
``OUTREACH_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test``. Like the audience
tests, each PostgreSQL test gets a fresh schema (``options=-csearch_path%3D...`` in the URL, so a CLI
given the URL lands in the same schema) with the migrations applied, dropped afterwards; each SQLite test
gets a copy of a database migrated once per session.
"""

from __future__ import annotations

import math
import random
import shutil
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from outreach.audience import Consent, ConsentMethod, Profile, add_subscriber, transaction
from outreach.audience.schema import Subscriber
from outreach.audience.topics import load_topics, sync_topics
from outreach.clock import FixedClock
from outreach.config import Config, load_config
from outreach.content import read_issue
from outreach.delivery.campaigns import Sender, create_campaign
from outreach.delivery.journal import Journals
from outreach.delivery.limits import LedgerLimits
from outreach.delivery.pacing import Pace, RateLimits
from outreach.delivery.runner import CampaignRunner, Progress, RunSettings
from outreach.delivery.schema import Campaign, Delivery
from outreach.models import Audience
from outreach.render import CompiledIssue, render_issue
from outreach.transports.base import OutgoingMessage, Receipts, Transport
from outreach.transports.memory import MemoryTransport
from tests.conftest import TEST_SECRET
from tests.databases import (  # noqa: F401 - fixtures: sqlite_template, backend, engine, database_url
    backend_fixture,
    database_url_fixture,
    engine_fixture,
    sqlite_template_fixture,
)

REPO = Path(__file__).resolve().parents[2]
LISTS = REPO / "lists"
SECRET = TEST_SECRET
BASE_URL = "https://news.vaimh.example"
TOPIC = "monthly-newsletter"
START = datetime(2026, 3, 1, 14, 0, tzinfo=UTC)
PARAGRAPHS = (
    "Early relationships are the foundation for everything that comes later in a child's life.",
    "Reflective supervision groups meet on the second Tuesday of every month in Richmond.",
)
ISSUE_FRONT = (
    'subject: "Winter notes from VAIMH"\n'
    'preheader: "Why the early years matter, and where our groups meet this winter."\n'
    "date: 2026-12-01\n"
    "audience:\n"
    f"  topics: [{TOPIC}]\n"
    "status: ready\n"
)
ISSUE_BODY = 'Dear {{ subscriber.first_name | default("friend") }},\n\n' + "\n\n".join(PARAGRAPHS) + "\n"
ISSUE_SLUG = "2026-12-winter-notes"


def copy_project(target: Path) -> Path:
    """A temp project: the repository's outreach.toml, templates and lists, and one small issue."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "outreach.toml", target / "outreach.toml")
    shutil.copytree(REPO / "templates", target / "templates")
    shutil.copytree(LISTS, target / "lists")
    (target / "newsletters").mkdir()
    (target / "newsletters" / f"{ISSUE_SLUG}.md").write_text(
        f"---\n{ISSUE_FRONT}---\n{ISSUE_BODY}", encoding="utf-8"
    )
    return target


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands timestamps back naive; they are UTC."""
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- databases -----------------------------------------------------------------------------------------


# -- time ------------------------------------------------------------------------------------------------


class FakeSleep:
    """A ``sleep`` that moves the clock instead of waiting; refuses to simulate more than ``limit``."""

    def __init__(self, clock: FixedClock, limit: float = 30 * 86400.0) -> None:
        self.clock = clock
        self.limit = limit
        self.total = 0.0
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        assert seconds >= 0, f"asked to sleep {seconds} s"
        self.calls.append(seconds)
        self.total += seconds
        if self.total > self.limit:
            raise AssertionError(f"more than {self.limit:g} simulated seconds: a runner that never stops?")
        # A real sleep lasts at least as long as asked; the clock counts whole microseconds, so round up
        # (rounding down could leave a token bucket a hair short forever).
        self.clock.advance(math.ceil(seconds * 1_000_000) / 1_000_000)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def sleep(clock: FixedClock) -> FakeSleep:
    return FakeSleep(clock)


# -- an issue ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def issue_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project(tmp_path_factory.mktemp("issue-project") / "project")


@pytest.fixture(scope="session")
def issue_config(issue_project: Path) -> Config:
    return load_config(issue_project, environ={"OUTREACH_SECRET_KEY": SECRET})


@pytest.fixture(scope="session")
def compiled(issue_project: Path, issue_config: Config) -> CompiledIssue:
    """The small issue, rendered once for the session (rendering is the slow part)."""
    return render_issue(read_issue(issue_project / "newsletters" / f"{ISSUE_SLUG}.md"), issue_config)


# -- transports --------------------------------------------------------------------------------------------


class TimedMemory(MemoryTransport):
    """A MemoryTransport that notes the (fake) time of every message and can run a hook before a batch."""

    def __init__(
        self,
        clock: FixedClock,
        script: Iterable[Any] = (),
        before: Callable[[Sequence[OutgoingMessage]], None] | None = None,
    ) -> None:
        super().__init__("memory", script)
        self.clock = clock
        self.before = before
        self.times: list[tuple[datetime, str]] = []
        self.batches: list[int] = []
        self._times_lock = threading.Lock()

    def deliver(self, messages: Sequence[OutgoingMessage], receipts: Receipts) -> None:
        if self.before is not None:
            self.before(messages)
        with self._times_lock:
            now = self.clock.now()
            self.times.extend((now, m.recipient) for m in messages)
            self.batches.append(len(messages))
        super().deliver(messages, receipts)


# -- the bench ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One ledger row as plain data."""

    id: int
    email: str
    subscriber_id: int
    state: str
    reason: str
    attempts: int
    message_id: str | None
    provider_id: str
    next_attempt_at: datetime | None
    claimed_by: str


@dataclass
class Bench:
    """Subscribers, campaigns and runners on one database with one fake clock."""

    engine: Engine
    clock: FixedClock
    sleep: FakeSleep
    compiled: CompiledIssue
    sender: Sender
    journals: Journals
    rng_seed: int = 20261201
    runners: list[CampaignRunner] = field(default_factory=list)

    def add(self, *addresses: str, topics: Sequence[str] = (TOPIC,), first_name: str = "") -> list[int]:
        ids = []
        with transaction(self.engine) as session:
            for address in addresses:
                subscriber = add_subscriber(
                    session,
                    address,
                    consent=Consent(ConsentMethod.ADMIN, source="test"),
                    clock=self.clock,
                    topics=tuple(topics),
                    profile=Profile(first_name=first_name),
                )
                ids.append(subscriber.id)
        return ids

    def people(self, count: int, prefix: str = "reader") -> list[str]:
        addresses = [f"{prefix}{n:03d}@example.org" for n in range(count)]
        self.add(*addresses)
        return addresses

    def campaign(
        self,
        *,
        topics: Sequence[str] = (TOPIC,),
        limit: int | None = None,
        compiled: CompiledIssue | None = None,
    ) -> int:
        with transaction(self.engine) as session:
            campaign = create_campaign(
                session,
                compiled or self.compiled,
                self.sender,
                Audience(topics=tuple(topics)),
                {},
                "memory",
                self.clock,
                limit=limit,
            )
            return campaign.id

    def runner(
        self,
        campaign_id: int,
        transport: Transport,
        limits: RateLimits | None = None,
        **settings: Any,
    ) -> CampaignRunner:
        values: dict[str, Any] = {"batch_size": 50, "concurrency": 1, "idle_wait": 3600.0}
        values.update(settings)
        limits = limits or RateLimits()
        runner = CampaignRunner(
            self.engine,
            campaign_id,
            transport,
            Pace(limits.per_process(), self.clock, self.sleep),
            self.clock,
            RunSettings(**values),
            base_url=BASE_URL,
            secret=SECRET,
            sleep=self.sleep,
            rng=random.Random(self.rng_seed),
            journals=self.journals,
            limits=LedgerLimits.of("memory", limits),
        )
        self.runners.append(runner)
        return runner

    def run(self, campaign_id: int, transport: Transport, *, wait: bool = True, **settings: Any) -> Progress:
        return self.runner(campaign_id, transport, **settings).run(wait_for_retries=wait)

    def rows(self, campaign_id: int) -> dict[str, Row]:
        with self.engine.connect() as connection:
            found = connection.execute(
                sa.select(
                    Delivery.id,
                    Subscriber.email,
                    Delivery.subscriber_id,
                    Delivery.state,
                    Delivery.reason,
                    Delivery.attempts,
                    Delivery.message_id,
                    Delivery.provider_id,
                    Delivery.next_attempt_at,
                    Delivery.claimed_by,
                )
                .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                .where(Delivery.campaign_id == campaign_id)
                .order_by(Delivery.id)
            ).all()
        return {
            r.email: Row(
                r.id,
                r.email,
                r.subscriber_id,
                str(r.state),
                r.reason,
                r.attempts,
                r.message_id,
                r.provider_id,
                aware(r.next_attempt_at),
                r.claimed_by,
            )
            for r in found
        }

    def states(self, campaign_id: int) -> dict[str, str]:
        return {email: row.state for email, row in self.rows(campaign_id).items()}

    def counts(self, campaign_id: int) -> dict[str, int]:
        from outreach.delivery import ledger

        with transaction(self.engine) as session:
            return ledger.counts(session, campaign_id)

    def status(self, campaign_id: int) -> tuple[str, str]:
        with self.engine.connect() as connection:
            status, reason = connection.execute(
                sa.select(Campaign.status, Campaign.pause_reason).where(Campaign.id == campaign_id)
            ).one()
        return str(status), str(reason)


@pytest.fixture
def bench(
    engine: Engine, clock: FixedClock, sleep: FakeSleep, compiled: CompiledIssue, tmp_path: Path
) -> Bench:
    with transaction(engine) as session:
        sync_topics(session, load_topics(LISTS / "topics.yaml"))
    sender = Sender(
        "VAIMH News",
        "news@vaimh.example",
        "info@vaimh.example",
        "VAIMH News <news.vaimh.example>",
        "vaimh.example",
    )
    return Bench(engine, clock, sleep, compiled, sender, Journals(tmp_path / "journal"))
