"""Automations with a FixedClock: who is due for each step, at most once, topics, unsubscribes, pause."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from outreach.audience import Consent, ConsentMethod, transaction, unsubscribe
from outreach.audience.schema import Subscriber
from outreach.clock import FixedClock
from outreach.config import Config
from outreach.delivery.schema import Campaign, CampaignStatus, Delivery
from outreach.errors import OutreachError
from outreach.scheduling import jobs as scheduler_jobs
from outreach.scheduling.automations import run_automations, set_paused, slug_of
from outreach.scheduling.steps import load_steps
from outreach.transports.maildir import messages
from tests.scheduling.conftest import FakeJobs, People

DAY = timedelta(days=1).total_seconds()


def queued(engine: Engine, step: str) -> list[int]:
    with engine.connect() as connection:
        return sorted(
            connection.scalars(
                sa.select(Delivery.subscriber_id)
                .join(Campaign, Campaign.id == Delivery.campaign_id)
                .where(Campaign.issue_slug == slug_of(step))
            )
        )


def test_the_real_steps_load(site: Config) -> None:
    steps = {s.name: s.trigger for s in load_steps(site.path("newsletters") / "automations")}
    assert set(steps) == {"welcome-1", "welcome-2", "welcome-3", "renewal-30", "renewal-7", "event-reminder"}
    assert steps["welcome-2"].describe() == "3 days after confirmation"
    assert steps["renewal-7"].attribute == "renewal_date"


def test_welcome_series_follows_confirmation_once_each(
    synced: Engine, site: Config, people: People, clock: FixedClock
) -> None:
    run_automations(synced, site, clock)  # the steps become active now
    clock.advance(60)
    (ana,) = people(["ana@example.org"], clock=clock, confirm=True)
    clock.advance(60)
    run_automations(synced, site, clock)
    run_automations(synced, site, clock)
    assert queued(synced, "welcome-1") == [ana], "once, however many passes"
    assert queued(synced, "welcome-2") == []
    clock.advance(3 * DAY)
    run_automations(synced, site, clock)
    assert queued(synced, "welcome-2") == [ana]
    assert queued(synced, "welcome-3") == []
    clock.advance(7 * DAY)
    run_automations(synced, site, clock)
    assert queued(synced, "welcome-3") == [ana]
    assert queued(synced, "welcome-1") == [ana]


def test_people_from_before_the_automation_existed_are_not_welcomed(
    synced: Engine, site: Config, people: People, clock: FixedClock
) -> None:
    people(["old@example.org"], clock=clock, confirm=True)
    clock.advance(DAY)
    run_automations(synced, site, clock)
    assert queued(synced, "welcome-1") == []


def test_unsubscribed_people_are_not_queued(
    synced: Engine, site: Config, people: People, clock: FixedClock
) -> None:
    run_automations(synced, site, clock)
    clock.advance(60)
    stays, leaves = people(["stays@example.org", "leaves@example.org"], clock=clock, confirm=True)
    with transaction(synced) as session:
        unsubscribe(session, leaves, consent=Consent(ConsentMethod.ONE_CLICK), clock=clock)
    clock.advance(60)
    run_automations(synced, site, clock)
    assert queued(synced, "welcome-1") == [stays]


def test_renewal_reminders_count_back_from_the_date(
    synced: Engine, site: Config, people: People, clock: FixedClock
) -> None:
    run_automations(synced, site, clock)  # active from 2026-11-30 09:00 New York
    renews = (clock.now().date() + timedelta(days=40)).isoformat()
    (member,) = people(["member@example.org"], clock=clock, attributes={"renewal_date": renews})
    people(["no-date@example.org"], clock=clock)
    clock.advance(9 * DAY)
    run_automations(synced, site, clock)
    assert queued(synced, "renewal-30") == []
    clock.advance(DAY + 60)  # 30 days before, just after 09:00
    run_automations(synced, site, clock)
    assert queued(synced, "renewal-30") == [member]
    assert queued(synced, "renewal-7") == []
    clock.advance(23 * DAY)
    run_automations(synced, site, clock)
    assert queued(synced, "renewal-7") == [member]
    assert queued(synced, "renewal-30") == [member]


def test_event_reminder_goes_the_day_before_to_the_topic_only(
    synced: Engine, site: Config, people: People, clock: FixedClock
) -> None:
    (goer,) = people(["goer@example.org"], clock=clock, topic_keys=["trainings-events"])
    people(["reader@example.org"], clock=clock, topic_keys=["monthly-newsletter"])
    run_automations(synced, site, clock)
    assert queued(synced, "event-reminder") == []
    days = (date(2027, 3, 11) - clock.now().date()).days
    clock.advance(days * DAY + 3600 * 2)  # 2027-03-11 ~11:00 New York (after 10:00)
    run_automations(synced, site, clock)
    assert queued(synced, "event-reminder") == [goer]


def test_a_paused_step_waits_and_catches_up_when_resumed(
    synced: Engine, site: Config, people: People, clock: FixedClock
) -> None:
    run_automations(synced, site, clock)
    with transaction(synced) as session:
        assert set_paused(session, site, "welcome", True, clock) == ["welcome-1", "welcome-2", "welcome-3"]
    clock.advance(60)
    (ana,) = people(["ana@example.org"], clock=clock, confirm=True)
    clock.advance(60)
    run_automations(synced, site, clock)
    assert queued(synced, "welcome-1") == []
    with transaction(synced) as session:
        set_paused(session, site, "welcome-1", False, clock)
    run_automations(synced, site, clock)
    assert queued(synced, "welcome-1") == [ana]


def test_queued_automation_mail_is_sent_through_the_transport(
    synced: Engine, site: Config, people: People, clock: FixedClock, jobs: FakeJobs
) -> None:
    run_automations(synced, site, clock)
    clock.advance(60)
    people(["ana@example.org", "ben@example.org"], clock=clock, confirm=True)
    clock.advance(60)
    runtime = scheduler_jobs.Runtime(site, synced, clock, jobs, lambda: True)
    run_automations(synced, site, clock)
    scheduler_jobs.continue_sending(runtime)
    scheduler_jobs.continue_sending(runtime)
    sent = messages(site.path("outbox"))
    assert sorted(str(m["To"]) for m in sent) == ["Ana <ana@example.org>", "Ana <ben@example.org>"]
    assert all(str(m["Subject"]).startswith("Welcome to VAIMH") for m in sent)
    with synced.connect() as connection:
        state = connection.scalar(
            sa.select(Campaign.status).where(Campaign.issue_slug == slug_of("welcome-1"))
        )
    assert state is CampaignStatus.DONE


def test_a_reader_who_chose_spanish_is_welcomed_in_spanish(
    synced: Engine, site: Config, people: People, clock: FixedClock, jobs: FakeJobs
) -> None:
    assert (site.path("newsletters") / "automations" / "welcome-1.es.md").exists()  # the step's edition
    run_automations(synced, site, clock)
    clock.advance(60)
    ana, rosa = people(["ana@example.org", "rosa@example.org"], clock=clock, confirm=True)
    with transaction(synced) as session:
        session.execute(sa.update(Subscriber).where(Subscriber.id == rosa).values(language="es-MX"))
    clock.advance(60)
    runtime = scheduler_jobs.Runtime(site, synced, clock, jobs, lambda: True)
    run_automations(synced, site, clock)
    scheduler_jobs.continue_sending(runtime)
    scheduler_jobs.continue_sending(runtime)
    subjects = {
        str(m["To"]).split("<")[1].rstrip(">"): str(m["Subject"]) for m in messages(site.path("outbox"))
    }
    assert subjects["ana@example.org"].startswith("Welcome to VAIMH")
    assert subjects["rosa@example.org"].startswith("Bienvenido a VAIMH")
    assert queued(synced, "welcome-1") == sorted([ana, rosa])  # one campaign, one row each


def test_a_segment_naming_a_role_the_site_lacks_stops_the_pass_instead_of_matching_nobody(
    synced: Engine, site: Config
) -> None:
    """segments.yaml edited after an automation (or a scheduled send) was checked: the role is checked
    against the site's roles when the segments are loaded to send, as `outreach check` does."""
    segments = site.path("lists") / "segments.yaml"
    segments.write_text(
        segments.read_text(encoding="utf-8") + "\nastronauts:\n  rule:\n    role: astronaut\n",
        encoding="utf-8",
    )
    with pytest.raises(OutreachError) as raised:
        run_automations(synced, site, FixedClock(datetime(2026, 12, 1, 12, tzinfo=UTC)))
    message = str(raised.value)
    assert "astronaut" in message and "segments.yaml" in message
    assert "parent-or-caregiver" in message  # the valid choices are named
