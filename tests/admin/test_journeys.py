"""What the coordinators do, in Chromium against a real uvicorn: sign in (with and without a second
factor, the code computed by pyotp), send a test copy and find it in the outbox, send an issue to a
segment and watch the live progress reach 100%, pause and resume a campaign, read a report's
charts, import a file with rejected rows (downloaded) and apply it, and erase a subscriber. With
``OUTREACH_SCREENSHOTS=1`` the journeys also write the screenshots of docs/admin/.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyotp
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from outreach.accounts.schema import Role
from outreach.accounts.signin import set_up_second_factor
from outreach.accounts.users import get_user
from outreach.audience import Consent, ConsentMethod, add_subscriber, transaction
from outreach.audience.schema import Subscriber
from outreach.audience.subscribers import Profile
from outreach.clock import FixedClock
from outreach.delivery import ledger
from outreach.delivery.schema import CampaignStatus, DeliveryState
from outreach.models import Actor
from tests.admin.browser import browser_marks, chromium_page, screenshot, sign_in_page
from tests.admin.campaign_fill import campaign, row, sent_campaign
from tests.admin.campaign_fill import people as subscribers
from tests.admin.campaign_fill import topics as add_topics
from tests.admin.conftest import USERS
from tests.admin.live import live_admin
from tests.admin.test_issues import campaigns, outbox
from tests.conftest import TEST_SECRET

pytestmark = browser_marks
CONSENT = Consent(ConsentMethod.ADMIN, source="test")
ISSUE = "2027-01-home-visiting"


def second_factor(engine: Engine, clock: FixedClock, email: str) -> str:
    secret = pyotp.random_base32()
    with transaction(engine) as session:
        user = get_user(session, email)
        set_up_second_factor(
            session, user, secret, pyotp.TOTP(secret).at(clock.now()), TEST_SECRET, Actor("t", "cli"), clock
        )
    return secret


def finished(page: Any) -> None:
    """Wait until the live progress says 100% and the campaign is done (the event stream filled it)."""
    page.wait_for_function(
        "() => document.querySelector('progress[data-field=percent]').value === 100"
        " && document.querySelector('[data-field=status]').textContent === 'done'"
    )


def test_sign_in_without_and_with_a_second_factor(
    project: Path, engine: Engine, clock: FixedClock, people: dict[Role, str], tmp_path: Path
) -> None:
    secret = second_factor(engine, clock, USERS[Role.ADMIN])
    with live_admin(project, engine, clock) as (base, _), chromium_page(tmp_path / "a") as page:
        page.goto(f"{base}/admin/")
        assert page.url.startswith(f"{base}/admin/login")
        screenshot(page, "sign-in")
        sign_in_page(page, base, USERS[Role.EDITOR])
        assert page.locator("h1").first.inner_text() == "Dashboard"
        assert page.locator("nav a", has_text="Users").count() == 0  # editors do not manage users

    with live_admin(project, engine, clock) as (base, _), chromium_page(tmp_path / "b") as page:
        page.goto(f"{base}/admin/login")
        page.fill("#email", USERS[Role.ADMIN])
        page.fill("#password", "a quiet harbour at dawn")
        page.click("button[type=submit]")
        page.wait_for_url("**/admin/login/code**")
        screenshot(page, "sign-in-code")
        page.fill("#code", "000000")
        page.click("button[type=submit]")
        assert "not right" in page.locator("[role=alert]").inner_text()
        page.goto(f"{base}/admin/")
        assert "/admin/login" in page.url  # the password alone opens nothing
        sign_in_page(page, base, USERS[Role.ADMIN], pyotp.TOTP(secret).at(clock.now()))
        assert page.locator("nav a", has_text="Users").count() == 1
        screenshot(page, "dashboard")


def test_a_test_copy_goes_to_the_outbox(
    project: Path,
    engine: Engine,
    clock: FixedClock,
    people: dict[Role, str],
    tmp_path: Path,
    write_issue: Callable[..., Path],
) -> None:
    write_issue(
        name=f"{ISSUE}.md",
        subject="Home visiting in winter",
        status="draft",
        audience="{topics: [monthly-newsletter]}",
    )
    with live_admin(project, engine, clock) as (base, _), chromium_page(tmp_path / "p") as page:
        sign_in_page(page, base, USERS[Role.EDITOR])
        page.click("nav a:text('Issues')")
        assert page.locator("td, th", has_text="Home visiting in winter").count() >= 1
        screenshot(page, "issues")
        page.goto(f"{base}/admin/issues/{ISSUE}")
        page.click("button:text('Send a test copy to yourself')")
        assert f"went to {USERS[Role.EDITOR]}" in page.locator("[role=status]").first.inner_text()
        screenshot(page, "issue")
    (copy,) = outbox(project)
    assert copy["To"] == USERS[Role.EDITOR] and copy["Subject"].startswith("[TEST]")
    assert "Home visiting in winter" in copy["Subject"]


def test_send_to_a_segment_and_watch_it_reach_100_percent(
    project: Path,
    engine: Engine,
    clock: FixedClock,
    people: dict[Role, str],
    tmp_path: Path,
    write_issue: Callable[..., Path],
) -> None:
    write_issue(
        name=f"{ISSUE}.md",
        subject="Home visiting in winter",
        status="ready",
        audience="{segments: [home-visitors]}",
    )
    with transaction(engine) as session:
        add_topics(session)
        for address, role in (
            ("hv1@example.org", "home-visitor"),
            ("hv2@example.org", "home-visitor"),
            ("ed@example.org", "early-educator"),
        ):
            add_subscriber(
                session,
                address,
                consent=CONSENT,
                clock=clock,
                profile=Profile(role=role),
                topics=("monthly-newsletter",),
            )
    with live_admin(project, engine, clock) as (base, _), chromium_page(tmp_path / "p") as page:
        sign_in_page(page, base, USERS[Role.ADMIN])
        page.goto(f"{base}/admin/issues/{ISSUE}/plan")
        assert "home-visitors" in page.locator("main").inner_text()
        screenshot(page, "plan")
        page.check("#confirm")
        page.click("form.confirm button[type=submit]")
        page.wait_for_url("**/admin/campaigns/*?done=sending")
        finished(page)
        assert page.locator("[data-field=done]").inner_text() == "2"
        screenshot(page, "campaign")
    assert sorted(m["To"] for m in outbox(project)) == ["hv1@example.org", "hv2@example.org"]
    (sent,) = campaigns(engine)
    with transaction(engine) as session:
        assert ledger.counts(session, sent.id)["sent"] == 2


def test_pause_and_resume_a_campaign(
    project: Path, engine: Engine, clock: FixedClock, people: dict[Role, str], tmp_path: Path
) -> None:
    with transaction(engine) as session:
        add_topics(session)
        ids = subscribers(session, clock, 3)
        cid = campaign(session, clock.now(), status=CampaignStatus.SENDING)
        for who in ids:
            row(session, cid, who, DeliveryState.PENDING, None)
    with live_admin(project, engine, clock) as (base, _), chromium_page(tmp_path / "p") as page:
        sign_in_page(page, base, USERS[Role.ADMIN])
        page.goto(f"{base}/admin/campaigns/{cid}")
        page.click("button:text('Pause')")
        page.wait_for_url("**?done=campaign-paused")
        assert page.locator("[data-field=status]").inner_text() == "paused"
        assert "Nothing more is sent" in page.locator("main").inner_text()
        assert outbox(project) == []
        page.click("button:text('Resume sending')")
        page.wait_for_url("**?done=campaign-resumed")
        finished(page)
    assert len(outbox(project)) == 3
    with transaction(engine) as session:
        assert ledger.counts(session, cid)["sent"] == 3


def test_the_report_shows_its_charts_and_the_other_pages_open(
    project: Path, engine: Engine, clock: FixedClock, people: dict[Role, str], tmp_path: Path
) -> None:
    with transaction(engine) as session:
        add_topics(session)
        filled = sent_campaign(session, clock, clock.now())
    with live_admin(project, engine, clock) as (base, _), chromium_page(tmp_path / "p") as page:
        sign_in_page(page, base, USERS[Role.ADMIN])
        page.click("nav a:text('Campaigns')")
        screenshot(page, "campaigns")
        page.goto(f"{base}/admin/campaigns/{filled.campaign_id}/report")
        charts = page.locator("svg")
        assert charts.count() >= 2
        titles = [charts.nth(i).locator("title").first.text_content() for i in range(charts.count())]
        assert all(titles) and any(
            "over time" in (t or "").lower() or "hour" in (t or "").lower() for t in titles
        ), titles
        assert charts.first.bounding_box()["width"] > 200  # drawn, not an empty box
        screenshot(page, "report")
        for name, path in (("users", "/users"), ("audit", "/audit"), ("account", "/account")):
            page.goto(f"{base}/admin{path}")
            assert page.locator("h1").count() == 1
            screenshot(page, name)


def test_import_a_file_with_rejects_download_them_and_apply_it(
    project: Path, engine: Engine, clock: FixedClock, people: dict[Role, str], tmp_path: Path
) -> None:
    members = tmp_path / "spring-conference.csv"
    members.write_text(
        "Email;First name;Organisation\n"
        "rosa.mendez@example.org;Rosa;Richmond Early Head Start\n"
        "not an address;Bad;Nowhere\n"
        "li.chen@example.org;Li;Fairfax County Schools\n",
        encoding="cp1252",
    )
    with live_admin(project, engine, clock) as (base, _), chromium_page(tmp_path / "i") as page:
        sign_in_page(page, base, USERS[Role.EDITOR])
        page.goto(f"{base}/admin/imports")
        page.set_input_files("#import-file", str(members))
        page.click("form[enctype] button[type=submit]")
        page.wait_for_selector("#plan-heading")
        rejected = page.locator("tr", has_text="not a valid email address")
        assert rejected.locator("td").first.inner_text().strip() == "3"  # named by its line in the file
        screenshot(page, "import-plan")
        with page.expect_download() as download:
            page.click("text=Download the rejected rows")
        rejects = Path(download.value.path()).read_text(encoding="utf-8")
        assert "not an address" in rejects and "rosa.mendez" not in rejects
        page.fill("#import-consent", "Spring conference sign-up sheet, 2027-03")
        page.click("button:has-text('Apply the import')")
        # The progress page follows the apply by itself and offers the result when it has finished.
        page.wait_for_selector("#done-heading, [data-finished]:not([hidden])", timeout=180_000)
        if page.locator("#done-heading").count() == 0:
            page.click("[data-finished] a")
        page.wait_for_selector("#done-heading")
        screenshot(page, "import-done")
    with transaction(engine) as session:
        found = session.scalars(sa.select(Subscriber.email).order_by(Subscriber.email)).all()
    assert found == ["li.chen@example.org", "rosa.mendez@example.org"]


def test_an_admin_erases_a_subscriber_after_typing_their_address(
    project: Path, engine: Engine, clock: FixedClock, people: dict[Role, str], tmp_path: Path
) -> None:
    with transaction(engine) as session:
        add_topics(session)
        ana = add_subscriber(
            session,
            "ana.rivera@example.org",
            consent=CONSENT,
            clock=clock,
            profile=Profile(first_name="Ana", last_name="Rivera"),
            topics=("monthly-newsletter",),
        ).id
    with live_admin(project, engine, clock) as (base, _), chromium_page(tmp_path / "e") as page:
        sign_in_page(page, base, USERS[Role.ADMIN])
        page.goto(f"{base}/admin/subscribers?q=ana")
        page.click("text=ana.rivera@example.org")
        screenshot(page, "subscriber")
        page.click("text=Erase this person")
        page.fill("#confirm", "someone.else@example.org")
        page.click("button:has-text('Erase permanently')")
        with transaction(engine) as session:
            assert (
                session.get(Subscriber, ana).email == "ana.rivera@example.org"
            )  # a wrong address erases nothing
        page.fill("#confirm", "ana.rivera@example.org")
        page.click("button:has-text('Erase permanently')")
        page.wait_for_load_state()
        assert "erased" in page.locator("main").inner_text().lower()
    with transaction(engine) as session:
        erased = session.get(Subscriber, ana)
        assert erased is not None and erased.email is None and erased.first_name == ""
