"""Exports of Mailchimp, listmonk, Mailcoach and Buttondown (and a plain status column), on both databases.

People who left at the tool a file comes from are put on the suppression list and never become active
subscribers; tags and JSON attributes arrive as tags and attributes; an attributes-only ``--update``
subscribes nobody to anything.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from outreach.audience.consent import Consent
from outreach.audience.csv_read import read_table
from outreach.audience.db import transaction
from outreach.audience.import_plan import ExistingPolicy
from outreach.audience.schema import (
    ConsentAction,
    ConsentEvent,
    ConsentMethod,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
)
from outreach.audience.subscribers import add_subscriber, find_by_email
from outreach.audience.suppression import is_suppressed
from outreach.audience.topics import TopicDefinition
from outreach.clock import FixedClock

from .helpers import count, run_import, snapshot, write

Topics = tuple[TopicDefinition, ...]
EXPORTS = Path(__file__).parent / "fixtures" / "exports"


def _suppressions(engine: Engine) -> dict[str, tuple[SuppressionReason, str]]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(Suppression.email, Suppression.reason, Suppression.note))
        return {email: (reason, note) for email, reason, note in rows}


def _person(engine: Engine, email: str) -> Subscriber | None:
    with transaction(engine) as session:
        return find_by_email(session, email)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("mailchimp-subscribed.csv", "Mailchimp export"),
        ("mailchimp-unsubscribed.csv", "Mailchimp export"),
        ("mailchimp-cleaned.csv", "Mailchimp export"),
        ("listmonk.csv", "listmonk export"),
        ("mailcoach.csv", "Mailcoach export"),
        ("buttondown.csv", "Buttondown export"),
        ("generic-status.csv", ""),
    ],
)
def test_each_export_is_recognised(name: str, fmt: str) -> None:
    assert read_table(EXPORTS / name).format == fmt


def test_mailchimp_unsubscribed_and_cleaned_exports_become_suppressions(
    synced: Engine, topics: Topics, clock: FixedClock
) -> None:
    report = run_import(synced, EXPORTS / "mailchimp-unsubscribed.csv", topics, clock)
    assert (report.new, report.suppressed, report.rejected) == (0, 2, 0)
    report = run_import(synced, EXPORTS / "mailchimp-cleaned.csv", topics, clock)
    assert (report.new, report.suppressed) == (0, 1)
    assert count(synced, Subscriber) == 0
    found = _suppressions(synced)
    assert found["grace.okoye@example.org"][0] is SuppressionReason.UNSUBSCRIBED
    assert "2024-02-01 09:00:00" in found["grace.okoye@example.org"][1]
    assert found["tomas.alvarez@example.com"][0] is SuppressionReason.UNSUBSCRIBED
    assert found["old.address@example.net"][0] is SuppressionReason.BOUNCED
    # Imported again with a consent basis and --update, the file still subscribes nobody.
    again = run_import(
        synced,
        EXPORTS / "mailchimp-unsubscribed.csv",
        topics,
        clock,
        consent="Mailchimp audience",
        policy=ExistingPolicy.UPDATE,
    )
    assert (again.new, again.suppressed, again.already_suppressed) == (0, 0, 2)
    assert count(synced, Subscriber) == 0


def test_mailchimp_subscribed_export_tags_fields_and_geo_columns(
    synced: Engine, topics: Topics, clock: FixedClock
) -> None:
    report = run_import(
        synced, EXPORTS / "mailchimp-subscribed.csv", topics, clock, consent="Mailchimp audience"
    )
    assert (report.new, report.rejected) == (3, 0)
    marisol = _person(synced, "marisol.vega@example.org")
    assert marisol is not None and marisol.status is SubscriberStatus.ACTIVE
    assert sorted(t.tag for t in marisol.tags) == ["board", "donor"]
    assert marisol.region == ""  # Mailchimp's REGION is where the address was seen, not our region
    assert marisol.attributes["geo_region"] == "VA" and marisol.attributes["country_code"] == "US"
    assert marisol.time_zone == "America/New_York"
    assert marisol.signup_date.isoformat() == "2023-04-11"
    assert marisol.attributes["notes"] == "Met at the spring conference"
    assert not {"leid", "euid", "member_rating"} & set(marisol.attributes)
    lin = _person(synced, "lin.zhao@example.net")
    assert lin is not None and [t.tag for t in lin.tags] == ["reflective supervision"]


def test_an_active_subscriber_in_an_unsubscribed_export_stops_being_mailed(
    synced: Engine, topics: Topics, clock: FixedClock
) -> None:
    with transaction(synced) as session:
        add_subscriber(
            session,
            "grace.okoye@example.org",
            consent=Consent(ConsentMethod.ADMIN, source="test"),
            clock=clock,
            topics=["monthly-newsletter"],
        )
    report = run_import(synced, EXPORTS / "mailchimp-unsubscribed.csv", topics, clock)
    assert report.suppressed == 2
    grace = _person(synced, "grace.okoye@example.org")
    assert grace is not None and grace.status is SubscriberStatus.UNSUBSCRIBED
    with transaction(synced) as session:
        assert is_suppressed(session, "grace.okoye@example.org")
        actions = session.scalars(
            sa.select(ConsentEvent.action).where(ConsentEvent.subscriber_id == grace.id)
        ).all()
    assert ConsentAction.SUPPRESSED in actions


def test_listmonk_blocklisted_is_suppressed_and_attributes_json_becomes_attributes(
    synced: Engine, topics: Topics, clock: FixedClock, tmp_path: Path
) -> None:
    rejects_path = tmp_path / "rejects.csv"
    report = run_import(
        synced, EXPORTS / "listmonk.csv", topics, clock, consent="listmonk list", rejects_path=rejects_path
    )
    assert (report.new, report.suppressed, report.rejected) == (1, 1, 1)
    ana = _person(synced, "ana.reyes@example.org")
    assert ana is not None and (ana.first_name, ana.last_name) == ("Ana", "Reyes")
    assert ana.attributes == {
        "city": "Norfolk",
        "projects": "3",
        "endorsed": "true",
        "renewal_date": "2026-05-01",
    }
    assert ana.signup_date.isoformat() == "2024-01-15"
    assert _person(synced, "blocked.person@example.com") is None
    assert _suppressions(synced)["blocked.person@example.com"][0] is SuppressionReason.MANUAL
    assert _person(synced, "paused.person@example.net") is None  # disabled there: rejected, with the reason
    rejects = rejects_path.read_text(encoding="utf-8")
    assert "'disabled': not receiving mail at the source" in rejects


def test_mailcoach_unsubscribed_at_tags_and_extra_attributes(
    synced: Engine, topics: Topics, clock: FixedClock, tmp_path: Path
) -> None:
    report = run_import(
        synced,
        EXPORTS / "mailcoach.csv",
        topics,
        clock,
        consent="Mailcoach list",
        rejects_path=tmp_path / "r.csv",
    )
    assert (report.new, report.suppressed, report.rejected) == (1, 1, 1)
    keisha = _person(synced, "keisha.brown@example.org")
    assert keisha is not None
    assert sorted(t.tag for t in keisha.tags) == ["board", "donor"]
    assert keisha.attributes == {"county": "Henrico"}
    assert _suppressions(synced)["gone.reader@example.com"][0] is SuppressionReason.UNSUBSCRIBED
    assert _person(synced, "never.confirmed@example.net") is None


def test_buttondown_subscriber_types(
    synced: Engine, topics: Topics, clock: FixedClock, tmp_path: Path
) -> None:
    report = run_import(
        synced,
        EXPORTS / "buttondown.csv",
        topics,
        clock,
        consent="Buttondown",
        rejects_path=tmp_path / "r.csv",
    )
    assert (report.new, report.suppressed, report.rejected) == (1, 2, 1)
    jordan = _person(synced, "jordan.lee@example.org")
    assert jordan is not None
    assert sorted(t.tag for t in jordan.tags) == ["board", "donor"]
    assert jordan.attributes["county"] == "Fairfax" and jordan.attributes["source"] == "import"
    found = _suppressions(synced)
    assert found["left.early@example.com"][0] is SuppressionReason.UNSUBSCRIBED
    assert found["robot@example.net"][0] is SuppressionReason.MANUAL
    assert _person(synced, "not.yet@example.net") is None


def test_a_plain_status_column(synced: Engine, topics: Topics, clock: FixedClock, tmp_path: Path) -> None:
    rejects_path = tmp_path / "rejects.csv"
    report = run_import(
        synced, EXPORTS / "generic-status.csv", topics, clock, consent="old CRM", rejects_path=rejects_path
    )
    rejects = rejects_path.read_text(encoding="utf-8")
    assert (report.new, report.suppressed, report.rejected) == (1, 3, 2)
    reasons = {email: reason for email, (reason, _) in _suppressions(synced).items()}
    assert reasons == {
        "said.no@example.org": SuppressionReason.UNSUBSCRIBED,
        "bounced.box@example.org": SuppressionReason.BOUNCED,
        "spam.click@example.org": SuppressionReason.COMPLAINED,
    }
    assert "never confirmed at the source" in rejects
    assert "unknown status 'Maybe later'; known:" in rejects


def test_an_attributes_only_update_adds_no_default_topic(
    synced: Engine, topics: Topics, clock: FixedClock, tmp_path: Path
) -> None:
    first = write(tmp_path / "a.csv", "Email,Topics\nana@example.org,policy-advocacy\n")
    run_import(synced, first, topics, clock, consent="sheet")
    before = snapshot(synced)["topics"]
    second = write(tmp_path / "b.csv", "Email,Renewal Date\nana@example.org,04/15/2026\n")
    report = run_import(synced, second, topics, clock, consent="sheet", policy=ExistingPolicy.UPDATE)
    assert report.updated == 1
    ana = _person(synced, "ana@example.org")
    assert ana is not None and ana.attributes == {"renewal_date": "2026-04-15"}
    assert snapshot(synced)["topics"] == before  # not given monthly-newsletter, the default topic
    # A new subscriber in such a file still gets the default topics.
    third = write(tmp_path / "c.csv", "Email,Renewal Date\nben@example.org,04/15/2026\n")
    run_import(synced, third, topics, clock, consent="sheet", policy=ExistingPolicy.UPDATE)
    ben = _person(synced, "ben@example.org")
    assert ben is not None and [t.topic_key for t in ben.topics] == ["monthly-newsletter"]


def test_importing_a_departures_file_twice_changes_nothing(
    synced: Engine, topics: Topics, clock: FixedClock
) -> None:
    run_import(synced, EXPORTS / "mailchimp-unsubscribed.csv", topics, clock)
    before = snapshot(synced)
    clock.advance(60)
    again = run_import(synced, EXPORTS / "mailchimp-unsubscribed.csv", topics, clock)
    assert (again.suppressed, again.already_suppressed) == (0, 2)
    assert snapshot(synced) == before


def test_someone_who_left_wins_over_a_subscribing_row_of_the_same_file(
    synced: Engine, topics: Topics, clock: FixedClock, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "merged.csv",
        "Email,Status\nana@example.org,subscribed\nANA@example.org,unsubscribed\nben@example.org,active\n",
    )
    report = run_import(synced, path, topics, clock, consent="two sheets")
    assert (report.new, report.suppressed) == (1, 1)
    assert _person(synced, "ana@example.org") is None
