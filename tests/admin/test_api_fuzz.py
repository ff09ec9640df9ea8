"""schemathesis against /admin/api/openapi.json, with an admin's token, on SQLite and PostgreSQL: whatever
it is sent, the API never answers with a server error and every answer (errors included) matches the
document. The command line runs with ``--checks all`` (and the coverage phase: missing and malformed
bodies, wrong methods, no token) against a real uvicorn; examples per operation are bounded so the
run stays short. The site has an issue ready to send, a finished campaign and a sending one, so the
fuzzer reaches real data as well as missing ids.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine

from outreach.accounts.schema import Role
from outreach.audience import transaction
from outreach.checks.spam import spamassassin_available
from outreach.clock import FixedClock
from outreach.delivery.schema import CampaignStatus, DeliveryState
from tests.admin.campaign_fill import campaign, row, sent_campaign
from tests.admin.campaign_fill import people as subscribers
from tests.admin.campaign_fill import topics as add_topics
from tests.admin.live import live_admin
from tests.admin.test_api import token_for
from tests.conftest import EXAMPLE_ISSUE


def without_spamassassin(folder: Path) -> str:
    """A PATH on which every program of this one is found except ``spamassassin``.

    The run is about the API's contract; SpamAssassin's score has its own tests and costs seconds per
    plan on a busy machine (the fuzzer asks for hundreds). Without it the plan says "not scored".
    """
    folder.mkdir()
    kept = []
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if entry and (Path(entry) / "spamassassin").exists():
            for program in Path(entry).iterdir():
                if program.name != "spamassassin" and not (folder / program.name).exists():
                    (folder / program.name).symlink_to(program)
        elif entry:
            kept.append(entry)
    return os.pathsep.join([*kept, str(folder)])


MAX_EXAMPLES = 3  # per operation and phase: the send plan scores spam, so a few go a long way on 2 cores


def test_no_input_to_the_admin_api_gets_a_server_error_or_an_undocumented_answer(
    project: Path,
    engine: Engine,
    clock: FixedClock,
    people: dict[Role, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", without_spamassassin(tmp_path / "bin"))
    assert not spamassassin_available()
    shutil.copy(EXAMPLE_ISSUE, project / "newsletters" / EXAMPLE_ISSUE.name)
    with transaction(engine) as session:
        add_topics(session)
        sent_campaign(session, clock, clock.now())
        sending = campaign(session, clock.now(), status=CampaignStatus.SENDING)
        for who in subscribers(session, clock, 3):
            row(session, sending, who, DeliveryState.PENDING, None)
    token = token_for(engine, clock, Role.ADMIN)["Authorization"]
    with live_admin(project, engine, clock) as (base, _config):
        served = httpx.get(f"{base}/admin/api/openapi.json", headers={"Authorization": token})
        assert served.status_code == 200
        schema = tmp_path / "openapi.json"
        schema.write_text(served.text)
        command = [
            sys.executable, "-m", "schemathesis.cli", "run", str(schema),
            "--url", f"{base}/admin",
            "--header", f"Authorization: {token}",
            "--checks", "all",
            "--max-response-time", "600",  # no timing here: a send plan scores spam for seconds
            "--phases", "examples,coverage,fuzzing",
            "--max-examples", str(MAX_EXAMPLES),
            "--seed", "20261201",
            "--workers", "1",
            "--request-timeout", "300",
            "--suppress-health-check", "all",
            "--no-color",
        ]  # fmt: skip
        done = subprocess.run(
            command, capture_output=True, text=True, cwd=tmp_path, timeout=1800, check=False
        )
    assert done.returncode == 0, done.stdout[-30000:] + done.stderr[-3000:]
    assert "No issues found" in done.stdout or "passed" in done.stdout.lower(), done.stdout[-3000:]
