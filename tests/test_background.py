"""Campaigns sent in the background of the admin app: one thread per campaign, every row sent."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from outreach.audience import make_engine, transaction
from outreach.config import load_config
from outreach.delivery import ledger
from outreach.models import Actor
from outreach.operations import Purpose, plan_send, start_campaign
from outreach.operations.background import BackgroundSends
from tests.test_send_gate import AUDIENCE


def test_a_background_send_finishes_and_a_campaign_is_never_run_twice_at_once(
    project: Path, site: dict[str, str], write_issue: Callable[..., Path]
) -> None:
    issue = write_issue(status="ready", **AUDIENCE)
    config = load_config(project, environ=site)
    engine = make_engine(config.database_url)
    planned = plan_send(config, engine, issue, purpose=Purpose.SEND)
    campaign_id = start_campaign(config, engine, planned, actor=Actor("maria@laptop", "cli", "laptop"))
    sends = BackgroundSends(config, engine)
    assert sends.start(campaign_id, "outbox")
    sends.join(campaign_id, timeout=60)
    with transaction(engine) as session:
        assert ledger.counts(session, campaign_id)["sent"] == 1
    assert len(list((project / "outbox" / "new").iterdir())) == 1

    release = threading.Event()
    calls: list[int] = []

    def slow(*args: object) -> None:
        calls.append(1)
        release.wait(10)

    held = BackgroundSends(config, engine, runner=slow)
    assert held.start(campaign_id, "outbox") and held.running(campaign_id)
    assert not held.start(campaign_id, "outbox")  # already sending in this process
    release.set()
    held.join(campaign_id, timeout=10)
    assert calls == [1] and not held.running(campaign_id)
