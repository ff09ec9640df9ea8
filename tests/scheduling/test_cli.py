"""``outreach schedule ...`` and ``outreach campaigns list|status`` as people run them: real processes.

Every error path ends in one ``error:`` line that says what to do, exit code 2 and no traceback; times
are shown in the configured zone (here Europe/Paris, so nothing passes by being Eastern or UTC by
accident), with the zone named. Processes rather than ``CliRunner``: a traceback printed by a thread
(APScheduler's) or by logging would be swallowed by pytest in-process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from outreach.audience import Consent, ConsentMethod, Profile, add_subscriber, make_engine, transaction
from outreach.audience.topics import TopicDefinition, sync_topics
from outreach.clock import SystemClock
from tests.conftest import REPO, TEST_SECRET
from tests.delivery.subprocess_project import CLI

PARIS = ZoneInfo("Europe/Paris")
FAR = datetime.now(UTC) + timedelta(days=40)


def environment(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    env.update(OUTREACH_SECRET_KEY=TEST_SECRET, OUTREACH_ROOT=str(root), PYTHONPATH=str(REPO), COLUMNS="200")
    env["NO_COLOR"] = "1"
    return env


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def site(project: Path, sqlite_template: Path, topics: tuple[TopicDefinition, ...]) -> Iterator[Path]:
    """The temp project on Paris time, with a migrated database and one reader in Tokyo."""
    toml = project / "outreach.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text.replace('time_zone = "America/New_York"', 'time_zone = "Europe/Paris"'), "utf-8")
    shutil.copy(sqlite_template, project / "outreach.db")
    engine = make_engine(f"sqlite:///{project / 'outreach.db'}")
    with transaction(engine) as session:
        sync_topics(session, topics)
        add_subscriber(
            session,
            "hana@example.org",
            consent=Consent(ConsentMethod.ADMIN, source="test"),
            clock=SystemClock(),
            profile=Profile(first_name="Hana", time_zone="Asia/Tokyo"),
            topics=["monthly-newsletter"],
        )
    engine.dispose()
    yield project


@pytest.fixture
def run(site: Path) -> Run:
    def outreach(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args],
            cwd=site,
            env=environment(site),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return outreach


def write_issue(
    root: Path, send_at: datetime | None, status: str = "ready", name: str = "2027-01-news"
) -> Path:
    path = root / "newsletters" / f"{name}.md"
    when = f'send_at: "{send_at.astimezone(PARIS).strftime("%Y-%m-%d %H:%M")}"\n' if send_at else ""
    path.write_text(
        "---\nsubject: January news\npreheader: A preheader long enough to pass the check\n"
        f"date: 2027-01-01\naudience: {{topics: [monthly-newsletter]}}\n{when}status: {status}\n---\n"
        'Dear {{ subscriber.first_name | default("friend") }}, hello.\n',
        encoding="utf-8",
    )
    return path


def one_error_line(done: subprocess.CompletedProcess[str], *expected: str) -> str:
    """The command failed with exactly one ``error:`` line containing ``expected``, and no traceback."""
    shown = done.stdout + done.stderr
    assert "Traceback" not in shown, shown
    assert done.returncode == 2, shown
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), shown
    for words in expected:
        assert words in lines[0], shown
    return lines[0]


def test_schedule_with_local_time_when_a_zone_has_passed_says_so_without_a_traceback(
    site: Path, run: Run
) -> None:
    """Due in half an hour in Paris: that clock time passed in Tokyo (7 or 8 h ahead) over 6 h ago, past the
    6 h grace. Scheduling works, says who will miss it, and leaves no job in the past for APScheduler."""
    soon = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=30)
    done = run("schedule", str(write_issue(site, soon)), "--local-time")
    shown = done.stdout + done.stderr
    assert done.returncode == 0 and "Traceback" not in shown, shown
    assert "readers in Asia/Tokyo will not get it" in done.stdout
    with sqlite3.connect(site / "outreach.db") as db:
        (next_run,) = db.execute("SELECT next_run_time FROM apscheduler_jobs").fetchone()
    assert next_run >= datetime.now(UTC).timestamp() - 120, "the job is not put in the past"


def test_times_are_shown_in_the_configured_zone_with_its_name(site: Path, run: Run) -> None:
    scheduled = run("schedule", str(write_issue(site, FAR)))
    assert scheduled.returncode == 0, scheduled.stdout + scheduled.stderr
    named = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)? CES?T\b")
    assert named.search(scheduled.stdout), scheduled.stdout

    listed = run("campaigns", "list")
    row = next(line for line in listed.stdout.splitlines() if "2027-01-news" in line)
    assert named.search(row), listed.stdout
    status = run("campaigns", "status", "1")
    history = [line for line in status.stdout.splitlines() if line.startswith("  2")]
    assert history and named.match(history[0].strip()), status.stdout

    offsets = ("+01:00", "+02:00")
    (campaign,) = json.loads(run("campaigns", "list", "--json").stdout)
    assert campaign["created_at"].endswith(offsets)
    events = json.loads(run("campaigns", "status", "1", "--json").stdout)["history"]
    assert events and all(e["at"].endswith(offsets) for e in events)
    issues = json.loads(run("schedule", "list", "--json").stdout)["issues"]
    assert issues[0]["send_at"].endswith(offsets)


def test_every_error_path_of_schedule_is_one_line_that_says_what_to_do(site: Path, run: Run) -> None:
    """Each way ``outreach schedule ...`` and ``outreach scheduler run`` can fail, one after another."""
    issue_errors(site, run)
    automations_file_error(site, run)
    settings_errors(site, run)
    state_errors(site, run)
    database_errors(site, run)


def issue_errors(site: Path, run: Run) -> None:
    one_error_line(run("schedule", "newsletters/nowhere.md"), "no such issue file", "outreach new")
    one_error_line(run("schedule", str(write_issue(site, FAR, status="draft"))), "draft", "status: ready")
    one_error_line(run("schedule", str(write_issue(site, None))), "has no send_at", "send_at: 2026-12-01")
    past = datetime.now(UTC) - timedelta(days=1)
    one_error_line(run("schedule", str(write_issue(site, past))), "in the past", "outreach send")
    one_error_line(
        run("schedule", str(write_issue(site, FAR)), "--transport", "pigeon"), "no transport named 'pigeon'"
    )


def automations_file_error(site: Path, run: Run) -> None:
    folder = site / "newsletters" / "automations"
    folder.mkdir()
    (folder / "automations.yaml").write_text("welcome-1: {after: confirmation}\nwelcome-2: [\n", "utf-8")
    line = one_error_line(
        run("schedule", "pause-automation", "welcome"), "automations.yaml:3", "not valid YAML"
    )
    assert "<unicode string>" not in line
    shutil.rmtree(folder)


def settings_errors(site: Path, run: Run) -> None:
    toml = site / "outreach.toml"
    good = toml.read_text(encoding="utf-8")
    toml.write_text(
        good.replace("grace_hours = 6", 'grace_hours = 6\nwindow_start = "7am"\nwindow_end = "20:00"')
    )
    one_error_line(run("schedule", "list"), "[schedule.window_start]", "07:00")
    one_error_line(run("scheduler", "run"), "[schedule.window_start]", "07:00")
    toml.write_text(good)


def state_errors(site: Path, run: Run) -> None:
    one_error_line(run("schedule", "cancel", "2027-01-news"), "is not scheduled", "outreach schedule list")
    one_error_line(run("schedule", "pause-automation", "welcome"), "no automation step or series 'welcome'")
    assert run("schedule", str(write_issue(site, FAR))).returncode == 0
    with sqlite3.connect(site / "outreach.db") as db:
        db.execute("UPDATE campaigns SET status = 'sending'")
    one_error_line(run("schedule", str(write_issue(site, FAR))), "already sending", "campaigns status 1")
    one_error_line(
        run("schedule", "cancel", "2027-01-news"), "already sending", "outreach campaigns cancel 1"
    )


def database_errors(site: Path, run: Run) -> None:
    # Another process holds the write lock for longer than SQLite waits (5 s).
    holder = sqlite3.connect(site / "outreach.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        february = write_issue(site, FAR, name="2027-02-news")
        one_error_line(run("schedule", str(february)), "is locked by another process", "try again")
    finally:
        holder.close()
    for file in site.glob("outreach.db*"):  # the database and its WAL: a new, empty one
        file.unlink()
    one_error_line(run("schedule", "list"), "outreach db upgrade")
