"""Fixtures for the web service tests: a migrated database with topics, a moving clock, the app.

``signup_form`` and ``csrf_of`` drive the HTML forms the way a browser does: load the page, take the
hidden CSRF field, post the form.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from alembic import command
from alembic.util import CommandError
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.testclient import TestClient

from outreach.audience import Consent, ConsentMethod, add_subscriber, make_engine, transaction, upgrade
from outreach.audience.db import _alembic_config
from outreach.audience.topics import load_topics, sync_topics
from outreach.clock import FixedClock
from outreach.config import Config
from outreach.content import read_issue
from outreach.delivery.campaigns import Sender, create_campaign
from outreach.delivery.pacing import Pace, RateLimits
from outreach.delivery.runner import CampaignRunner, RunSettings
from outreach.delivery.tracking import ClickTracking
from outreach.models import Audience
from outreach.render import render_issue
from outreach.transports.memory import MemoryTransport
from outreach.web.app import create_app
from outreach.web.state import WebState

LISTS = Path(__file__).resolve().parents[2] / "lists"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _upgrade(engine: Engine) -> None:
    """Migrate to the newest schema; while parallel migrations await their join, to every head."""
    try:
        upgrade(engine)
    except CommandError:
        config = _alembic_config(engine)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "heads")


@pytest.fixture(scope="session")
def web_template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with lists/topics.yaml synced in, copied for each test."""
    path = tmp_path_factory.mktemp("webdb") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    _upgrade(engine)
    with transaction(engine) as session:
        sync_topics(session, load_topics(LISTS / "topics.yaml"))
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture
def engine(tmp_path: Path, web_template_db: Path) -> Iterator[Engine]:
    path = tmp_path / "web.db"
    shutil.copy(web_template_db, path)
    db = make_engine(f"sqlite:///{path}")
    yield db
    db.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 12, 1, 15, 0, tzinfo=UTC))


@pytest.fixture
def outbox() -> MemoryTransport:
    return MemoryTransport("memory")


@pytest.fixture
def app(config: Config, engine: Engine, outbox: MemoryTransport, clock: FixedClock) -> Starlette:
    return create_app(config, engine, outbox, clock)


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


@pytest.fixture
def signup_form(client: TestClient) -> Callable[..., Any]:
    """Post the sign-up form as a browser would: signup_form(email=..., topics=[...], ...); then let
    the mail worker finish, so the subscriber and the mail are there when the test looks."""

    def post(email: str = "ana@example.org", **fields: Any) -> Any:
        page = client.get("/subscribe")
        data: dict[str, Any] = {
            "csrf": csrf_of(page.text),
            "email": email,
            "first_name": "Ana",
            "last_name": "",
            "role": "Parent or caregiver",
            "language": "en",
            "topics": ["monthly-newsletter"],
            "website": "",
        }
        data.update(fields)
        answer = client.post("/subscribe", data=data, headers={"user-agent": "pytest-browser/1.0"})
        deliver_queued(client)
        return answer

    return post


def deliver_queued(client: TestClient) -> int:
    """Let the mail worker finish: every queued sign-up recorded and its mail handed over."""
    state: WebState = client.app.state.web  # type: ignore[attr-defined]
    return state.mailer.run_once()


def send_case(client: TestClient, case: schemathesis.Case) -> Any:
    """Send a case schemathesis generated the way the test client wants it: raw bytes as ``content``
    (not ``data``), and cookies set on the client, not per request."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    cookies = kwargs.pop("cookies", None) or {}
    client.cookies.clear()
    for name, value in cookies.items():
        client.cookies.set(name, str(value))
    if isinstance(kwargs.get("data"), bytes | str):
        kwargs["content"] = kwargs.pop("data")
    return client.request(**kwargs)


def link_in(text: str, path: str) -> str:
    """The first URL in ``text`` whose path starts with ``path`` (e.g. "/confirm/")."""
    found = re.search(r"https?://[^\s\"<>]+" + re.escape(path) + r"[A-Za-z0-9_.\-]+", text)
    assert found, f"no {path} link in the mail"
    return found.group(0)


def add_active(engine: Engine, clock: FixedClock, email: str = "ben@example.org", **profile: Any) -> int:
    """An active subscriber of the monthly newsletter, imported by an admin."""
    with transaction(engine) as session:
        subscriber = add_subscriber(
            session,
            email,
            consent=Consent(ConsentMethod.ADMIN, source="test"),
            clock=clock,
            topics=["monthly-newsletter"],
        )
        return subscriber.id


ISSUE_BODY = """Dear {{ subscriber.first_name | default("friend") }}, hello.

Read [our guide](https://vaimh.example/guide?a=1&b=2) and [the study](https://research.example.org/study).
"""


def make_campaign(
    config: Config,
    engine: Engine,
    clock: FixedClock,
    write_issue: Callable[..., Path],
    *,
    tracking: bool = False,
    name: str = "2026-12-test.md",
    subject: str = "A test issue",
    archive: bool = True,
) -> int:
    """Create a campaign of a small issue for the monthly newsletter; its rows stay pending."""
    path = write_issue(ISSUE_BODY, name=name, subject=subject)
    compiled = render_issue(read_issue(path, config.time_zone), config)
    sender = Sender("VAIMH News", "news@vaimh.example", "", config.sender.list_id, "vaimh.example")
    with transaction(engine) as session:
        campaign = create_campaign(
            session,
            compiled,
            sender,
            Audience(topics=("monthly-newsletter",)),
            {},
            "memory",
            clock,
            archive=archive,
        )
        if tracking:
            ClickTracking(config.base_url, config.secret_key).apply(campaign)
        return campaign.id


def send_campaign(config: Config, engine: Engine, clock: FixedClock, campaign_id: int) -> MemoryTransport:
    """Run the campaign to the end through a memory transport; returns it (its outbox holds the mail)."""
    transport = MemoryTransport("memory")
    runner = CampaignRunner(
        engine,
        campaign_id,
        transport,
        Pace(RateLimits(), clock, lambda seconds: None),
        clock,
        RunSettings(batch_size=50, concurrency=1),
        base_url=config.base_url,
        secret=config.secret_key,
        sleep=lambda seconds: None,
    )
    runner.run(wait_for_retries=False)
    return transport
