"""The Issues pages: the list, one issue's checks and preview, a test copy to yourself; editors stop
there, admins plan, send and schedule, and only what the send gate clears, at the confirmed number."""

from __future__ import annotations

import email
import email.policy
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient
from typer.testing import CliRunner

from outreach.accounts.schema import Role
from outreach.admin.issue_desk import IssueDesk
from outreach.audience import Consent, ConsentMethod, add_subscriber, transaction
from outreach.audience.audit import entries
from outreach.audience.topics import load_topics, sync_topics
from outreach.cli import app
from outreach.clock import FixedClock
from outreach.delivery.schema import Campaign
from tests.admin.conftest import USERS, csrf_of, sign_in
from tests.conftest import TEST_SECRET

AUDIENCE = "{topics: [monthly-newsletter]}"
CONSENT = Consent(ConsentMethod.ADMIN, source="test")


def readers(project: Path, engine: Engine, clock: FixedClock, *emails: str) -> list[int]:
    """Subscribers of the monthly newsletter; their ids."""
    with transaction(engine) as session:
        sync_topics(session, load_topics(project / "lists" / "topics.yaml"))
        return [
            add_subscriber(session, address, consent=CONSENT, clock=clock, topics=("monthly-newsletter",)).id
            for address in emails
        ]


def outbox(project: Path) -> list[email.message.EmailMessage]:
    folder = project / "outbox" / "new"
    found = sorted(folder.iterdir()) if folder.is_dir() else []
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in found]  # type: ignore[misc]


def desk(app: Starlette) -> IssueDesk:
    mount = next(r for r in app.routes if isinstance(r, Mount))
    found: IssueDesk = mount.app.state.issue_desk  # type: ignore[union-attr]
    return found


def campaigns(engine: Engine) -> list[Campaign]:
    with transaction(engine) as session:
        found = list(session.scalars(sa.select(Campaign).order_by(Campaign.id)))
        session.expunge_all()
    return found


def test_the_list_shows_every_issue_newest_first_with_its_checks(
    client: TestClient, project: Path, write_issue: Callable[..., Path]
) -> None:
    write_issue(
        name="2026-12-holidays.md",
        subject="Holding the holidays",
        status="ready",
        audience=AUDIENCE,
        send_at="2026-12-15 09:00",
    )
    write_issue(
        "Read more [click here](https://vaimh.example/more).\n",
        name="2027-01-new-year.md",
        subject="A new year",
        date="2027-01-05",
        preheader="Short one",
    )
    (project / "newsletters" / "2027-02-broken.md").write_text("no front matter at all\n", "utf-8")
    automations = project / "newsletters" / "automations"
    automations.mkdir()
    (automations / "welcome-1.md").write_text("---\nsubject: Welcome aboard\n---\nHi.\n", "utf-8")
    sign_in(client, USERS[Role.VIEWER])

    page = client.get("/admin/issues")

    assert page.status_code == 200
    rows = page.text.split("<tbody>")[1].split("</tr>")
    assert "2027-02-broken.md" in rows[0] and "front matter unreadable" in rows[0]
    assert "A new year" in rows[1] and "draft" in rows[1] and "not set" in rows[1]
    assert '<strong class="count-bad">1</strong>' in rows[1]  # the vague link text
    assert '<strong class="count-warn">1</strong>' in rows[1]  # the short preheader
    assert "Holding the holidays" in rows[2] and "ready" in rows[2]
    assert "2026-12-15 09:00 EST" in rows[2]
    assert "Welcome aboard" not in page.text  # automations are not issues


def test_an_issue_page_shows_findings_at_their_lines_and_the_spam_score_on_demand(
    client: TestClient, write_issue: Callable[..., Path]
) -> None:
    write_issue(
        "Read more [click here](https://vaimh.example/more).\n", name="2027-01-news.md", preheader="Short"
    )
    sign_in(client, USERS[Role.VIEWER])

    page = client.get("/admin/issues/2027-01-news").text

    assert "newsletters/2027-01-news.md:6</code>" in page and "click here" in page
    assert "severity-warning" in page and "preheader" in page
    assert "Score it with SpamAssassin" in page or "SpamAssassin is not installed" in page
    assert "Send a test copy to yourself" not in page and "Plan the send" not in page  # a viewer


@pytest.mark.spamassassin
@pytest.mark.skipif(shutil.which("spamassassin") is None, reason="apt-get install spamassassin (Debian)")
def test_the_spam_score_is_shown_when_asked(client: TestClient, write_issue: Callable[..., Path]) -> None:
    write_issue(name="2027-01-news.md", status="ready", audience=AUDIENCE)
    sign_in(client, USERS[Role.VIEWER])
    assert "SpamAssassin scores this mail" not in client.get("/admin/issues/2027-01-news").text
    page = client.get("/admin/issues/2027-01-news?spam=1").text
    assert "SpamAssassin scores this mail <strong>" in page


