"""Sending and scheduling from the admin app: the plan, a confirmation that names the number, the
send gate's refusals shown, a stale number refused, and a send the app runs to the end."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.testclient import TestClient

from outreach.accounts.schema import Role
from outreach.audience import transaction, unsubscribe
from outreach.audience.audit import entries
from outreach.clock import FixedClock
from outreach.delivery import ledger
from outreach.delivery.schema import Campaign, CampaignStatus
from tests.admin.conftest import USERS, csrf_of, sign_in
from tests.admin.test_issues import AUDIENCE, CONSENT, campaigns, desk, outbox, readers

ISSUE = "/admin/issues/2027-01-news"


def confirm_form(page: str) -> dict[str, str]:
    """The fields of the plan's confirmation form, as a browser would post them with the box ticked."""
    form = page.split('class="narrow confirm"')[1].split("</form>")[0]
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form))
    return fields


def test_an_admin_sees_the_plan_and_sends_and_the_app_sends_it_to_the_end(
    app: Starlette,
    client: TestClient,
    project: Path,
    engine: Engine,
    clock: FixedClock,
    write_issue: Callable[..., Path],
) -> None:
    write_issue(name="2027-01-news.md", subject="New year news", status="ready", audience=AUDIENCE)
    ids = readers(project, engine, clock, "ana@example.org", "ben@example.org", "cy@example.org")
    with transaction(engine) as session:
        unsubscribe(session, ids[2], consent=CONSENT, clock=clock)
    sign_in(client, USERS[Role.ADMIN])

    page = client.get(f"{ISSUE}/plan")

    assert page.status_code == 200
    assert "<strong>2</strong> people" in page.text
    assert re.search(r"<th scope=\"row\">[^<]*unsubscribed[^<]*</th><td class=\"num\">1</td>", page.text)
    assert "the outbox transport" in page.text and "<td>now</td>" in page.text
    assert "Send to 2 people now" in page.text
    assert "Yes, send this issue to 2 people now" in page.text
    form = confirm_form(page.text)
    assert form["count"] == form["confirm"] == "2"

    sent = client.post(f"{ISSUE}/send", data=form, follow_redirects=False)

    assert sent.status_code == 303
    (campaign,) = campaigns(engine)
    assert sent.headers["location"] == f"/admin/campaigns/{campaign.id}?done=sending"
    desk(app).sends.join(campaign.id, timeout=120)
    assert not desk(app).sends.running(campaign.id)
    with transaction(engine) as session:
        counts = ledger.counts(session, campaign.id)
        status = session.get(Campaign, campaign.id).status  # type: ignore[union-attr]
        (audited,) = [e for e in entries(session) if e.action == "campaign.send"]
    assert counts["sent"] == 2 and sum(counts.values()) == 2
    assert status is CampaignStatus.DONE
    assert sorted(m["To"] for m in outbox(project)) == ["ana@example.org", "ben@example.org"]
    assert audited.actor == USERS[Role.ADMIN] and audited.via == "admin"
    assert audited.target == f"campaign {campaign.id}" and audited.detail["recipients"] == 2


def test_a_stale_number_or_an_unticked_box_sends_nothing(
    client: TestClient,
    project: Path,
    engine: Engine,
    clock: FixedClock,
    write_issue: Callable[..., Path],
) -> None:
    write_issue(name="2027-01-news.md", status="ready", audience=AUDIENCE)
    readers(project, engine, clock, "ana@example.org")
    sign_in(client, USERS[Role.ADMIN])
    form = confirm_form(client.get(f"{ISSUE}/plan").text)
    assert form["count"] == "1"

    unticked = client.post(f"{ISSUE}/send", data={**form, "confirm": ""})
    assert unticked.status_code == 400 and "tick the box" in unticked.text

    readers(project, engine, clock, "ben@example.org")  # the audience grows after the plan was shown
    stale = client.post(f"{ISSUE}/send", data=form)
    assert stale.status_code == 400
    assert "it is 2 people now, not the 1 confirmed" in stale.text and "nothing was sent" in stale.text
    assert "Send to 2 people now" in stale.text  # the new number, to confirm again
    assert campaigns(engine) == [] and outbox(project) == []

    fresh = confirm_form(stale.text)
    assert client.post(f"{ISSUE}/send", data=fresh, follow_redirects=False).status_code == 303
    assert len(campaigns(engine)) == 1


def test_an_issue_edited_after_the_plan_was_shown_is_not_sent(
    client: TestClient,
    project: Path,
    engine: Engine,
    clock: FixedClock,
    write_issue: Callable[..., Path],
) -> None:
    write_issue(name="2027-01-news.md", status="ready", audience=AUDIENCE)
    readers(project, engine, clock, "ana@example.org")
    sign_in(client, USERS[Role.ADMIN])
    form = confirm_form(client.get(f"{ISSUE}/plan").text)
    write_issue("A late change.\n", name="2027-01-news.md", status="ready", audience=AUDIENCE)
    refused = client.post(f"{ISSUE}/send", data=form)
    assert refused.status_code == 400 and "changed since you looked" in refused.text
    assert campaigns(engine) == []


