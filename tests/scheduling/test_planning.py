"""Schedule, re-schedule, cancel; at the due time: grace, missed, window, exactly once, local time.

Everything runs with a FixedClock against a real database (SQLite, and PostgreSQL when asked).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from outreach.audience import Consent, ConsentMethod, load_segments, transaction, unsubscribe
from outreach.audience.schema import Subscriber
from outreach.audience.subscribers import known_topics
from outreach.clock import FixedClock
from outreach.config import Config
from outreach.content.editions import read_editions
from outreach.delivery.campaigns import history, sender_for
from outreach.delivery.schema import Campaign, CampaignEdition, CampaignEvent, CampaignStatus, Delivery
from outreach.render import render_issue
from outreach.scheduling import jobs as scheduler_jobs
from outreach.scheduling.errors import SchedulingError
from outreach.scheduling.planning import cancel_issue, schedule_issue
from outreach.scheduling.sending import Start, start_due
from outreach.scheduling.timing import SendWindow
from tests.scheduling.conftest import START, FakeJobs, People, Plan, issue_text

NY = ZoneInfo("America/New_York")
GRACE = timedelta(hours=6)
SEND_AT = datetime(2026, 12, 1, 9, 0, tzinfo=NY)


def start(
    engine: Engine, site: Config, campaign_id: int, clock: FixedClock, window: SendWindow | None = None
) -> Start:
    with transaction(engine) as session:
        segments = load_segments(site.path("lists") / "segments.yaml", known_topics(session), "segments.yaml")
        return start_due(session, campaign_id, segments, clock, window or SendWindow(NY), GRACE).outcome


def kinds(engine: Engine, campaign_id: int) -> list[str]:
    with transaction(engine) as session:
        return [e.kind for e in history(session, campaign_id)]


def status(engine: Engine, campaign_id: int) -> CampaignStatus:
    with transaction(engine) as session:
        found = session.get(Campaign, campaign_id)
        assert found is not None
        return found.status


def rows(engine: Engine, campaign_id: int) -> int:
    with engine.connect() as connection:
        return int(
            connection.scalar(sa.select(sa.func.count()).where(Delivery.campaign_id == campaign_id)) or 0
        )


def test_schedule_creates_a_scheduled_campaign_and_one_job(
    synced: Engine, plan: Plan, jobs: FakeJobs
) -> None:
    campaign_id = plan()
    assert status(synced, campaign_id) is CampaignStatus.SCHEDULED
    assert jobs.jobs == {"issue:2026-12-news": (SEND_AT.astimezone(UTC), campaign_id)}
    assert kinds(synced, campaign_id) == ["scheduled"]
    assert rows(synced, campaign_id) == 0, "the audience is taken at the due time, not now"


def test_rescheduling_an_edited_issue_replaces_content_and_job(
    synced: Engine, plan: Plan, jobs: FakeJobs, issue_file: Path
) -> None:
    campaign_id = plan()
    issue_file.write_text(issue_text("Edited subject", "2026-12-02 10:30"), encoding="utf-8")
    assert plan() == campaign_id
    with transaction(synced) as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        assert campaign.subject == "Edited subject"
        assert "Edited subject" in campaign.subject_source
        assert campaign.send_at == datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
        events = history(session, campaign_id)
    assert [e.kind for e in events] == ["scheduled", "rescheduled"]
    assert "2026-12-02 10:30 EST" in events[1].detail and "was 2026-12-01 09:00 EST" in events[1].detail
    assert list(jobs.jobs) == ["issue:2026-12-news"]
    assert jobs.jobs["issue:2026-12-news"] == (datetime(2026, 12, 2, 15, 30, tzinfo=UTC), campaign_id)


def test_cancel_marks_the_campaign_and_drops_the_job(
    synced: Engine, plan: Plan, jobs: FakeJobs, clock: FixedClock
) -> None:
    campaign_id = plan()
    with transaction(synced) as session:
        assert cancel_issue(session, "2026-12-news", clock, jobs) == campaign_id
    assert status(synced, campaign_id) is CampaignStatus.CANCELLED
    assert kinds(synced, campaign_id) == ["scheduled", "cancelled"]
    assert jobs.jobs == {}
    with transaction(synced) as session, pytest.raises(SchedulingError, match="not scheduled"):
        cancel_issue(session, "2026-12-news", clock, jobs)
    # A cancelled job that fires anyway does nothing.
    clock.advance((SEND_AT - START).total_seconds())
    assert start(synced, issue_site(synced), campaign_id, clock) is Start.GONE


def issue_site(engine: Engine) -> Config:  # the segments file is only read; any project will do
    from outreach.config import load_config
    from tests.conftest import REPO

    return load_config(REPO, environ={})


def test_a_send_at_in_the_past_is_refused(plan: Plan, clock: FixedClock) -> None:
    clock.advance(timedelta(days=2).total_seconds())
    with pytest.raises(SchedulingError, match="in the past"):
        plan()


def test_due_send_starts_exactly_once_with_the_audience_of_the_day(
    synced: Engine, site: Config, plan: Plan, people: People, clock: FixedClock
) -> None:
    readers = people(["a@example.org", "b@example.org"], clock=clock)
    people(["policy@example.org"], clock=clock, topic_keys=["policy-advocacy"])
    campaign_id = plan()
    assert start(synced, site, campaign_id, clock) is Start.WAITING
    late = people(["late@example.org"], clock=clock)  # joined after scheduling: included
    with transaction(synced) as session:
        unsubscribe(session, readers[1], consent=Consent(ConsentMethod.ONE_CLICK), clock=clock)
    clock.advance((SEND_AT - START).total_seconds())
    assert start(synced, site, campaign_id, clock) is Start.STARTED
    assert start(synced, site, campaign_id, clock) is Start.GONE, "a second firing must not start it again"
    with synced.connect() as connection:
        ids = set(
            connection.scalars(sa.select(Delivery.subscriber_id).where(Delivery.campaign_id == campaign_id))
        )
    assert ids == {readers[0], late[0]}
    assert status(synced, campaign_id) is CampaignStatus.SENDING
    assert kinds(synced, campaign_id) == ["scheduled", "started"]


def test_within_grace_a_late_send_still_goes(
    synced: Engine, site: Config, plan: Plan, people: People, clock: FixedClock
) -> None:
    people(["a@example.org"], clock=clock)
    campaign_id = plan()
    clock.advance((SEND_AT - START + timedelta(hours=5, minutes=59)).total_seconds())
    assert start(synced, site, campaign_id, clock) is Start.STARTED
    assert rows(synced, campaign_id) == 1


def test_past_grace_it_is_missed_loudly_and_not_sent(
    synced: Engine, site: Config, plan: Plan, people: People, clock: FixedClock
) -> None:
    people(["a@example.org"], clock=clock)
    campaign_id = plan()
    clock.advance((SEND_AT - START + GRACE + timedelta(seconds=1)).total_seconds())
    assert start(synced, site, campaign_id, clock) is Start.MISSED
    assert status(synced, campaign_id) is CampaignStatus.MISSED
    with transaction(synced) as session:
        missed = history(session, campaign_id)[-1]
    assert missed.kind == "missed" and "NOT sent" in missed.detail
    assert rows(synced, campaign_id) == 0
    assert start(synced, site, campaign_id, clock) is Start.GONE


def test_reconcile_reports_missed_sends_and_recreates_lost_jobs(
    synced: Engine, site: Config, plan: Plan, jobs: FakeJobs, clock: FixedClock
) -> None:
    campaign_id = plan()
    said: list[str] = []
    runtime = scheduler_jobs.Runtime(site, synced, clock, jobs, lambda: True, said.append)
    jobs.jobs.clear()  # e.g. APScheduler dropped it
    scheduler_jobs.reconcile(runtime)
    assert jobs.jobs["issue:2026-12-news"] == (SEND_AT.astimezone(UTC), campaign_id)
    jobs.jobs["issue:stale"] = (START, 999)
    clock.advance((SEND_AT - START + GRACE + timedelta(minutes=1)).total_seconds())
    scheduler_jobs.reconcile(runtime)
    assert status(synced, campaign_id) is CampaignStatus.MISSED
    assert jobs.jobs == {}
    assert any(line.startswith("MISSED campaign") for line in said)


def test_a_send_due_outside_the_window_waits_for_it(
    synced: Engine, site: Config, plan: Plan, jobs: FakeJobs, people: People, clock: FixedClock
) -> None:
    people(["a@example.org"], clock=clock)
    window = SendWindow(NY, time(10), time(20))
    campaign_id = plan(window=window)
    opens = datetime(2026, 12, 1, 10, 0, tzinfo=NY)
    assert jobs.jobs["issue:2026-12-news"][0] == opens.astimezone(UTC)
    clock.advance((SEND_AT - START).total_seconds())
    assert start(synced, site, campaign_id, clock, window) is Start.WAITING
    clock.advance(3600)
    assert start(synced, site, campaign_id, clock, window) is Start.STARTED


def test_local_time_gives_each_row_its_readers_nine_oclock(
    synced: Engine, site: Config, plan: Plan, jobs: FakeJobs, people: People, clock: FixedClock
) -> None:
    (nowhere,) = people(["site@example.org"], clock=clock)
    (west,) = people(["west@example.org"], clock=clock, time_zone="America/Los_Angeles")
    (east,) = people(["east@example.org"], clock=clock, time_zone="Europe/London")
    campaign_id = plan(local_time=True)
    london_nine = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Europe/London")).astimezone(UTC)
    assert jobs.jobs["issue:2026-12-news"][0] == london_nine, "the job wakes for the first zone"
    clock.advance((london_nine - START).total_seconds())
    assert start(synced, site, campaign_id, clock) is Start.STARTED
    with synced.connect() as connection:
        due = dict(
            connection.execute(
                sa.select(Delivery.subscriber_id, Delivery.next_attempt_at).where(
                    Delivery.campaign_id == campaign_id
                )
            ).all()
        )
    assert due[east] == london_nine
    assert due[nowhere] == SEND_AT.astimezone(UTC)
    assert due[west] == datetime(2026, 12, 1, 17, 0, tzinfo=UTC)


TOKYO = ZoneInfo("Asia/Tokyo")


def test_local_time_judges_each_recipient_on_their_own_due_time(
    synced: Engine, site: Config, plan: Plan, jobs: FakeJobs, people: People, clock: FixedClock
) -> None:
    """Scheduled 7 h before 09:00 in New York: Tokyo's 09:00 passed 7 h ago (more than the 6 h grace),
    everyone else's is still ahead. Only the Tokyo reader misses it; the campaign goes on."""
    (tokyo,) = people(["tokyo@example.org"], clock=clock, time_zone="Asia/Tokyo")
    (west,) = people(["west@example.org"], clock=clock, time_zone="America/Los_Angeles")
    (site_reader,) = people(["site@example.org"], clock=clock)
    clock.advance((SEND_AT - START - timedelta(hours=7)).total_seconds())
    campaign_id = plan(local_time=True)
    said: list[str] = []
    runtime = scheduler_jobs.Runtime(site, synced, clock, jobs, lambda: True, said.append)
    scheduler_jobs.reconcile(runtime)
    assert status(synced, campaign_id) is CampaignStatus.SCHEDULED, said
    assert start(synced, site, campaign_id, clock) is Start.STARTED
    with synced.connect() as connection:
        rows_by_reader = {
            row.subscriber_id: row
            for row in connection.execute(
                sa.select(
                    Delivery.subscriber_id, Delivery.state, Delivery.reason, Delivery.next_attempt_at
                ).where(Delivery.campaign_id == campaign_id)
            )
        }
    assert rows_by_reader[tokyo].state == "skipped" and "missed" in rows_by_reader[tokyo].reason
    assert rows_by_reader[west].state == "pending"
    assert rows_by_reader[west].next_attempt_at == datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
    assert rows_by_reader[site_reader].state == "pending"
    assert rows_by_reader[site_reader].next_attempt_at == SEND_AT.astimezone(UTC)
    started = [e.detail for e in history_of(synced, campaign_id) if e.kind == "started"]
    assert "1 recipient" in started[0] and "skipped" in started[0]


