"""A locked SQLite database is waited for, then refused plainly; a URL's password is never shown."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from outreach.audience import make_engine, transaction
from outreach.audience.db import redact_url
from outreach.clock import FixedClock
from outreach.config import Config
from outreach.errors import DatabaseError
from outreach.transports.memory import MemoryTransport
from outreach.web.app import create_app
from tests.conftest import TEST_SECRET
from tests.web.conftest import csrf_of

PASSWORD = "s3cret-Pa55word"


@contextmanager
def locked(path: Path) -> Iterator[sqlite3.Connection]:
    """Another process's write lock on the database file, held until the block ends."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield holder
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def _file(engine: Engine) -> Path:
    assert engine.url.database
    return Path(engine.url.database)


def test_a_lock_held_past_the_busy_timeout_is_one_plain_database_error(engine: Engine) -> None:
    impatient = make_engine(engine.url.render_as_string(hide_password=False), busy_timeout=0.2)
    with (
        locked(_file(engine)),
        pytest.raises(DatabaseError, match="is locked by another process"),
        transaction(impatient) as session,
    ):
        session.execute(sa.text("UPDATE topics SET name = name"))
    impatient.dispose()


def test_a_lock_released_within_the_busy_timeout_is_waited_for(engine: Engine) -> None:
    patient = make_engine(engine.url.render_as_string(hide_password=False), busy_timeout=30)
    with locked(_file(engine)) as holder:
        release = threading.Timer(0.5, lambda: holder.execute("ROLLBACK") and None)
        release.start()
        with transaction(patient) as session:  # waits for the timer, instead of failing at once
            session.execute(sa.text("UPDATE topics SET name = name"))
        release.join()
        holder.execute("BEGIN IMMEDIATE")  # for the context manager's own ROLLBACK
    patient.dispose()


def test_a_sign_up_on_a_locked_database_gets_a_plain_busy_page(
    config: Config, engine: Engine, clock: FixedClock
) -> None:
    impatient = make_engine(engine.url.render_as_string(hide_password=False), busy_timeout=0.2)
    app = create_app(config, impatient, MemoryTransport(), clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        page = client.get("/subscribe")
        data = {"csrf": csrf_of(page.text), "email": "ana@example.org", "topics": "monthly-newsletter"}
        with locked(_file(engine)):
            answer = client.post("/subscribe", data=data)
            api = client.post(
                "/api/subscribe", json={"email": "b@example.org", "topics": ["monthly-newsletter"]}
            )
    assert answer.status_code == 503 and "busy" in answer.text and "Traceback" not in answer.text
    assert answer.headers["retry-after"] and answer.headers["x-frame-options"] == "DENY"
    assert api.status_code == 503 and api.json()["errors"]
    impatient.dispose()


def test_the_cli_says_one_line_when_the_database_is_locked(project: Path, engine: Engine) -> None:
    env = {
        "OUTREACH_SECRET_KEY": TEST_SECRET,
        "OUTREACH_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "PATH": "/usr/bin:/bin",
    }
    script = (
        "import outreach.audience.db as db; db.BUSY_TIMEOUT = 0.2; "
        "import sys; from outreach.cli import main; main(sys.argv[1:])"
    )
    command = ["lists", "add", "new@example.org", "--consent", "admin", "--root", str(project)]
    with locked(_file(engine)):
        done = subprocess.run(
            [sys.executable, "-c", script, *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "is locked by another process" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+nosuchdriver://outreach:{PASSWORD}@db.example/outreach",
        f"nosuchdialect://outreach:{PASSWORD}@db.example/outreach",
        f"postgresql://outreach:{PASSWORD}@db.example:notaport/outreach",
    ],
)
def test_a_bad_database_url_is_refused_without_its_password(url: str) -> None:
    with pytest.raises(DatabaseError) as refused:
        make_engine(url)
    message = str(refused.value)
    assert PASSWORD not in message and "db.example" in message and "***" in message


def test_the_cli_never_prints_the_password_of_a_database_url(project: Path) -> None:
    env = {
        "OUTREACH_SECRET_KEY": TEST_SECRET,
        "OUTREACH_DATABASE_URL": f"postgresql+nosuchdriver://outreach:{PASSWORD}@db.example/outreach",
        "PATH": "/usr/bin:/bin",
    }
    command = ["campaigns", "list", "--root", str(project)]
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from outreach.cli import main; main(sys.argv[1:])", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert PASSWORD not in done.stdout + done.stderr and "***" in done.stderr


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("postgresql://u:p%40ss@h:5432/d?x=1") == "postgresql://u:***@h:5432/d?x=1"
    assert redact_url("sqlite:///outreach.db") == "sqlite:///outreach.db"
    assert redact_url("postgresql://u@h/d") == "postgresql://u@h/d"
