"""Real ``outreach scheduler run`` processes on a SQLite project with the Maildir transport.

- killed with SIGKILL before the due time and restarted after it (within grace): sent exactly once;
- two schedulers on one database: one active, one standby; each issue sent exactly once, and the
  standby takes over when the active one is SIGKILLed (its 2 s lease runs out);
- a send whose due time is past the grace when the scheduler comes back: missed, with history.

Nothing here depends on how fast the machine is. Issues are scheduled days ahead (so a slow command
can never make them due early), and the test moves the due time into the past itself, in the
campaign row and in its job, at the moment the scenario needs it: "time passes" is a step of the
test, taken after the processes are observably in the state it wants (active, standby, killed). Every
wait is for something the processes do, with a generous cap only so that a broken build ends.
Every child process is killed in ``finally``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from outreach.audience import Consent, ConsentMethod, add_subscriber, make_engine, transaction
from outreach.clock import SystemClock
from outreach.delivery.schema import Campaign, CampaignStatus
from outreach.scheduling.aps import StoredJobs
from outreach.scheduling.planning import job_id
from outreach.transports.maildir import messages
from tests.conftest import REPO, TEST_SECRET
from tests.delivery.subprocess_project import CLI

READERS = ["ana@example.org", "ben@example.org", "cleo@example.org"]
FAST = ["--lease-seconds", "2", "--poll", "0.3"]
# Only so that a broken build ends: a slow machine passes, later.
CAP = 180.0
GRACE = timedelta(hours=6)


def environment(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    env.update(
        OUTREACH_SECRET_KEY=TEST_SECRET,
        OUTREACH_ROOT=str(root),
        PYTHONPATH=str(REPO),
        COLUMNS="200",
        NO_COLOR="1",
    )
    return env


def outreach(root: Path, *args: str) -> str:
    done = subprocess.run(
        [*CLI, *args],
        cwd=root,
        env=environment(root),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"outreach {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


class Schedulers:
    """Starts scheduler processes, each writing to its own log; kills them all at the end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.running: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.root / f"scheduler-{len(self.running)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*CLI, "scheduler", "run", *FAST],
                cwd=self.root,
                env=environment(self.root),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.running.append((process, log))
        return process, log

    def kill_all(self) -> None:
        for process, _log in self.running:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


@pytest.fixture
def schedulers(project: Path) -> Iterator[Schedulers]:
    found = Schedulers(project)
    try:
        yield found
    finally:
        found.kill_all()


def kill(process: subprocess.Popen[bytes]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def wait_for(what: Callable[[], bool], why: str, logs: list[Path] | None = None) -> None:
    deadline = time.monotonic() + CAP
    while time.monotonic() < deadline:
        if what():
            return
        time.sleep(0.1)
    shown = "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')}" for log in logs or [])
    pytest.fail(f"timed out waiting for {why}\n{shown}")


def said(log: Path, text: str) -> bool:
    return text in log.read_text(errors="replace")


def prepare(root: Path) -> None:
    outreach(root, "db", "upgrade")
    engine = make_engine(f"sqlite:///{root / 'outreach.db'}")
    with transaction(engine) as session:
        for address in READERS:
            add_subscriber(
                session,
                address,
                consent=Consent(ConsentMethod.ADMIN, source="test"),
                clock=SystemClock(),
                topics=["monthly-newsletter"],
            )
    engine.dispose()


def write_issue(root: Path, slug: str, subject: str, send_at: datetime) -> Path:
    path = root / "newsletters" / f"{slug}.md"
    path.write_text(
        f"""---
subject: {subject}
preheader: A preheader long enough to pass the check
date: 2026-12-01
audience: {{topics: [monthly-newsletter]}}
send_at: "{send_at.isoformat()}"
status: ready
---
Dear {{{{ subscriber.first_name | default("friend") }}}}, hello.
""",
        encoding="utf-8",
    )
    return path


def schedule(root: Path, slug: str, subject: str) -> None:
    """Schedule through the CLI, days ahead: however long the command takes, it is not due yet."""
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    outreach(root, "schedule", str(write_issue(root, slug, subject, due)))


def time_passes(root: Path, slug: str, since_due: timedelta) -> None:
    """The clock reaches the issue's due time and goes ``since_due`` beyond it: its campaign row and its
    job now say what they would have said had it been scheduled for then (as a real wait would)."""
    engine = make_engine(f"sqlite:///{root / 'outreach.db'}")
    due = datetime.now(UTC) - since_due
    with transaction(engine) as session:
        found = session.scalars(
            sa.select(Campaign).where(
                Campaign.issue_slug == slug, Campaign.status == CampaignStatus.SCHEDULED
            )
        ).one()
        found.send_at = due
        campaign_id = found.id
    StoredJobs(engine, GRACE).put(job_id(slug), due, campaign_id)
    engine.dispose()


