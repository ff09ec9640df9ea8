"""The admin JSON API: tokens made on the command line and on the Account page, roles enforced per
route, the same figures as the pages, sending that repeats the plan's number and fingerprint, steering,
and every change audited as the token's user, via api. On SQLite and PostgreSQL (``engine``)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.testclient import TestClient

from outreach.accounts.schema import Role
from outreach.accounts.tokens import create_token
from outreach.accounts.users import get_user
from outreach.admin.api_openapi import DOCUMENT
from outreach.admin.app import create_admin_app
from outreach.audience import transaction
from outreach.audience.audit import entries
from outreach.clock import FixedClock
from outreach.delivery import ledger
from outreach.delivery.schema import CampaignStatus, DeliveryState
from outreach.models import Actor
from tests.admin.campaign_fill import campaign as make_campaign
from tests.admin.campaign_fill import people, row, sent_campaign
from tests.admin.campaign_fill import topics as add_topics
from tests.admin.conftest import USERS, csrf_of, sign_in
from tests.admin.test_issues import AUDIENCE, campaigns, desk, outbox, readers
from tests.admin.test_users_and_audit import cli

ISSUE = "/admin/api/issues/2027-01-news"


def token_for(engine: Engine, clock: FixedClock, role: Role, email: str | None = None) -> dict[str, str]:
    """An Authorization header with a fresh token of ``role`` for the user of that role."""
    with transaction(engine) as session:
        user = get_user(session, email or USERS[role])
        _, plain = create_token(session, user, "test", role, Actor("test", "cli"), clock)
    return {"Authorization": f"Bearer {plain}"}


def test_a_token_made_on_the_command_line_works_until_it_is_revoked(
    app: Starlette, client: TestClient, project: Path, database_url: str
) -> None:
    admin = USERS[Role.ADMIN]
    code, out = cli(
        project, database_url, "users", "token", "create", admin, "--name", "nightly", "--role", "viewer"
    )
    assert code == 0, out
    (plain,) = re.findall(r"otk_[A-Za-z0-9_-]{40,}", out)
    assert "shown only now" in out
    headers = {"Authorization": f"Bearer {plain}"}

    assert client.get("/admin/api/dashboard", headers=headers).status_code == 200
    refused = client.get("/admin/api/audit", headers=headers)  # a viewer token of an admin: a viewer
    assert refused.status_code == 403 and refused.json() == {
        "error": "This needs the admin role; you are viewer."
    }

    code, out = cli(project, database_url, "users", "token", "list", admin, "--json")
    (listed,) = json.loads(out)
    assert listed["name"] == "nightly" and listed["role"] == "viewer" and listed["last_used"] is not None
    assert plain not in out

    code, out = cli(project, database_url, "users", "token", "revoke", admin, str(listed["id"]))
    assert code == 0 and f"revoked token {listed['id']}" in out
    gone = client.get("/admin/api/dashboard", headers=headers)
    assert gone.status_code == 401 and "Bearer" in gone.json()["error"]

    code, out = cli(
        project,
        database_url,
        "users",
        "token",
        "create",
        USERS[Role.EDITOR],
        "--name",
        "x",
        "--role",
        "admin",
    )
    assert code == 2 and "cannot do more than its user" in out


def test_a_token_made_on_the_account_page_is_shown_once_and_acts_as_its_user(
    client: TestClient, engine: Engine
) -> None:
    sign_in(client, USERS[Role.EDITOR])
    page = client.get("/admin/account")
    made = client.post(
        "/admin/account/tokens", data={"csrf": csrf_of(page.text), "name": "laptop", "role": "editor"}
    )
    (plain,) = re.findall(r"otk_[A-Za-z0-9_-]{40,}", made.text)
    assert plain not in client.get("/admin/account").text  # shown once
    client.cookies.clear()

    answer = client.get("/admin/api/issues", headers={"Authorization": f"Bearer {plain}"})
    assert answer.status_code == 200 and answer.json() == {"issues": []}
    with transaction(engine) as session:
        made_entry = next(e for e in entries(session) if e.action == "token.create")
    assert made_entry.actor == USERS[Role.EDITOR] and made_entry.via == "admin"


def test_anonymous_and_unknown_requests_get_json_errors(
    client: TestClient, engine: Engine, clock: FixedClock
) -> None:
    anonymous = client.get("/admin/api/campaigns")
    assert anonymous.status_code == 401 and anonymous.headers["content-type"] == "application/json"
    assert (
        client.get("/admin/api/campaigns", headers={"Authorization": "Bearer otk_forged"}).status_code == 401
    )
    missing = client.get("/admin/api/no-such-thing")
    assert missing.status_code == 404 and "openapi.json" in missing.json()["error"]
    wrong = client.put("/admin/api/dashboard")
    assert wrong.status_code == 405 and "error" in wrong.json()
    assert client.get("/admin/api/openapi.json").status_code == 401
    document = client.get("/admin/api/openapi.json", headers=token_for(engine, clock, Role.VIEWER))
    assert document.status_code == 200
    assert document.json()["openapi"] == "3.1.0" and document.json()["servers"] == [{"url": "/admin"}]


def test_every_api_route_is_documented_with_its_role(
    admin_config: object, engine: Engine, clock: FixedClock
) -> None:
    app = create_admin_app(admin_config, engine, clock)  # type: ignore[arg-type]
    served = {
        (route.path.replace(":int", ""), method.lower(), route.endpoint.required_role)  # type: ignore[attr-defined]
        for route in app.routes
        if getattr(route, "path", "").startswith("/api/") and route.path != "/api/openapi.json"  # type: ignore[attr-defined]
        for method in (route.methods or ()) - {"HEAD"}  # type: ignore[attr-defined]
    }
    documented = {
        (path, method, Role(operation["x-role"]))
        for path, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
    }
    assert served == documented


def test_roles_are_enforced_per_route(client: TestClient, engine: Engine, clock: FixedClock) -> None:
    viewer = token_for(engine, clock, Role.VIEWER)
    editor = token_for(engine, clock, Role.EDITOR)
    for path in ("/admin/api/audit", f"{ISSUE}/plan"):
        assert client.get(path, headers=editor).status_code == 403
    for path in (f"{ISSUE}/send", "/admin/api/campaigns/1/pause", f"{ISSUE}/test-copy"):
        assert client.post(path, headers=viewer, json={}).status_code == 403
    assert client.post(f"{ISSUE}/send", headers=editor, json={}).status_code == 403


def test_reading_endpoints_give_the_pages_figures(
    client: TestClient, engine: Engine, clock: FixedClock, project: Path, write_issue: Callable[..., Path]
) -> None:
    with transaction(engine) as session:
        add_topics(session)
        filled = sent_campaign(session, clock, clock.now())
    write_issue(name="2027-01-news.md", subject="New year news", status="ready", audience=AUDIENCE)
    viewer = token_for(engine, clock, Role.VIEWER)
    cid = filled.campaign_id

    board = client.get("/admin/api/dashboard", headers=viewer).json()
    assert board["subscribers"]["total"] == 10 and board["subscribers"]["active"] == 10
    assert [c["id"] for c in board["campaigns"]] == [cid] and board["campaigns"][0]["sent"] == 7
    assert {h["what"] for h in board["health"]} == {"Complaints", "Bounces"}

    (listed,) = client.get("/admin/api/issues", headers=viewer).json()["issues"]
    assert listed["slug"] == "2027-01-news" and listed["subject"] == "New year news"
    detail = client.get(ISSUE, headers=viewer).json()
    assert detail["rendered"] is True and detail["subject"] == "New year news"
    assert isinstance(detail["findings"], list)
    assert client.get("/admin/api/issues/nope", headers=viewer).status_code == 404

    campaign = client.get(f"/admin/api/campaigns/{cid}", headers=viewer).json()
    assert campaign["status"] == "done" and campaign["progress"]["counts"]["sent"] == 6
    assert campaign["progress"]["total"] == 10 and campaign["progress"]["finished"] is True
    assert client.get(f"/admin/api/campaigns/{cid}/progress", headers=viewer).json()["percent"] == 100
    report = client.get(f"/admin/api/campaigns/{cid}/report", headers=viewer).json()
    assert report["recipients"]["sent"] == 6 and report["refused_while_sending"] == 1
    assert report["events"]["complained"] == 1 and report["links"][0] == {
        "url": "https://vaimh.example/events/winter-training",
        "clicks": 5,
    }
    assert client.get("/admin/api/campaigns/999999", headers=viewer).status_code == 404
    assert [c["id"] for c in client.get("/admin/api/campaigns", headers=viewer).json()["campaigns"]] == [cid]

    topics = client.get("/admin/api/topics", headers=viewer).json()["topics"]
    assert "monthly-newsletter" in {t["key"] for t in topics}
    segments = client.get("/admin/api/segments", headers=viewer).json()["segments"]
    assert segments[0]["name"] == "all" and len(segments) > 1
    counted = client.get("/admin/api/segments/all/count", headers=viewer).json()
    assert counted == {"segment": "all", "matching": 10, "mailable": 10}
    unknown = client.get("/admin/api/segments/nobody-at-all/count", headers=viewer)
    assert unknown.status_code == 404 and "known: all" in unknown.json()["error"]

    admin = token_for(engine, clock, Role.ADMIN)
    audit = client.get("/admin/api/audit", headers=admin).json()["entries"]
    assert [e["action"] for e in audit][:1] == ["token.create"]
    assert client.get("/admin/api/audit?since=yesterday", headers=admin).status_code == 400


def test_send_repeats_the_plan_and_steering_is_audited_via_api(
    app: Starlette,
    client: TestClient,
    project: Path,
    engine: Engine,
    clock: FixedClock,
    write_issue: Callable[..., Path],
) -> None:
    write_issue(name="2027-01-news.md", subject="New year news", status="ready", audience=AUDIENCE)
    readers(project, engine, clock, "ana@example.org", "ben@example.org")
    admin = token_for(engine, clock, Role.ADMIN)

    plan = client.get(f"{ISSUE}/plan", headers=admin).json()
    assert plan["cleared"] is True and plan["recipients"] == 2 and plan["content"]

    missing = client.post(f"{ISSUE}/send", headers=admin, json={"content": plan["content"]})
    assert missing.status_code == 422 and missing.json()["field"] == "recipients"
    stale = client.post(f"{ISSUE}/send", headers=admin, json={"recipients": 3, "content": plan["content"]})
    assert stale.status_code == 409 and "not the 3 confirmed" in stale.json()["error"]
    changed = client.post(f"{ISSUE}/send", headers=admin, json={"recipients": 2, "content": "f" * 64})
    assert changed.status_code == 409 and changed.json()["field"] == "content"
    assert campaigns(engine) == []

    sent = client.post(f"{ISSUE}/send", headers=admin, json={"recipients": 2, "content": plan["content"]})
    assert sent.status_code == 202, sent.text
    cid = sent.json()["campaign"]
    desk(app).sends.join(cid, timeout=120)
    assert client.get(f"/admin/api/campaigns/{cid}/progress", headers=admin).json()["percent"] == 100
    assert sorted(m["To"] for m in outbox(project)) == ["ana@example.org", "ben@example.org"]

    again = client.post(f"/admin/api/campaigns/{cid}/pause", headers=admin)
    assert again.status_code == 409 and again.json()["error"]  # a finished campaign cannot be paused
    assert client.post("/admin/api/campaigns/999999/pause", headers=admin).status_code == 404
    with transaction(engine) as session:
        found = [e for e in entries(session) if e.action == "campaign.send"]
        counts = ledger.counts(session, cid)
    assert [(e.actor, e.via) for e in found] == [(USERS[Role.ADMIN], "api")]
    assert counts["sent"] == 2


def test_pause_resume_and_cancel_through_the_api(
    client: TestClient, engine: Engine, clock: FixedClock
) -> None:
    with transaction(engine) as session:
        add_topics(session)
        ids = people(session, clock, 2)
        cid = make_campaign(session, clock.now(), status=CampaignStatus.SENDING)
        for who in ids:
            row(session, cid, who, DeliveryState.PENDING, None)
    admin = token_for(engine, clock, Role.ADMIN)

    paused = client.post(f"/admin/api/campaigns/{cid}/pause", headers=admin)
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    cancelled = client.post(f"/admin/api/campaigns/{cid}/cancel", headers=admin)
    assert cancelled.json() == {"campaign": cid, "status": "cancelled", "moved": 2}
    refused = client.post(f"/admin/api/campaigns/{cid}/resume", headers=admin)
    assert refused.status_code == 409
    with transaction(engine) as session:
        done = [(e.action, e.via) for e in entries(session) if e.action.startswith("campaign.")]
    assert ("campaign.pause", "api") in done and ("campaign.cancel", "api") in done


@pytest.mark.parametrize("body", ["[1, 2]", "not json", '{"recipients": true, "content": "x"}'])
def test_bad_bodies_get_a_clear_error_and_send_nothing(
    client: TestClient, engine: Engine, clock: FixedClock, write_issue: Callable[..., Path], body: str
) -> None:
    write_issue(name="2027-01-news.md", status="ready", audience=AUDIENCE)
    admin = {**token_for(engine, clock, Role.ADMIN), "Content-Type": "application/json"}
    answer = client.post(f"{ISSUE}/send", headers=admin, content=body)
    assert answer.status_code in (400, 422) and answer.json()["error"]
    assert campaigns(engine) == []
