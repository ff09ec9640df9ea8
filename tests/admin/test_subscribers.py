"""The subscribers pages: search and filters, paging deep into the list, one person's page, edits that
are logged, suppression, the GDPR copy and erasure, each with its role."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient
from typer.testing import CliRunner

from outreach.accounts.schema import Role
from outreach.audience import Consent, ConsentMethod, add_subscriber, transaction
from outreach.audience.addresses import email_hash
from outreach.audience.audit import AuditEntry, entries
from outreach.audience.schema import (
    ConsentEvent,
    Subscriber,
    SubscriberStatus,
    SubscriberTopic,
    Suppression,
    SuppressionReason,
)
from outreach.audience.subscribers import Profile
from outreach.cli import app
from outreach.clock import FixedClock
from outreach.delivery.schema import DeliveryState
from outreach.events.model import EventKind
from outreach.events.schema import EventRecord
from tests.admin import campaign_fill
from tests.admin.conftest import USERS, csrf_of
from tests.conftest import TEST_SECRET

SIGNUP = Consent(ConsentMethod.FORM, source="conference sign-up sheet", notice_version="privacy-2026-03")


def person(
    engine: Engine,
    clock: FixedClock,
    address: str,
    *,
    topics: tuple[str, ...] = ("monthly-newsletter",),
    **profile: str,
) -> int:
    with transaction(engine) as session:
        campaign_fill.topics(session)
        who = add_subscriber(
            session, address, consent=SIGNUP, clock=clock, profile=Profile(**profile), topics=topics
        )
        return who.id


def listed(html: str) -> list[str]:
    """The addresses in the subscribers table, in order."""
    return re.findall(r'<th scope="row"><a href="/admin/subscribers/\d+">([^<]+)</a>', html)


def some_people(engine: Engine, clock: FixedClock) -> dict[str, int]:
    return {
        "ana": person(
            engine,
            clock,
            "ana.garcia@example.org",
            first_name="Ana",
            last_name="García",
            organisation="Riverside Family Services",
            role="parent-or-caregiver",
            language="es",
            topics=("monthly-newsletter", "spanish-edition"),
        ),
        "ben": person(
            engine,
            clock,
            "ben@clinic.example",
            first_name="Ben",
            last_name="Anand",
            organisation="Tidewater Pediatrics",
            role="pediatric-clinician",
            region="Hampton Roads",
        ),
        "cara": person(
            engine,
            clock,
            "cara@example.org",
            first_name="Cara",
            last_name="Mills",
            organisation="Children's Hospital",
            role="home-visitor",
            topics=("trainings-events",),
        ),
        "dan": person(engine, clock, "dan@example.net", first_name="Dan", last_name="Riverside"),
    }


def test_search_finds_people_by_the_start_of_address_name_or_organisation(
    signed_in: Callable[[str], TestClient], engine: Engine, clock: FixedClock
) -> None:
    some_people(engine, clock)
    client = signed_in(USERS[Role.VIEWER])
    assert listed(client.get("/admin/subscribers").text) == [
        "dan@example.net",
        "cara@example.org",
        "ben@clinic.example",
        "ana.garcia@example.org",
    ]
    # An address, a first name, a last name ("Anand"), and an organisation's start, in any case.
    assert listed(client.get("/admin/subscribers", params={"q": "ana"}).text) == [
        "ben@clinic.example",
        "ana.garcia@example.org",
    ]
    assert listed(client.get("/admin/subscribers", params={"q": "RIVER"}).text) == [
        "dan@example.net",
        "ana.garcia@example.org",
    ]
    assert listed(client.get("/admin/subscribers", params={"q": "children"}).text) == ["cara@example.org"]
    # Every word must match something.
    assert listed(client.get("/admin/subscribers", params={"q": "ana riverside"}).text) == [
        "ana.garcia@example.org"
    ]
    # Wildcards are letters like any other: "ana_" is not "ana." nor "anan".
    assert listed(client.get("/admin/subscribers", params={"q": "ana_"}).text) == []
    assert listed(client.get("/admin/subscribers", params={"q": "%"}).text) == []
    page = client.get("/admin/subscribers", params={"q": "zz%_"})
    assert listed(page.text) == [] and "No one matches" in page.text and "0 people match" in page.text


def test_filters_by_topic_segment_status_and_language(
    signed_in: Callable[[str], TestClient], engine: Engine, clock: FixedClock
) -> None:
    ids = some_people(engine, clock)
    with transaction(engine) as session:
        campaign_fill.set_status(session, ids["dan"], "bounced")
    client = signed_in(USERS[Role.VIEWER])

    def shown(**params: str) -> list[str]:
        answer = client.get("/admin/subscribers", params=params)
        assert answer.status_code == 200
        return listed(answer.text)

    assert shown(topic="trainings-events") == ["cara@example.org"]
    assert shown(language="es") == ["ana.garcia@example.org"]
    assert shown(status="bounced") == ["dan@example.net"]
    assert shown(segment="spanish-speaking-families") == ["ana.garcia@example.org"]
    assert shown(segment="clinicians-hampton-roads") == ["ben@clinic.example"]
    # "all" is everyone who may be mailed: the bounced address is not.
    assert "dan@example.net" not in shown(segment="all")
    assert shown(topic="monthly-newsletter", language="en") == ["dan@example.net", "ben@clinic.example"]
    assert shown(topic="monthly-newsletter", language="en", status="active") == ["ben@clinic.example"]
    page = client.get("/admin/subscribers", params={"status": "asleep"})
    assert "There is no status" in page.text and len(listed(page.text)) == 4


def fill(engine: Engine, clock: FixedClock, total: int, spanish_from: int) -> None:
    """``total`` people with ids 1..total; ids >= ``spanish_from`` read Spanish."""
    now = clock.now()
    rows = [
        {
            "id": i,
            "email": f"person{i}@example.org",
            "email_hash": email_hash(f"person{i}@example.org"),
            "first_name": "Pat",
            "last_name": f"Member{i}",
            "organisation": "",
            "role": "",
            "region": "",
            "language": "es" if i >= spanish_from else "en",
            "status": "active",
            "attributes": {},
            "signup_date": now.date(),
            "created_at": now,
            "updated_at": now,
        }
        for i in range(1, total + 1)
    ]
    with engine.begin() as connection:
        connection.execute(sa.insert(Subscriber.__table__), rows)


def test_page_500_of_the_list_and_of_a_filtered_list_exist(
    signed_in: Callable[[str], TestClient], engine: Engine, clock: FixedClock
) -> None:
    # 25,100 people, 50 a page, newest first: page 500 holds places 24,951-25,000 (ids 150 down to 101).
    fill(engine, clock, 25_100, spanish_from=201)
    client = signed_in(USERS[Role.VIEWER])
    page = client.get("/admin/subscribers", params={"page": "500"})
    assert page.status_code == 200
    shown = listed(page.text)
    assert shown == [f"person{i}@example.org" for i in range(150, 100, -1)]
    assert "More than 10,000 people match" in page.text
    assert 'rel="next"' in page.text and "page=501" in page.text
    # Filtered: 24,900 Spanish readers (ids 201..25,100); page 498 holds ids 250 down to 201 and is last.
    filtered = client.get("/admin/subscribers", params={"language": "es", "page": "498"})
    assert listed(filtered.text) == [f"person{i}@example.org" for i in range(250, 200, -1)]
    assert 'rel="next"' not in filtered.text
    beyond = client.get("/admin/subscribers", params={"language": "es", "page": "499"})
    assert listed(beyond.text) == [] and "There is no page 499" in beyond.text
    # A word everyone has (read newest first) and a rare one (from the indexes) find the same way.
    common = client.get("/admin/subscribers", params={"q": "pat"})
    assert listed(common.text) == [f"person{i}@example.org" for i in range(25_100, 25_050, -1)]
    assert "More than 1,000 people match" in common.text
    rare = client.get("/admin/subscribers", params={"q": "member25"})
    # member25, member250-259, member2500-2599 and member25000-25100: 212 people.
    assert listed(rare.text) == [f"person{i}@example.org" for i in range(25_100, 25_050, -1)]
    assert "212 people match" in rare.text
    both = client.get("/admin/subscribers", params={"q": "pat member2501"})
    assert listed(both.text) == [
        f"person{i}@example.org"
        for i in (25_019, 25_018, 25_017, 25_016, 25_015, 25_014, 25_013, 25_012, 25_011, 25_010, 2501)
    ]
    small = client.get("/admin/subscribers", params={"language": "en"})
    assert "200 people match" in small.text and "page 1 of 4" in small.text


def test_a_persons_page_shows_their_profile_consent_log_deliveries_and_events(
    signed_in: Callable[[str], TestClient], engine: Engine, clock: FixedClock
) -> None:
    ids = some_people(engine, clock)
    with transaction(engine) as session:
        campaign_id = campaign_fill.campaign(session, clock.now() - timedelta(days=2))
        delivery = campaign_fill.row(session, campaign_id, ids["ana"], DeliveryState.SENT, clock.now())
        campaign_fill.event(session, campaign_id, EventKind.CLICKED, clock.now(), ids["ana"], delivery)
    client = signed_in(USERS[Role.VIEWER])
    page = client.get(f"/admin/subscribers/{ids['ana']}")
    assert page.status_code == 200
    text = page.text
    assert "<h1>ana.garcia@example.org</h1>" in text
    assert "Riverside Family Services" in text and "Parent or caregiver" in text
    consent = text.split('id="consent-h"')[1].split("</table>")[0]
    assert "subscribed" in consent and "conference sign-up sheet" in consent and "privacy-2026-03" in consent
    deliveries = text.split('id="deliveries-h"')[1].split("</table>")[0]
    assert "December: holding the holidays" in deliveries and "sent" in deliveries
    assert f'/admin/campaigns/{campaign_id}"' in deliveries
    assert "clicked" in text.split('id="events-h"')[1]
    # A viewer reads but is offered no changes and no copy of the personal data.
    assert "/edit" not in text and "/export" not in text and "/erase" not in text
    assert client.get("/admin/subscribers/999999").status_code == 404


def test_an_editor_changes_the_profile_and_topics_and_both_are_logged(
    signed_in: Callable[[str], TestClient], engine: Engine, clock: FixedClock
) -> None:
    ids = some_people(engine, clock)
    client = signed_in(USERS[Role.EDITOR])
    page = client.get(f"/admin/subscribers/{ids['ben']}")
    assert "/export" not in page.text and "/erase" not in page.text
    csrf = csrf_of(page.text)
    answer = client.post(
        f"/admin/subscribers/{ids['ben']}/edit",
        data={
            "csrf": csrf,
            "first_name": "Benjamin",
            "last_name": "Anand",
            "organisation": "Tidewater Pediatrics",
            "role": "Home visitor",  # a label is stored as its key
            "region": "Hampton Roads",
            "language": "en",
        },
    )
    assert answer.status_code == 200 and "The changes are saved" in answer.text
    with transaction(engine) as session:
        ben = session.get(Subscriber, ids["ben"])
        assert ben is not None and (ben.first_name, ben.role) == ("Benjamin", "home-visitor")
        edit = entries(session, limit=1)[0]
    assert (edit.action, edit.actor, edit.target) == (
        "subscriber.edit",
        USERS[Role.EDITOR],
        f"subscriber {ids['ben']}",
    )
    assert edit.detail == {"fields": ["first_name", "role"]}
    assert "Benjamin" not in json.dumps(edit.detail)  # the log names fields, never personal data

    refused = client.post(f"/admin/subscribers/{ids['ben']}/edit", data={"csrf": csrf, "role": "astronaut"})
    assert refused.status_code == 400 and "unknown role" in refused.text

    answer = client.post(
        f"/admin/subscribers/{ids['ben']}/topics",
        data={"csrf": csrf, "topic": ["trainings-events", "policy-advocacy"]},
    )
    assert answer.status_code == 200 and "consent log" in answer.text
    with transaction(engine) as session:
        topics = set(
            session.scalars(
                sa.select(SubscriberTopic.topic_key).where(SubscriberTopic.subscriber_id == ids["ben"])
            )
        )
        assert topics == {"trainings-events", "policy-advocacy"}
        events = session.execute(
            sa.select(ConsentEvent.action, ConsentEvent.topics, ConsentEvent.method, ConsentEvent.actor)
            .where(ConsentEvent.subscriber_id == ids["ben"])
            .order_by(ConsentEvent.id)
        ).all()
    changes = {(a.value, t) for a, t, _, _ in events[1:]}
    assert changes == {
        ("topic_added", "trainings-events"),
        ("topic_added", "policy-advocacy"),
        ("topic_removed", "monthly-newsletter"),
    }
    assert all(m is ConsentMethod.ADMIN and USERS[Role.EDITOR] in who for _, _, m, who in events[1:])
    # Suppressing needs an admin.
    assert client.post(f"/admin/subscribers/{ids['ben']}/suppress", data={"csrf": csrf}).status_code == 403


def test_an_admin_suppresses_someone(
    signed_in: Callable[[str], TestClient], engine: Engine, clock: FixedClock
) -> None:
    ids = some_people(engine, clock)
    client = signed_in(USERS[Role.ADMIN])
    csrf = csrf_of(client.get(f"/admin/subscribers/{ids['cara']}").text)
    answer = client.post(
        f"/admin/subscribers/{ids['cara']}/suppress", data={"csrf": csrf, "note": "asked by phone"}
    )
    assert answer.status_code == 200 and "never be mailed again" in answer.text
    with transaction(engine) as session:
        entry = session.get(Suppression, email_hash("cara@example.org"))
        assert entry is not None and (entry.reason, entry.note) == (
            SuppressionReason.MANUAL,
            "asked by phone",
        )
        cara = session.get(Subscriber, ids["cara"])
        assert cara is not None and cara.status is SubscriberStatus.UNSUBSCRIBED
        assert entries(session, limit=1)[0].action == "subscriber.suppress"
    assert "on the suppression list (manual)" in client.get(f"/admin/subscribers/{ids['cara']}").text


def test_only_admins_download_a_persons_data_and_the_copy_holds_everything(
    signed_in: Callable[[str], TestClient], engine: Engine, clock: FixedClock, client: TestClient
) -> None:
    ids = some_people(engine, clock)
    with transaction(engine) as session:
        campaign_id = campaign_fill.campaign(session, clock.now())
        campaign_fill.row(session, campaign_id, ids["ana"], DeliveryState.SENT, clock.now())
    for role in (Role.VIEWER, Role.EDITOR):
        signed_in(USERS[role])
        csrf = csrf_of(client.get("/admin/subscribers").text)
        assert client.post(f"/admin/subscribers/{ids['ana']}/export", data={"csrf": csrf}).status_code == 403
    signed_in(USERS[Role.ADMIN])
    csrf = csrf_of(client.get(f"/admin/subscribers/{ids['ana']}").text)
    answer = client.post(f"/admin/subscribers/{ids['ana']}/export", data={"csrf": csrf})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert 'attachment; filename="subscriber-' in answer.headers["content-disposition"]
    assert answer.headers["cache-control"] == "no-store"
    data = answer.json()
    assert data["email"] == "ana.garcia@example.org"
    assert data["subscriber"]["organisation"] == "Riverside Family Services"
    assert data["subscriber"]["topics"] == ["monthly-newsletter", "spanish-edition"]
    assert [e["source"] for e in data["consent_log"]] == ["conference sign-up sheet"]
    assert [d["campaign"]["id"] for d in data["deliveries"]] == [campaign_id]
    with transaction(engine) as session:
        assert entries(session, limit=1)[0].action == "subscriber.export"


def test_erasure_needs_the_address_typed_and_removes_the_personal_data(
    signed_in: Callable[[str], TestClient], engine: Engine, clock: FixedClock
) -> None:
    ids = some_people(engine, clock)
    with transaction(engine) as session:
        campaign_id = campaign_fill.campaign(session, clock.now())
        delivery = campaign_fill.row(session, campaign_id, ids["ana"], DeliveryState.SENT, clock.now())
        session.add(
            EventRecord(
                provider="test",
                provider_event_id="raw-1",
                kind=EventKind.BOUNCED_SOFT,
                campaign_id=campaign_id,
                delivery_id=delivery,
                subscriber_id=ids["ana"],
                occurred_at=clock.now(),
                received_at=clock.now(),
                detail="mailbox of ana.garcia@example.org full",
                raw={"email": "ana.garcia@example.org"},
            )
        )
    client = signed_in(USERS[Role.ADMIN])
    form = client.get(f"/admin/subscribers/{ids['ana']}/erase")
    assert form.status_code == 200 and "Type ana.garcia@example.org to confirm" in form.text
    csrf = csrf_of(form.text)
    for typed in ("", "yes", "ben@clinic.example"):
        refused = client.post(f"/admin/subscribers/{ids['ana']}/erase", data={"csrf": csrf, "confirm": typed})
        assert refused.status_code == 400 and "Nothing was erased" in refused.text
    with transaction(engine) as session:
        ana = session.get(Subscriber, ids["ana"])
        assert ana is not None and ana.email == "ana.garcia@example.org"
    done = client.post(
        f"/admin/subscribers/{ids['ana']}/erase", data={"csrf": csrf, "confirm": " Ana.Garcia@example.org "}
    )
    assert done.status_code == 200 and "The person is erased" in done.text
    assert "ana.garcia@example.org" not in done.text and "Riverside" not in done.text
    with transaction(engine) as session:
        ana = session.get(Subscriber, ids["ana"])
        assert ana is not None and ana.status is SubscriberStatus.ERASED
        assert (ana.email, ana.first_name, ana.last_name, ana.organisation, ana.topics) == (
            None,
            "",
            "",
            "",
            [],
        )
        entry = session.get(Suppression, email_hash("ana.garcia@example.org"))
        assert entry is not None and entry.reason is SuppressionReason.ERASED and entry.email is None
        event = session.scalars(sa.select(EventRecord).where(EventRecord.provider_event_id == "raw-1")).one()
        assert event.raw == {} and "ana" not in event.detail
        audit = session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).one()
        assert audit.action == "subscriber.erase" and "ana" not in audit.target + audit.detail
    # The erased person is gone from searches by their old name.
    assert listed(client.get("/admin/subscribers", params={"q": "ana.garcia"}).text) == []


def test_posts_without_the_csrf_token_change_nothing(
    signed_in: Callable[[str], TestClient], engine: Engine, clock: FixedClock
) -> None:
    ids = some_people(engine, clock)
    client = signed_in(USERS[Role.ADMIN])
    target = ids["cara"]
    for path, data in (
        (f"/admin/subscribers/{target}/edit", {"first_name": "Mallory"}),
        (f"/admin/subscribers/{target}/topics", {"topic": "policy-advocacy"}),
        (f"/admin/subscribers/{target}/suppress", {}),
        (f"/admin/subscribers/{target}/export", {}),
        (f"/admin/subscribers/{target}/erase", {"confirm": "cara@example.org"}),
        ("/admin/suppressions/add", {"addresses": "cara@example.org"}),
        ("/admin/topics/add", {"key": "forged", "name": "Forged"}),
    ):
        assert client.post(path, data=data).status_code == 403, path
        assert client.post(path, data={**data, "csrf": "forged"}).status_code == 403, path
    with transaction(engine) as session:
        cara = session.get(Subscriber, target)
        assert cara is not None and cara.first_name == "Cara" and cara.status is SubscriberStatus.ACTIVE
        assert session.get(Suppression, email_hash("cara@example.org")) is None
        assert not any(e.action.startswith("subscriber.") for e in entries(session))


def test_erasing_with_the_command_line_is_the_same_audited_call(
    project: Path, database_url: str, engine: Engine, clock: FixedClock
) -> None:
    ids = some_people(engine, clock)
    result = CliRunner().invoke(
        app,
        ["lists", "erase", "cara@example.org", "--yes", "--root", str(project)],
        env={"OUTREACH_SECRET_KEY": TEST_SECRET, "OUTREACH_DATABASE_URL": database_url},
    )
    assert result.exit_code == 0 and "erased; suppression hash" in result.output, result.output
    with transaction(engine) as session:
        newest = entries(session, limit=1)[0]
        cara = session.get(Subscriber, ids["cara"])
    assert (newest.action, newest.via, newest.target) == (
        "subscriber.erase",
        "cli",
        f"subscriber {ids['cara']}",
    )
    assert cara is not None and cara.email is None