def test_a_draft_and_an_issue_with_errors_cannot_be_sent_and_the_refusal_is_shown(
    client: TestClient,
    project: Path,
    engine: Engine,
    clock: FixedClock,
    write_issue: Callable[..., Path],
) -> None:
    readers(project, engine, clock, "ana@example.org")
    sign_in(client, USERS[Role.ADMIN])
    csrf = csrf_of(client.get("/admin/issues").text)
    forced = {"csrf": csrf, "count": "1", "confirm": "1", "content": "x"}

    write_issue(name="2027-01-news.md", status="draft", audience=AUDIENCE)
    plan = client.get(f"{ISSUE}/plan").text
    assert "cannot be sent from here yet" in plan and "it is a draft" in plan and "status: ready" in plan
    assert 'class="narrow confirm"' not in plan
    refused = client.post(f"{ISSUE}/send", data=forced)
    assert refused.status_code == 400 and "it is a draft" in refused.text

    write_issue(
        "See [click here](https://vaimh.example/x).\n",
        name="2027-01-news.md",
        status="ready",
        audience=AUDIENCE,
    )
    plan = client.get(f"{ISSUE}/plan").text
    assert "1 error(s) from the checks" in plan and 'class="narrow confirm"' not in plan
    refused = client.post(f"{ISSUE}/send", data=forced)
    assert refused.status_code == 400 and "1 error(s) from the checks" in refused.text

    write_issue(":::callout\nNever closed.\n", name="2027-01-news.md", status="ready", audience=AUDIENCE)
    plan = client.get(f"{ISSUE}/plan").text
    assert "cannot be sent from here yet" in plan and 'class="narrow confirm"' not in plan
    assert client.post(f"{ISSUE}/send", data=forced).status_code == 400
    assert (
        client.post(f"{ISSUE}/schedule", data={**forced, "send_at": "2027-01-05T09:00:00-05:00"}).status_code
        == 400
    )
    assert campaigns(engine) == [] and outbox(project) == []


def test_an_issue_due_later_is_scheduled_not_sent_unless_now_is_asked(
    client: TestClient,
    project: Path,
    engine: Engine,
    clock: FixedClock,
    write_issue: Callable[..., Path],
) -> None:
    write_issue(name="2027-01-news.md", status="ready", audience=AUDIENCE, send_at="2027-01-05 09:00")
    readers(project, engine, clock, "ana@example.org")
    sign_in(client, USERS[Role.ADMIN])

    plan = client.get(f"{ISSUE}/plan").text
    assert "Schedule for Tuesday 5 January 2027, 09:00 EST" in plan
    assert "due Tuesday 5 January 2027, 09:00 EST" in plan and "Send to 1 person now" not in plan
    scheduled_form = confirm_form(plan)

    too_soon = client.post(f"{ISSUE}/send", data={**scheduled_form, "content": "x"})
    assert too_soon.status_code == 400 and "it is due Tuesday 5 January 2027, 09:00 EST" in too_soon.text
    assert campaigns(engine) == []

    later = client.post(f"{ISSUE}/schedule", data={**scheduled_form, "send_at": "2027-01-06T09:00:00-05:00"})
    assert later.status_code == 400 and "send_at changed since you looked" in later.text
    assert campaigns(engine) == []

    done = client.post(f"{ISSUE}/schedule", data=scheduled_form, follow_redirects=False)
    assert done.status_code == 303
    (campaign,) = campaigns(engine)
    assert done.headers["location"] == f"/admin/campaigns/{campaign.id}?done=scheduled"
    assert campaign.status is CampaignStatus.SCHEDULED
    with transaction(engine) as session:
        (audited,) = [e for e in entries(session) if e.action == "campaign.schedule"]
    assert audited.actor == USERS[Role.ADMIN] and audited.detail["send_at"] == "2027-01-05T09:00:00-05:00"
    assert outbox(project) == []

    now_plan = client.get(f"{ISSUE}/plan?now=1").text
    assert "Send to 1 person now" in now_plan and "now, although it is due" in now_plan
    assert confirm_form(now_plan)["now"] == "1"


def test_the_preview_routes_serve_the_mail_with_its_own_policy(
    client: TestClient, write_issue: Callable[..., Path]
) -> None:
    write_issue("Hello, *readers*.\n", name="2027-01-news.md", subject="New year news")
    write_issue(":::callout\nNever closed.\n", name="2027-02-broken.md")
    sign_in(client, USERS[Role.VIEWER])

    page = client.get(ISSUE)
    assert "frame-src 'self'" in page.headers["content-security-policy"]
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]

    html = client.get(f"{ISSUE}/mail.html")
    policy = html.headers["content-security-policy"]
    assert html.status_code == 200 and "<em>readers</em>" in html.text
    assert "frame-ancestors 'self'" in policy and "sandbox" in policy and "default-src 'none'" in policy
    assert "style-src 'unsafe-inline'" in policy and "script-src" not in policy
    assert html.headers["x-content-type-options"] == "nosniff"

    text = client.get(f"{ISSUE}/mail.txt")
    assert text.headers["content-type"].startswith("text/plain") and "Hello, readers" in text.text
    eml = client.get(f"{ISSUE}/mail.eml")
    assert eml.headers["content-disposition"] == 'attachment; filename="2027-01-news.eml"'
    assert b"Subject: New year news" in eml.content

    broken = client.get("/admin/issues/2027-02-broken/mail.html")
    assert broken.status_code == 422 and "never closed" in broken.text.lower()
    assert broken.headers["content-security-policy"] == policy
    assert client.get("/admin/issues/nowhere/mail.html").status_code == 404
    assert client.get("/admin/issues/..%2Foutreach/mail.html").status_code == 404
