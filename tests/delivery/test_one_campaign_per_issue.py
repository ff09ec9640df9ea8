"""Two processes create a campaign of one issue at the same moment on PostgreSQL: one campaign, nobody
queued twice, and the other process is told which campaign is already sending.

Each process does what ``outreach send --yes`` does before sending (config, render, segments), then
waits at a barrier (a file the test creates once both are ready), so both INSERTs meet in the database
every round: the decision is the database's (a partial unique index on the issue
among active campaigns), not a read-then-write check. Each round is a new issue.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from outreach.audience import make_engine
from tests.conftest import REPO, TEST_SECRET
from tests.databases import PG_SKIP, PG_URL, pg_url
from tests.delivery.subprocess_project import CLI, ISSUE

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(not PG_URL, reason=PG_SKIP)]

SUBSCRIBERS = 1500
ROUNDS = 8

# One contender: ready, wait for the barrier, create the campaign; prints what happened as JSON.
CONTENDER = """
import json, sys, time
from pathlib import Path
from outreach.audience import load_segments, make_engine, transaction
from outreach.audience.subscribers import known_topics
from outreach.clock import SystemClock
from outreach.config import load_config
from outreach.content import read_issue
from outreach.delivery.campaigns import create_campaign, sender_for
from outreach.errors import OutreachError
from outreach.render import render_issue

root, slug, me = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
config = load_config(root)
compiled = render_issue(read_issue(root / "newsletters" / f"{slug}.md", config.time_zone), config)
engine = make_engine(config.database_url)
with transaction(engine) as session:
    segments = load_segments(root / "lists" / "segments.yaml", known_topics(session))
(root / f"{slug}.{me}.ready").touch()
while not (root / f"{slug}.go").exists():
    time.sleep(0.0005)
try:
    with transaction(engine) as session:
        campaign = create_campaign(
            session, compiled, sender_for(config, compiled), compiled.issue.audience, segments, "memory",
            SystemClock(),
        )
        print(json.dumps({"created": campaign.id}))
except OutreachError as err:
    print(json.dumps({"refused": str(err)}))
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    schema = f"t_race_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(sa.schema.CreateSchema(schema))
    root = tmp_path / "project"
    root.mkdir()
    shutil.copytree(REPO / "templates", root / "templates")
    shutil.copytree(REPO / "lists", root / "lists")
    (root / "newsletters").mkdir()
    shutil.copy(REPO / "outreach.toml", root / "outreach.toml")
    with (root / "subscribers.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["Email", "First Name", "Topics"])
        for number in range(SUBSCRIBERS):
            writer.writerow([f"reader{number:05d}@example.org", f"Reader{number}", "monthly-newsletter"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    env.update(
        OUTREACH_SECRET_KEY=TEST_SECRET,
        OUTREACH_ROOT=str(root),
        OUTREACH_DATABASE_URL=pg_url(schema),
        COLUMNS="200",
        NO_COLOR="1",
    )
    for args in (["db", "upgrade"], ["lists", "import", "subscribers.csv", "--consent", "test"]):
        done = subprocess.run([*CLI, *args], cwd=root, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    try:
        yield root, env
    finally:
        with admin.begin() as connection:
            connection.execute(sa.schema.DropSchema(schema, cascade=True, if_exists=True))
        admin.dispose()


def race(root: Path, env: dict[str, str], slug: str) -> list[dict[str, object]]:
    """Two contenders for ``slug``, released together; what each of them said."""
    contenders = [
        subprocess.Popen(
            [sys.executable, "-c", CONTENDER, str(root), slug, name],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    deadline = time.monotonic() + 120
    while not all((root / f"{slug}.{name}.ready").exists() for name in ("a", "b")):
        assert time.monotonic() < deadline, [c.poll() for c in contenders]
        assert all(c.poll() is None for c in contenders), [c.communicate() for c in contenders]
        time.sleep(0.01)
    (root / f"{slug}.go").touch()
    said = []
    for contender in contenders:
        out, err = contender.communicate(timeout=120)
        assert contender.returncode == 0, out + err
        said.append(json.loads(out.strip().splitlines()[-1]))
    return said


def test_two_campaigns_of_one_issue_created_together_make_one(project: tuple[Path, dict[str, str]]) -> None:
    root, env = project
    engine = make_engine(env["OUTREACH_DATABASE_URL"])
    try:
        for round_number in range(ROUNDS):
            slug = f"2026-12-round-{round_number}"
            (root / "newsletters" / f"{slug}.md").write_text(ISSUE, encoding="utf-8")
            said = race(root, env, slug)
            with engine.connect() as connection:
                campaigns = connection.scalars(
                    sa.text("SELECT id FROM campaigns WHERE issue_slug = :slug"), {"slug": slug}
                ).all()
                per_subscriber = connection.execute(
                    sa.text(
                        "SELECT d.subscriber_id, count(*) FROM deliveries d JOIN campaigns c "
                        "ON c.id = d.campaign_id WHERE c.issue_slug = :slug GROUP BY d.subscriber_id"
                    ),
                    {"slug": slug},
                ).all()
            assert len(campaigns) == 1, (said, campaigns)
            assert len(per_subscriber) == SUBSCRIBERS
            assert {count for _, count in per_subscriber} == {1}  # nobody queued twice
            (winner,) = campaigns
            created = [s["created"] for s in said if "created" in s]
            refused = [str(s["refused"]) for s in said if "refused" in s]
            assert created == [winner] and len(refused) == 1, said
            assert f"campaign {winner} of {slug} is already sending" in refused[0]
    finally:
        engine.dispose()
