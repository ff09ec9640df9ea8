"""Steering a campaign from the command line changes it and writes who did it to the audit log."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from outreach.audience import make_engine, transaction
from outreach.audience.audit import entries
from outreach.cli import app
from outreach.config import load_config
from outreach.models import Actor
from outreach.operations import Purpose, plan_send, start_campaign
from tests.conftest import TEST_SECRET
from tests.test_send_gate import AUDIENCE

runner = CliRunner()


def test_pause_resume_and_cancel_are_audited(
    project: Path,
    site: dict[str, str],
    write_issue: Callable[..., Path],
) -> None:
    issue = write_issue(status="ready", **AUDIENCE)
    config = load_config(project, environ=site)
    engine = make_engine(config.database_url)
    planned = plan_send(config, engine, issue, purpose=Purpose.SEND)
    campaign_id = start_campaign(config, engine, planned, actor=Actor("maria@laptop", "cli", "laptop"))
    env = {"OUTREACH_SECRET_KEY": TEST_SECRET, "OUTREACH_DATABASE_URL": config.database_url}
    for args in (["pause"], ["resume", "--no-run"], ["cancel"]):
        result = runner.invoke(
            app, ["campaigns", *args[:1], str(campaign_id), *args[1:], "--root", str(project)], env=env
        )
        assert result.exit_code == 0, result.output
    with transaction(engine) as session:
        log = entries(session)
    assert [(e.action, e.target, e.via) for e in log] == [
        ("campaign.cancel", f"campaign {campaign_id}", "cli"),
        ("campaign.resume", f"campaign {campaign_id}", "cli"),
        ("campaign.pause", f"campaign {campaign_id}", "cli"),
        ("campaign.send", f"campaign {campaign_id}", "cli"),
    ]
    assert log[0].detail == {"moved": 1}