@pytest.mark.parametrize(
    ("late", "outcome"), [(timedelta(0), Start.STARTED), (timedelta(seconds=1), Start.MISSED)]
)
def test_local_time_is_missed_only_when_the_last_zone_is_past_grace(
    synced: Engine,
    site: Config,
    plan: Plan,
    people: People,
    clock: FixedClock,
    late: timedelta,
    outcome: Start,
) -> None:
    """A scheduler that comes back after Tokyo's grace but within Los Angeles': the campaign starts,
    the Tokyo reader is skipped and the other goes at once. A second later, everyone has missed it."""
    people(["tokyo@example.org"], clock=clock, time_zone="Asia/Tokyo")
    people(["west@example.org"], clock=clock, time_zone="America/Los_Angeles")
    campaign_id = plan(local_time=True)
    los_angeles_nine = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
    clock.advance((los_angeles_nine + GRACE + late - START).total_seconds())
    assert start(synced, site, campaign_id, clock) is outcome
    if outcome is Start.STARTED:
        assert states(synced, campaign_id) == {"tokyo@example.org": "skipped", "west@example.org": "pending"}
    else:
        assert states(synced, campaign_id) == {}
        assert status(synced, campaign_id) is CampaignStatus.MISSED


def states(engine: Engine, campaign_id: int) -> dict[str, str]:
    with engine.connect() as connection:
        return {
            str(email): str(state)
            for email, state in connection.execute(
                sa.select(Subscriber.email, Delivery.state)
                .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                .where(Delivery.campaign_id == campaign_id)
            )
        }


