"""Two ``outreach send --yes`` of one issue started together on PostgreSQL: one campaign, nobody twice.

The database decides (a partial unique index on the issue and its language among active campaigns):
whichever process inserts its campaign second queues nobody and says which campaign is already
sending. Each round is a new issue, so every round is a fresh race.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
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
ROUNDS = 6


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
    toml = (REPO / "outreach.toml").read_text(encoding="utf-8")
    (root / "outreach.toml").write_text(
        toml + '\n[transports.memory]\nbackend = "memory"\n', encoding="utf-8"
    )
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


def test_two_sends_of_one_issue_started_together_make_one_campaign(
    project: tuple[Path, dict[str, str]],
) -> None:
    root, env = project
    engine = make_engine(env["OUTREACH_DATABASE_URL"])
    raced = 0
    try:
        for round_number in range(ROUNDS):
            slug = f"2026-12-round-{round_number}"
            (root / "newsletters" / f"{slug}.md").write_text(ISSUE, encoding="utf-8")
            command = [*CLI, "send", f"newsletters/{slug}.md", "--yes", "--transport", "memory"]
            sends = [
                subprocess.Popen(
                    command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                )
                for _ in range(2)
            ]
            outputs = [send.communicate(timeout=120) for send in sends]
            with engine.connect() as connection:
                campaigns = connection.execute(
                    sa.text("SELECT id, status FROM campaigns WHERE issue_slug = :slug"), {"slug": slug}
                ).all()
                per_subscriber = connection.execute(
                    sa.text(
                        "SELECT d.subscriber_id, count(*) FROM deliveries d JOIN campaigns c "
                        "ON c.id = d.campaign_id WHERE c.issue_slug = :slug GROUP BY d.subscriber_id"
                    ),
                    {"slug": slug},
                ).all()
            assert [str(status) for _, status in campaigns] == ["done"], (campaigns, outputs)
            assert len(per_subscriber) == SUBSCRIBERS
            assert {count for _, count in per_subscriber} == {1}  # nobody queued twice
            codes = sorted(send.returncode for send in sends)
            assert codes == [0, 2], outputs
            loser = next(err for send, (_, err) in zip(sends, outputs, strict=True) if send.returncode == 2)
            (winner,) = [number for number, _ in campaigns]
            if "is already" in loser:  # they met in the database; else the loser came after the end
                raced += 1
                assert f"campaign {winner} of {slug} (en) is already sending" in " ".join(loser.split())
            else:
                assert "nobody to send to" in loser, loser
        print(f"{raced} of {ROUNDS} rounds met in the database")
        assert raced >= 1, "the two sends never overlapped: the test did not race"
    finally:
        engine.dispose()
