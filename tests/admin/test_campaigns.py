"""The campaigns pages: the list and a campaign's page, live progress as server-sent events, and
steering (admins only) through the audited library call, with the app sending a resumed campaign
itself. Both databases."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.testclient import TestClient

from outreach.accounts.schema import Role, User
from outreach.accounts.tokens import create_token
from outreach.audience import transaction
from outreach.audience.audit import entries
from outreach.clock import FixedClock
from outreach.config import Config
from outreach.delivery import ledger
from outreach.delivery.schema import CampaignStatus, DeliveryState
from outreach.models import Actor
from outreach.operations import Purpose, plan_send, start_campaign
from outreach.operations.background import BackgroundSends
from outreach.operations.steering import Steer, steer
from tests.admin.campaign_fill import Filled, campaign, people, row, sent_campaign, topics
from tests.admin.conftest import USERS, csrf_of, sign_in
from tests.ports import free_port
from tests.test_send_gate import AUDIENCE

START = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
CLI = Actor("maria@laptop", "cli")


@pytest.fixture
def filled(engine: Engine, clock: FixedClock) -> Filled:
    with transaction(engine) as session:
        topics(session)
        return sent_campaign(session, clock, START)


def sending_campaign(engine: Engine, clock: FixedClock, waiting: int = 3) -> int:
    """A campaign that is sending with ``waiting`` pending rows and one sent, and no sender running."""
    with transaction(engine) as session:
        topics(session)
        readers = people(session, clock, waiting + 1)
        cid = campaign(session, clock.now() - timedelta(minutes=2), status=CampaignStatus.SENDING)
        row(session, cid, readers[0], DeliveryState.SENT, clock.now())
        for who in readers[1:]:
            row(session, cid, who, DeliveryState.PENDING, None)
    return cid


def test_everyone_reads_the_campaigns_and_only_admins_see_the_controls(
    filled: Filled, client: TestClient
) -> None:
    sign_in(client, USERS[Role.VIEWER])
    listing = client.get("/admin/campaigns")
    assert listing.status_code == 200 and "December: holding the holidays" in listing.text
    page = client.get(f"/admin/campaigns/{filled.campaign_id}")
    assert page.status_code == 200
    assert "retry exhausted after 5 attempts: 451 busy" in page.text  # why rows failed
    assert "created" in page.text  # the history
    assert "/retry-failed" not in page.text and "/resend-unknown" not in page.text
    assert client.get("/admin/campaigns/999").status_code == 404
    client.post("/admin/logout", data={"csrf": csrf_of(page.text)})
    sign_in(client, USERS[Role.ADMIN])
    page = client.get(f"/admin/campaigns/{filled.campaign_id}")
    assert "/retry-failed" in page.text and "/resend-unknown" in page.text
    assert "/cancel" not in page.text  # a finished campaign cannot be cancelled


def test_steering_from_the_pages_is_audited_and_refusals_are_shown(
    engine: Engine, clock: FixedClock, client: TestClient
) -> None:
    cid = sending_campaign(engine, clock)
    sign_in(client, USERS[Role.EDITOR])
    csrf = csrf_of(client.get(f"/admin/campaigns/{cid}").text)
    assert client.post(f"/admin/campaigns/{cid}/pause", data={"csrf": csrf}).status_code == 403
    client.post("/admin/logout", data={"csrf": csrf})
    sign_in(client, USERS[Role.ADMIN])
    csrf = csrf_of(client.get(f"/admin/campaigns/{cid}").text)
    paused = client.post(f"/admin/campaigns/{cid}/pause", data={"csrf": csrf})
    assert paused.status_code == 200 and "The campaign is paused" in paused.text
    cancelled = client.post(f"/admin/campaigns/{cid}/cancel", data={"csrf": csrf})
    assert "is cancelled" in cancelled.text
    refused = client.post(f"/admin/campaigns/{cid}/resume", data={"csrf": csrf})
    assert refused.status_code == 400 and "was cancelled; it cannot be resumed" in refused.text
    with transaction(engine) as session:
        log = entries(session)
        counts = ledger.counts(session, cid)
    assert [(e.action, e.target, e.actor, e.via) for e in log[:2]] == [
        ("campaign.cancel", f"campaign {cid}", USERS[Role.ADMIN], "admin"),
        ("campaign.pause", f"campaign {cid}", USERS[Role.ADMIN], "admin"),
    ]
    assert log[0].detail == {"moved": 3} and counts["skipped"] == 3
    assert client.post("/admin/campaigns/999/pause", data={"csrf": csrf}).status_code == 404


def test_resend_unknown_needs_the_warning_confirmed(
    engine: Engine, filled: Filled, client: TestClient
) -> None:
    sign_in(client, USERS[Role.ADMIN])
    form = client.get(f"/admin/campaigns/{filled.campaign_id}/resend-unknown")
    assert "may get the mail twice" in form.text and "Resend to 1 recipients" in form.text
    csrf = csrf_of(form.text)
    unticked = client.post(f"/admin/campaigns/{filled.campaign_id}/resend-unknown", data={"csrf": csrf})
    assert unticked.status_code == 400 and "Nothing was sent again" in unticked.text
    with transaction(engine) as session:
        assert ledger.counts(session, filled.campaign_id)["unknown"] == 1
        assert not [e for e in entries(session) if e.action.startswith("campaign.")]
    confirmed = client.post(
        f"/admin/campaigns/{filled.campaign_id}/resend-unknown",
        data={"csrf": csrf, "twice": "understood"},
        follow_redirects=False,
    )
    assert confirmed.status_code == 303 and "done=campaign-resending" in confirmed.headers["location"]
    sends: BackgroundSends = client.app.routes[0].app.state.issue_desk.sends  # type: ignore[attr-defined]
    sends.join(filled.campaign_id, timeout=60)
    with transaction(engine) as session:
        log = entries(session)
        assert ledger.counts(session, filled.campaign_id)["unknown"] == 0
    assert (log[0].action, log[0].detail, log[0].actor) == (
        "campaign.resend-unknown",
        {"moved": 1},
        USERS[Role.ADMIN],
    )


def test_a_campaign_resumed_from_its_page_is_sent_by_the_app_to_everyone(
    admin_config: Config,
    engine: Engine,
    clock: FixedClock,
    client: TestClient,
    project: Path,
    write_issue: Callable[..., Path],
) -> None:
    with transaction(engine) as session:
        topics(session)
        people(session, clock, 4)
    issue = write_issue(status="ready", **AUDIENCE)
    planned = plan_send(admin_config, engine, issue, purpose=Purpose.SEND)
    cid = start_campaign(admin_config, engine, planned, actor=Actor("test", "cli"))
    steer(engine, cid, Steer.PAUSE, CLI, clock)
    sign_in(client, USERS[Role.ADMIN])
    page = client.get(f"/admin/campaigns/{cid}")
    assert "Resume sending" in page.text
    resumed = client.post(f"/admin/campaigns/{cid}/resume", data={"csrf": csrf_of(page.text)})
    assert resumed.status_code == 200 and "sending again" in resumed.text
    sends: BackgroundSends = client.app.routes[0].app.state.issue_desk.sends  # type: ignore[attr-defined]
    sends.join(cid, timeout=60)
    with transaction(engine) as session:
        assert ledger.counts(session, cid)["sent"] == 4
        assert entries(session)[0].action == "campaign.resume"
    assert len(list((project / "outbox" / "new").iterdir())) == 4


def _events(body: str) -> list[dict[str, object]]:
    return [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]


def test_the_progress_of_a_finished_campaign_is_one_event_that_says_so(
    filled: Filled, client: TestClient
) -> None:
    sign_in(client, USERS[Role.VIEWER])
    answer = client.get(f"/admin/campaigns/{filled.campaign_id}/progress")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
    assert answer.text.startswith("retry: 3000\n")
    [only] = _events(answer.text)
    assert only["finished"] is True and only["status"] == "done"
    assert (only["sent"], only["failed"], only["unknown"], only["total"], only["done"]) == (
        "6",
        "2",
        "1",
        "10",
        "10",
    )
    assert only["left"] == "nothing left to send"
    assert client.get("/admin/campaigns/999/progress").status_code == 404


@pytest.fixture
def served(app: Starlette) -> Iterator[str]:
    """The admin app on a real server on 127.0.0.1 (a stream is read as it comes)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_a_sending_campaign_streams_its_counts_until_it_is_paused(
    engine: Engine, clock: FixedClock, served: str
) -> None:
    cid = sending_campaign(engine, clock)
    with transaction(engine) as session:
        vera = session.query(User).filter_by(email=USERS[Role.VIEWER]).one()
        _, token = create_token(session, vera, "watch", Role.VIEWER, CLI, clock)
    seen: list[dict[str, object]] = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.stream(
        "GET", f"{served}/admin/campaigns/{cid}/progress", headers=headers, timeout=30
    ) as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        for line in answer.iter_lines():
            if not line.startswith("data: "):
                continue
            seen.append(json.loads(line[6:]))
            if len(seen) == 2:  # the stream goes on while it sends: pause it from elsewhere
                steer(engine, cid, Steer.PAUSE, CLI, clock)
    assert [e["status"] for e in seen[:2]] == ["sending", "sending"]
    assert seen[0]["pending"] == "3" and seen[0]["sent"] == "1" and seen[0]["finished"] is False
    assert seen[-1]["status"] == "paused" and seen[-1]["finished"] is True
    assert str(seen[-1]["pause_reason"]).startswith("paused by maria@laptop")
