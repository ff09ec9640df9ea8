"""What the public archive and feeds show: only campaigns created to be archived.

A full send of a ready issue is archived; a ``--limit`` send, a test send, an automation's mail to one
person, a draft and an issue that says ``archive: false`` are not. ``archived_issues`` is what the
archive page and the RSS and Atom feeds list, ``web_version`` what an issue's page shows.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, fields, replace
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from outreach.audience import transaction
from outreach.clock import FixedClock
from outreach.config import load_config
from outreach.delivery.campaigns import archivable
from outreach.delivery.schema import Campaign
from outreach.models import Issue, IssueStatus
from outreach.scheduling.automations import run_automations, slug_of
from outreach.scheduling.steps import load_steps
from outreach.web.archive import archived_issues, web_version
from tests.delivery.conftest import BASE_URL, ISSUE_SLUG, REPO, SECRET, Bench, TimedMemory, copy_project


def archived(bench: Bench) -> list[str]:
    with transaction(bench.engine) as session:
        return [issue.slug for issue in archived_issues(session, BASE_URL)]


def shown(bench: Bench, slug: str) -> bool:
    with transaction(bench.engine) as session:
        return web_version(session, slug, BASE_URL, SECRET) is not None


def outreach(project: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin"),
        "HOME": str(project),
        "OUTREACH_SECRET_KEY": SECRET,
        "OUTREACH_DATABASE_URL": database_url,
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", "from outreach.cli import main; main()", *args, "--root", str(project)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_limited_and_test_sends_are_not_archived_a_full_send_is(
    bench: Bench, database_url: str, tmp_path: Path
) -> None:
    project = copy_project(tmp_path / "project")
    bench.people(5)
    issue = str(project / "newsletters" / f"{ISSUE_SLUG}.md")

    outreach(project, database_url, "send", issue, "--yes", "--limit", "2")
    assert archived(bench) == [] and not shown(bench, ISSUE_SLUG)  # a trial run to a few is not published

    outreach(project, database_url, "send", issue, "--test-to", "coordinator@vaimh.example")
    with transaction(bench.engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 1  # a test makes none
    assert archived(bench) == []

    outreach(project, database_url, "send", issue, "--yes")
    assert archived(bench) == [ISSUE_SLUG]
    assert shown(bench, ISSUE_SLUG)


def test_an_automations_mail_never_appears_in_the_archive(bench: Bench, tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    shutil.copytree(REPO / "newsletters" / "automations", project / "newsletters" / "automations")
    config = load_config(project, environ={"OUTREACH_SECRET_KEY": SECRET})
    bench.add("goer@example.org", topics=("trainings-events",))
    (step,) = [s for s in load_steps(project / "newsletters" / "automations") if s.name == "event-reminder"]
    assert step.trigger.event_date is not None
    # The event reminder goes from 10:00 New York the day before the event: 11:00 that day.
    day_before = step.trigger.event_date - timedelta(days=step.trigger.days)
    clock = FixedClock(datetime.combine(day_before, time(11), ZoneInfo("America/New_York")))
    assert run_automations(bench.engine, config, clock)
    slug = slug_of("event-reminder")
    with transaction(bench.engine) as session:
        campaign_id = session.scalar(sa.select(Campaign.id).where(Campaign.issue_slug == slug))
    assert campaign_id is not None
    bench.run(campaign_id, TimedMemory(bench.clock))
    assert bench.counts(campaign_id)["sent"] == 1
    assert archived(bench) == []
    assert not shown(bench, slug)


@dataclass(frozen=True)
class _IssueSayingArchive(Issue):
    """An issue whose front matter has the coming ``archive`` field."""

    archive: bool = True


def test_only_a_full_send_of_a_ready_issue_that_allows_it_is_archivable(bench: Bench) -> None:
    ready = replace(bench.compiled.issue, status=IssueStatus.READY)
    assert archivable(ready, None)
    assert not archivable(ready, 3)  # --limit
    assert not archivable(replace(ready, status=IssueStatus.DRAFT), None)
    values = {f.name: getattr(ready, f.name) for f in fields(ready)}
    assert archivable(_IssueSayingArchive(**values, archive=True), None)
    assert not archivable(_IssueSayingArchive(**values, archive=False), None)
