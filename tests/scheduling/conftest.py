"""Scheduling test fixtures: a migrated database per backend, a project, subscribers, a fake job book.

The database fixtures are the audience tests' (SQLite always, PostgreSQL when
``OUTREACH_TEST_DATABASE_URL`` is set), so every scheduling rule is checked on both.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine

from outreach.audience import Consent, ConsentMethod, Profile, add_subscriber, transaction
from outreach.audience.consent import record
from outreach.audience.schema import ConsentAction
from outreach.clock import FixedClock
from outreach.config import Config, load_config
from outreach.content import read_issue
from outreach.delivery.campaigns import sender_for
from outreach.render import render_issue
from outreach.scheduling.planning import schedule_issue
from outreach.scheduling.timing import SendWindow
from tests.audience.conftest import (  # noqa: F401 - fixtures shared with the audience tests
    synced,
    topics,
)
from tests.conftest import REPO, TEST_SECRET
from tests.databases import (  # noqa: F401 - fixtures: sqlite_template, backend, engine
    backend_fixture,
    engine_fixture,
    sqlite_template_fixture,
)

# 2026-11-30 14:00 UTC is 09:00 in New York, the site's zone.
START = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
NY = ZoneInfo("America/New_York")


class FakeJobs:
    """A JobBook in a dict: what APScheduler would hold."""

    def __init__(self) -> None:
        self.jobs: dict[str, tuple[datetime | None, int]] = {}
        self.log: list[tuple[str, str]] = []

    def put(self, job_id: str, run_at: datetime, campaign_id: int) -> None:
        self.jobs[job_id] = (run_at, campaign_id)
        self.log.append(("put", job_id))

    def drop(self, job_id: str) -> None:
        self.jobs.pop(job_id, None)
        self.log.append(("drop", job_id))

    def entries(self) -> dict[str, tuple[datetime | None, int]]:
        return dict(self.jobs)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def jobs() -> FakeJobs:
    return FakeJobs()


@pytest.fixture
def site(project: Path) -> Config:
    """The temp project with the real automation steps, as a Config."""
    shutil.copytree(REPO / "newsletters" / "automations", project / "newsletters" / "automations")
    return load_config(project, environ={"OUTREACH_SECRET_KEY": TEST_SECRET})


People = Callable[..., list[int]]


@pytest.fixture
def people(synced: Engine) -> People:  # noqa: F811 - the fixture imported above
    """Add subscribers: people(["a@example.org"], clock=..., topic_keys=[...], confirm=True, ...)."""

    def add(
        addresses: Iterable[str],
        *,
        clock: FixedClock,
        topic_keys: Iterable[str] = ("monthly-newsletter",),
        confirm: bool = False,
        time_zone: str | None = None,
        attributes: dict[str, str] | None = None,
    ) -> list[int]:
        ids = []
        with transaction(synced) as session:
            for address in addresses:
                subscriber = add_subscriber(
                    session,
                    address,
                    consent=Consent(ConsentMethod.FORM, source="test"),
                    clock=clock,
                    profile=Profile(first_name="Ana", time_zone=time_zone, attributes=attributes or {}),
                    topics=topic_keys,
                )
                if confirm:
                    record(
                        session,
                        subscriber_id=subscriber.id,
                        email_hash=subscriber.email_hash,
                        action=ConsentAction.CONFIRMED,
                        consent=Consent(ConsentMethod.FORM, source="test"),
                        clock=clock,
                    )
                ids.append(subscriber.id)
        return ids

    return add


def issue_text(subject: str = "December news", send_at: str = "2026-12-01 09:00") -> str:
    return f"""---
subject: {subject}
preheader: A preheader long enough to pass the check
date: 2026-12-01
audience: {{topics: [monthly-newsletter]}}
send_at: {send_at}
status: ready
---
Dear {{{{ subscriber.first_name | default("friend") }}}}, hello.
"""


@pytest.fixture
def issue_file(site: Config) -> Path:
    path = site.path("newsletters") / "2026-12-news.md"
    path.write_text(issue_text(), encoding="utf-8")
    return path


Plan = Callable[..., int]


@pytest.fixture
def plan(
    synced: Engine,  # noqa: F811 - the fixture imported above
    site: Config,
    jobs: FakeJobs,
    clock: FixedClock,
    issue_file: Path,
) -> Plan:
    def schedule(window: SendWindow | None = None, local_time: bool = False) -> int:
        compiled = render_issue(read_issue(issue_file, site.time_zone), site)
        with transaction(synced) as session:
            planned = schedule_issue(
                session,
                compiled,
                sender_for(site, compiled),
                "outbox",
                clock,
                window or SendWindow(NY),
                jobs,
                local_time=local_time,
            )
        return planned.campaign_id

    return schedule