def test_an_editor_sees_the_preview_and_sends_a_test_copy_but_may_not_send_or_schedule(
    client: TestClient, project: Path, engine: Engine, write_issue: Callable[..., Path]
) -> None:
    write_issue(name="2027-01-news.md", subject="New year news", status="draft", audience=AUDIENCE)
    sign_in(client, USERS[Role.EDITOR])

    page = client.get("/admin/issues/2027-01-news")
    assert page.status_code == 200
    assert 'src="/admin/issues/2027-01-news/mail.html"' in page.text and 'width="375"' in page.text
    assert 'width="600"' in page.text and "Text part" in page.text
    assert "List-Unsubscribe-Post</th>" in page.text
    csrf = csrf_of(page.text)

    sent = client.post("/admin/issues/2027-01-news/test-copy", data={"csrf": csrf}, follow_redirects=False)
    assert sent.status_code == 303
    after = client.get(sent.headers["location"]).text
    assert f"A [TEST] copy went to {USERS[Role.EDITOR]}" in after
    assert str(project / "outbox" / "new") in after  # where to look for it
    (copy,) = outbox(project)
    assert copy["To"] == USERS[Role.EDITOR] and copy["Subject"] == "[TEST] New year news"
    with transaction(engine) as session:
        (entry,) = [e for e in entries(session) if e.action == "issue.test-copy"]
    assert entry.actor == USERS[Role.EDITOR] and entry.via == "admin" and entry.target == "issue 2027-01-news"
    assert entry.detail["to"] == [USERS[Role.EDITOR]] and entry.detail["outcomes"] == ["sent"]

    assert client.get("/admin/issues/2027-01-news/plan").status_code == 403
    form = {"csrf": csrf, "count": "0", "confirm": "0"}
    assert client.post("/admin/issues/2027-01-news/send", data=form).status_code == 403
    assert client.post("/admin/issues/2027-01-news/schedule", data=form).status_code == 403
    assert campaigns(engine) == []


def test_a_test_copy_of_an_issue_with_errors_is_refused_and_says_why(
    client: TestClient, project: Path, write_issue: Callable[..., Path]
) -> None:
    write_issue(":::callout\nNever closed.\n", name="2027-01-news.md")
    sign_in(client, USERS[Role.EDITOR])
    page = client.get("/admin/issues/2027-01-news")
    assert "needs a fix before it can be shown" in page.text and "never closed" in page.text.lower()
    refused = client.post("/admin/issues/2027-01-news/test-copy", data={"csrf": csrf_of(page.text)})
    assert refused.status_code == 400 and "No test copy was sent" in refused.text
    assert outbox(project) == []


def test_the_command_line_s_sends_schedules_and_test_copies_are_audited_too(
    project: Path, engine: Engine, database_url: str, clock: FixedClock, write_issue: Callable[..., Path]
) -> None:
    readers(project, engine, clock, "ana@example.org")
    now = write_issue(name="2027-01-news.md", status="ready", audience=AUDIENCE)
    later = write_issue(name="2099-01-news.md", status="ready", audience=AUDIENCE, send_at="2099-01-05 09:00")
    env = {"OUTREACH_SECRET_KEY": TEST_SECRET, "OUTREACH_DATABASE_URL": database_url, "COLUMNS": "200"}

    for args in (
        ["send", str(now), "--test-to", "maria@vaimh.example"],
        ["send", str(now), "--yes"],
        ["schedule", str(later)],
    ):
        result = CliRunner().invoke(app, [*args, "--root", str(project)], env=env)
        assert result.exit_code == 0, result.output

    with transaction(engine) as session:
        log = entries(session)
    assert [(e.action, e.via) for e in log] == [
        ("campaign.schedule", "cli"),
        ("campaign.send", "cli"),
        ("issue.test-copy", "cli"),
    ]
    assert log[2].detail["to"] == ["maria@vaimh.example"] and log[1].detail["recipients"] == 1
    assert log[0].detail["send_at"] == "2099-01-05T09:00:00-05:00"


def test_the_list_and_the_preview_follow_an_edit(
    client: TestClient, write_issue: Callable[..., Path]
) -> None:
    write_issue("All is well.\n", name="2027-01-news.md", subject="Before the edit")
    sign_in(client, USERS[Role.VIEWER])
    assert "Before the edit" in client.get("/admin/issues").text
    assert "All is well." in client.get("/admin/issues/2027-01-news/mail.txt").text

    write_issue("Read [click here](https://vaimh.example/x).\n", name="2027-01-news.md", subject="After it")

    listed = client.get("/admin/issues").text
    assert "After it" in listed and '<strong class="count-bad">1</strong>' in listed
    assert "Before the edit" not in listed
    assert "click here" in client.get("/admin/issues/2027-01-news/mail.txt").text