def campaign(root: Path, slug: str) -> tuple[int, str, list[str]]:
    with sqlite3.connect(root / "outreach.db") as db:
        found = db.execute("SELECT id, status FROM campaigns WHERE issue_slug = ?", (slug,)).fetchone()
        if found is None:
            return 0, "", []
        kinds = [
            k
            for (k,) in db.execute(
                "SELECT kind FROM campaign_events WHERE campaign_id = ? ORDER BY id", (found[0],)
            )
        ]
    return int(found[0]), str(found[1]), kinds


def received(root: Path, subject: str) -> Counter[str]:
    return Counter(
        str(m["To"]).split("<")[-1].rstrip(">") for m in messages(root / "outbox") if m["Subject"] == subject
    )


def test_killed_before_due_and_restarted_within_grace_sends_exactly_once(
    project: Path, schedulers: Schedulers
) -> None:
    prepare(project)
    first, log = schedulers.start()
    wait_for(lambda: said(log, "active:"), "the first scheduler to become active", [log])
    schedule(project, "2026-12-kill", "Killed and back")
    kill(first)  # before the due time: it is days away
    time_passes(project, "2026-12-kill", since_due=timedelta(minutes=5))  # within the 6 h grace
    assert campaign(project, "2026-12-kill")[1] == "scheduled", "nothing may go while no scheduler runs"
    _second, log2 = schedulers.start()
    wait_for(lambda: campaign(project, "2026-12-kill")[1] == "done", "the campaign to finish", [log, log2])
    assert received(project, "Killed and back") == Counter({address: 1 for address in READERS})
    kinds = campaign(project, "2026-12-kill")[2]
    assert kinds.count("started") == 1 and kinds[0] == "scheduled" and kinds[-1] == "finished"
    # What the scheduler prints is stamped in the configured zone, named.
    stamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d E[SD]T active: ", re.MULTILINE)
    assert stamp.search(log2.read_text(errors="replace"))


def test_two_schedulers_send_once_and_the_standby_takes_over(project: Path, schedulers: Schedulers) -> None:
    prepare(project)
    active, log_a = schedulers.start()
    wait_for(lambda: said(log_a, "active:"), "the first scheduler to become active", [log_a])
    _standby, log_b = schedulers.start()
    wait_for(lambda: said(log_b, "standby:"), "the second scheduler to wait as standby", [log_a, log_b])
    assert not said(log_b, "active:")

    schedule(project, "2026-12-first", "While both run")
    time_passes(project, "2026-12-first", since_due=timedelta(seconds=1))
    wait_for(lambda: campaign(project, "2026-12-first")[1] == "done", "the first issue", [log_a, log_b])
    assert received(project, "While both run") == Counter({address: 1 for address in READERS})

    schedule(project, "2026-12-second", "After the takeover")
    kill(active)  # before the second issue is due, so only the standby can send it
    time_passes(project, "2026-12-second", since_due=timedelta(seconds=1))
    wait_for(lambda: said(log_b, "active:"), "the standby to take over", [log_a, log_b])
    wait_for(lambda: campaign(project, "2026-12-second")[1] == "done", "the second issue", [log_a, log_b])
    assert received(project, "After the takeover") == Counter({address: 1 for address in READERS})
    assert received(project, "While both run") == Counter({address: 1 for address in READERS})


def test_past_grace_is_marked_missed_and_reported(project: Path, schedulers: Schedulers) -> None:
    prepare(project)
    schedule(project, "2026-12-late", "Too late")
    time_passes(project, "2026-12-late", since_due=GRACE + timedelta(minutes=1))
    _process, log = schedulers.start()
    wait_for(lambda: campaign(project, "2026-12-late")[1] == "missed", "the send to be marked missed", [log])
    wait_for(lambda: said(log, "MISSED campaign"), "a loud MISSED line", [log])
    assert campaign(project, "2026-12-late")[2] == ["scheduled", "missed"]
    assert received(project, "Too late") == Counter()
    listed = json.loads(outreach(project, "schedule", "list", "--json"))
    (row,) = listed["issues"]
    assert row["status"] == "missed" and row["issue"] == "2026-12-late"
    assert row["send_at"].endswith(("-05:00", "-04:00")), "times are shown in the configured zone"
