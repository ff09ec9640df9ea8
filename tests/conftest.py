"""Shared fixtures: a throwaway project (outreach.toml, templates, an issue) and its config."""

from __future__ import annotations

import shutil
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from outreach.audience import Consent, ConsentMethod, add_subscriber, make_engine, transaction, upgrade
from outreach.audience.topics import load_topics, sync_topics
from outreach.clock import SystemClock
from outreach.config import Config, load_config

REPO = Path(__file__).resolve().parent.parent

# Every engine a test touches, so its pooled connections are closed when the test ends: otherwise a
# whole run keeps dozens of idle PostgreSQL connections open (the server allows 100, shared by everyone).
_ENGINES: weakref.WeakSet[sa.engine.Engine] = weakref.WeakSet()


@sa.event.listens_for(sa.engine.Engine, "engine_connect")
def _track_engine(connection: sa.engine.Connection) -> None:
    _ENGINES.add(connection.engine)


@pytest.fixture(autouse=True)
def _close_pooled_connections() -> Iterator[None]:
    yield
    for engine in list(_ENGINES):
        engine.dispose()


EXAMPLE_ISSUE = REPO / "newsletters" / "2026-12-holding-the-holidays.md"
TEST_SECRET = "test-secret-key-for-outreach-tests-Q7xLm2pV9rT4"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/golden/ from the current rendering",
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's settings, layouts and lists in a temp folder."""
    shutil.copy(REPO / "outreach.toml", tmp_path / "outreach.toml")
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    (tmp_path / "newsletters").mkdir()
    if (REPO / "lists").is_dir():
        shutil.copytree(REPO / "lists", tmp_path / "lists")
    return tmp_path


@pytest.fixture
def config(project: Path) -> Config:
    return load_config(project, environ={"OUTREACH_SECRET_KEY": TEST_SECRET})


@pytest.fixture
def write_issue(project: Path) -> Callable[..., Path]:
    """Write an issue file into the temp project: write_issue(body, **front_matter)."""

    def write(
        body: str = "Hello.\n",
        name: str = "2026-12-test.md",
        raw_front: str | None = None,
        **fields: str,
    ) -> Path:
        front = {
            "subject": "A test issue",
            "preheader": "A preheader long enough to pass the check",
            "date": "2026-12-01",
        }
        front.update(fields)
        header = (
            raw_front
            if raw_front is not None
            else "\n".join(f"{key}: {value}" for key, value in front.items())
        )
        path = project / "newsletters" / name
        path.write_text(f"---\n{header}\n---\n{body}", encoding="utf-8")
        return path

    return write


@pytest.fixture
def site(project: Path) -> dict[str, str]:
    """The temp project with a database holding one active reader; the environment to run it."""
    url = f"sqlite:///{project / 'outreach.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with transaction(engine) as session:
        sync_topics(session, load_topics(project / "lists" / "topics.yaml"))
        consent = Consent(ConsentMethod.ADMIN, source="test")
        add_subscriber(
            session, "ana@example.org", consent=consent, clock=SystemClock(), topics=("monthly-newsletter",)
        )
    engine.dispose()
    return {"OUTREACH_SECRET_KEY": TEST_SECRET, "OUTREACH_DATABASE_URL": url, "COLUMNS": "200"}