def history_of(engine: Engine, campaign_id: int) -> list[CampaignEvent]:
    with transaction(engine) as session:
        return list(history(session, campaign_id))


def test_a_scheduled_issue_sends_each_reader_their_edition_chosen_at_the_due_time(
    synced: Engine, site: Config, people: People, clock: FixedClock, jobs: FakeJobs, issue_file: Path
) -> None:
    spanish = issue_file.with_name(issue_file.stem + ".es.md")
    spanish.write_text(
        "---\nsubject: Noticias de diciembre\n"
        "preheader: Un preencabezado lo bastante largo para la revisión\n"
        "language: es\nstatus: ready\n---\nHola.\n",
        encoding="utf-8",
    )
    english, es = (render_issue(issue, site) for issue in read_editions(issue_file, site.time_zone).all)
    with transaction(synced) as session:
        campaign_id = schedule_issue(
            session, english, sender_for(site, english), "outbox", clock, SendWindow(NY), jobs, editions=[es]
        ).campaign_id
    ana, ben = people(["ana@example.org", "ben@example.org"], clock=clock)
    with transaction(synced) as session:  # ana reads Spanish by the time it goes
        session.execute(sa.update(Subscriber).where(Subscriber.id == ana).values(language="es"))
    clock.advance((SEND_AT - START).total_seconds())
    assert start(synced, site, campaign_id, clock) is Start.STARTED
    with synced.connect() as connection:
        languages = dict(
            connection.execute(
                sa.select(Delivery.subscriber_id, Delivery.language).where(
                    Delivery.campaign_id == campaign_id
                )
            ).all()
        )
        stored = connection.scalars(
            sa.select(CampaignEdition.subject).where(CampaignEdition.campaign_id == campaign_id)
        ).all()
    assert languages == {ana: "es", ben: "en"}
    assert stored == ["Noticias de diciembre"]
