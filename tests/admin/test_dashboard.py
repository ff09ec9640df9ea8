"""The dashboard: subscribers by status, topic and language, growth per week, the latest and the next
campaigns, list health in words, and figures kept for a minute then counted again. Both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import lxml.html
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from outreach.accounts.schema import Role
from outreach.audience import Consent, ConsentMethod, transaction
from outreach.audience.consent import record
from outreach.audience.schema import ConsentAction
from outreach.clock import FixedClock
from outreach.config import Config
from outreach.delivery.schema import CampaignStatus
from outreach.operations.health import BOUNCES, COMPLAINTS, Level, judge
from outreach.operations.overview import dashboard
from tests.admin.campaign_fill import campaign, people, sent_campaign, set_status, topics
from tests.admin.conftest import USERS, sign_in
from tests.admin.test_campaign_report import check_charts

START = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)


def _consent(engine: Engine, at: datetime, action: ConsentAction, method: ConsentMethod) -> None:
    with transaction(engine) as session:
        record(
            session,
            subscriber_id=None,
            email_hash="0" * 64,
            action=action,
            consent=Consent(method, source="test"),
            clock=FixedClock(at),
        )


def fill(engine: Engine, clock: FixedClock) -> int:
    """Five people (one unsubscribed, one Spanish), a finished campaign of ten more, a scheduled one."""
    with transaction(engine) as session:
        topics(session)
        english = people(session, clock, 4)
        people(session, clock, 1, language="es", topic="trainings-events")
        set_status(session, english[3], "unsubscribed")
        sent_campaign(session, clock, START)
        return campaign(
            session,
            clock.now(),
            status=CampaignStatus.SCHEDULED,
            subject="January: new year, small steps",
            slug="2027-01-small-steps",
            send_at=clock.now() + timedelta(days=30),
        )


def test_the_dashboard_counts_the_list_its_growth_and_its_campaigns(
    engine: Engine, clock: FixedClock, admin_config: Config
) -> None:
    scheduled = fill(engine, clock)
    now = clock.now()  # Tuesday 1 December 2026: this week began on Monday 30 November
    _consent(engine, now - timedelta(weeks=3), ConsentAction.CONFIRMED, ConsentMethod.FORM)
    _consent(engine, now - timedelta(weeks=1), ConsentAction.UNSUBSCRIBED, ConsentMethod.ONE_CLICK)
    _consent(engine, now - timedelta(weeks=10), ConsentAction.SUPPRESSED, ConsentMethod.BOUNCE)
    _consent(engine, now - timedelta(weeks=10), ConsentAction.SUPPRESSED, ConsentMethod.ADMIN)  # not a bounce
    _consent(engine, now - timedelta(weeks=60), ConsentAction.SUBSCRIBED, ConsentMethod.FORM)  # too old
    with transaction(engine) as session:
        figures = dashboard(session, now, admin_config.time_zone)
    people_ = figures.subscribers
    assert (
        people_.by_status["active"] == 14 and people_.by_status["unsubscribed"] == 1 and people_.total == 15
    )
    assert dict((key, n) for key, _, n in people_.by_topic) == {
        "monthly-newsletter": 13,  # the unsubscribed reader is in the topic, but not active
        "trainings-events": 1,
        "policy-advocacy": 0,  # every topic is listed
        "spanish-edition": 0,
    }
    assert people_.by_language == [("en", 13), ("es", 1)]
    growth = figures.growth
    assert len(growth.weeks) == 52 and growth.weeks[-1] == date(2026, 11, 30)
    assert growth.signups[-1] == 15 and sum(growth.signups) == 15
    assert growth.confirmations[-4] == 1 and growth.unsubscribes[-2] == 1
    assert growth.bounces[-11] == 1 and sum(growth.bounces) == 1
    assert [c.subject for c in figures.campaigns] == ["December: holding the holidays"]
    latest = figures.campaigns[0]
    assert (latest.sent, latest.recipients, latest.figures.bounced) == (7, 10, 3)
    assert [c.id for c in figures.scheduled] == [scheduled]
    complaints, bounces = figures.health
    assert complaints.level is Level.BAD and (complaints.count, complaints.sent) == (1, 7)
    assert "over the 0.3% Gmail and Yahoo allow" in complaints.words
    assert bounces.level is Level.BAD and bounces.count == 3


def test_list_health_is_said_in_words_against_the_thresholds() -> None:
    assert judge(COMPLAINTS, 1, 2000).words == (
        "Complaints: 0.05% of mail sent in the last 30 days (1 of 2,000) — well under the 0.3% Gmail "
        "and Yahoo allow."
    )
    watch = judge(COMPLAINTS, 2, 1000)
    assert watch.level is Level.WATCH and "over the 0.1% Gmail asks for" in watch.words
    assert judge(COMPLAINTS, 3, 1000).level is Level.BAD
    assert judge(BOUNCES, 10, 1000).level is Level.GOOD
    assert judge(BOUNCES, 30, 1000).level is Level.WATCH
    assert "over the 5% at which Amazon SES reviews a sender" in judge(BOUNCES, 50, 1000).words
    assert judge(BOUNCES, 0, 0).words == "Bounces: nothing was sent in the last 30 days."


def test_the_dashboard_page_shows_it_all_and_keeps_its_figures_for_a_minute(
    engine: Engine, clock: FixedClock, client: TestClient
) -> None:
    fill(engine, clock)
    sign_in(client, USERS[Role.VIEWER])
    answer = client.get("/admin/")
    assert answer.status_code == 200
    page = lxml.html.fromstring(answer.text)
    assert check_charts(page) == 1
    text = " ".join(page.text_content().split())
    assert "14 active, of 15 people on the list" in text
    assert "Complaints: 14.29% of mail sent in the last 30 days (1 of 7)" in text
    assert "December: holding the holidays" in text and "January: new year, small steps" in text
    assert "42.86%" in text  # the latest campaign's bounces
    with transaction(engine) as session:
        people(session, clock, 1)
    assert "14 active, of 15 people" in _text(client)  # kept
    clock.advance(61)
    assert "14 active, of 15 people" in _text(client)  # the old figures, while counting again
    client.app.routes[0].app.state.dashboard_figures.wait(30)  # type: ignore[attr-defined]
    assert "15 active, of 16 people" in _text(client)


def _text(client: TestClient) -> str:
    return " ".join(lxml.html.fromstring(client.get("/admin/").text).text_content().split())
