"""Topics (lists/topics.yaml rewritten with its comments, mirrored and audited) and the suppression
list (searched; suppressed and released in bulk with an answer for every line)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from outreach.accounts.schema import Role
from outreach.audience import Consent, ConsentMethod, add_subscriber, transaction
from outreach.audience.addresses import email_hash
from outreach.audience.audit import entries
from outreach.audience.gdpr import erase
from outreach.audience.schema import (
    ConsentEvent,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
    Topic,
)
from outreach.audience.suppression import suppress
from outreach.audience.topics import load_topics
from outreach.clock import FixedClock
from tests.admin import campaign_fill
from tests.admin.conftest import USERS, csrf_of

CONSENT = Consent(ConsentMethod.IMPORT, source="test")


def test_an_editor_adds_and_changes_topics_and_the_file_keeps_its_comments(
    signed_in: Callable[[str], TestClient], engine: Engine, project: Path
) -> None:
    path = project / "lists" / "topics.yaml"
    before = path.read_text(encoding="utf-8")
    client = signed_in(USERS[Role.EDITOR])
    page = client.get("/admin/topics")
    assert page.status_code == 200 and "Boletín en español" in page.text
    csrf = csrf_of(page.text)
    answer = client.post(
        "/admin/topics/add",
        data={"csrf": csrf, "key": "family-events", "name": "Family events", "description": "Play groups."},
    )
    assert (
        answer.status_code == 200 and "The topic is added" in answer.text and "Family events" in answer.text
    )
    after = path.read_text(encoding="utf-8")
    # Everything that was there is still there, comments included, as written; the new topic last.
    assert after.startswith(before)
    assert after[len(before) :] == "family-events:\n  name: Family events\n  description: Play groups.\n"
    assert "# The kinds of mail VAIMH sends." in after
    assert [t.key for t in load_topics(path)][-1] == "family-events"
    answer = client.post(
        "/admin/topics/edit",
        data={
            "csrf": csrf,
            "key": "trainings-events",
            "name": "Trainings",
            "description": "",
            "default": "yes",
        },
    )
    assert answer.status_code == 200 and "The topic is changed" in answer.text
    topics = {t.key: t for t in load_topics(path)}
    assert topics["trainings-events"].name == "Trainings" and topics["trainings-events"].default
    assert topics["trainings-events"].description == ""
    assert "# The kinds of mail VAIMH sends." in path.read_text(encoding="utf-8")
    with transaction(engine) as session:
        names = dict(session.execute(sa.select(Topic.key, Topic.name)).tuples().all())
        assert names["family-events"] == "Family events" and names["trainings-events"] == "Trainings"
        actions = [(e.action, e.target, e.actor) for e in entries(session)]
    assert actions[:2] == [
        ("topic.edit", "topic trainings-events", USERS[Role.EDITOR]),
        ("topic.add", "topic family-events", USERS[Role.EDITOR]),
    ]


def test_a_bad_topic_is_refused_and_the_file_is_untouched(
    signed_in: Callable[[str], TestClient], project: Path
) -> None:
    path = project / "lists" / "topics.yaml"
    before = path.read_text(encoding="utf-8")
    client = signed_in(USERS[Role.EDITOR])
    csrf = csrf_of(client.get("/admin/topics").text)
    for data, why in (
        ({"key": "Bad Key", "name": "x"}, "lower-case letters"),
        ({"key": "monthly-newsletter", "name": "Again"}, "already a topic"),
        ({"key": "ok-key", "name": ""}, "needs a name"),
    ):
        answer = client.post("/admin/topics/add", data={"csrf": csrf, **data})
        assert answer.status_code == 400 and why in answer.text, data
    assert (
        client.post("/admin/topics/edit", data={"csrf": csrf, "key": "nope", "name": "N"}).status_code == 400
    )
    assert path.read_text(encoding="utf-8") == before
    assert not list(path.parent.glob(".topics-*"))
    # Viewers read topics but are offered no change.
    client.post("/admin/logout", data={"csrf": csrf})
    viewer = signed_in(USERS[Role.VIEWER])
    page = viewer.get("/admin/topics")
    assert page.status_code == 200 and "/admin/topics/add" not in page.text


def report_rows(html: str) -> list[tuple[str, str, str, str]]:
    table = html.split('id="report-h"')[1].split("</table>")[0]
    return re.findall(
        r'<td class="num">(\d+)</td><th scope="row">([^<]*)</th><td>([^<]+)</td><td>([^<]*)</td>', table
    )


def test_bulk_suppress_answers_every_line_and_refuses_nothing_silently(
    signed_in: Callable[[str], TestClient], engine: Engine, clock: FixedClock
) -> None:
    with transaction(engine) as session:
        campaign_fill.topics(session)
        add_subscriber(
            session, "kim@example.org", consent=CONSENT, clock=clock, topics=("monthly-newsletter",)
        )
        suppress(session, "old@example.org", SuppressionReason.BOUNCED, consent=CONSENT, clock=clock)
    client = signed_in(USERS[Role.ADMIN])
    csrf = csrf_of(client.get("/admin/suppressions").text)
    pasted = "\n".join(
        [
            "Kim@Example.org, Kim Lee",  # 1: a subscriber, spelled differently, from a spreadsheet
            "not an address",  # 2
            "",  # 3 (blank: skipped)
            "new@example.org",  # 4: not a subscriber
            "old@example.org",  # 5: already suppressed
            "kim@example.org",  # 6: repeated
        ]
    )
    answer = client.post(
        "/admin/suppressions/add", data={"csrf": csrf, "addresses": pasted, "note": "list clean-up"}
    )
    assert answer.status_code == 200
    rows = report_rows(answer.text)
    assert [(n, outcome) for n, _, outcome, _ in rows] == [
        ("1", "done"),
        ("2", "refused"),
        ("4", "done"),
        ("5", "nothing to do"),
        ("6", "nothing to do"),
    ]
    assert "not a valid email address" in rows[1][3]
    assert "already on the suppression list" in rows[3][3] and "line 1" in rows[4][3]
    assert "2 suppressed, 2 with nothing to do, 1 refused." in answer.text
    with transaction(engine) as session:
        assert session.get(Suppression, email_hash("kim@example.org")) is not None
        assert session.get(Suppression, email_hash("new@example.org")) is not None
        kim = session.scalars(sa.select(Subscriber).where(Subscriber.email == "kim@example.org")).one()
        assert kim.status is SubscriberStatus.UNSUBSCRIBED
        audit = entries(session, limit=1)[0]
    assert audit.action == "suppression.add" and audit.detail == {"done": 2, "unchanged": 2, "refused": 1}
    # Searching the list by the start of an address.
    found = client.get("/admin/suppressions", params={"q": "ne"})
    table = found.text.split("<caption>")[1].split("</table>")[0]
    assert "new@example.org" in table and "kim@example.org" not in table


def test_bulk_release_keeps_erased_people_and_subscribes_no_one(
    signed_in: Callable[[str], TestClient], engine: Engine, clock: FixedClock
) -> None:
    with transaction(engine) as session:
        campaign_fill.topics(session)
        add_subscriber(
            session, "kim@example.org", consent=CONSENT, clock=clock, topics=("monthly-newsletter",)
        )
        suppress(session, "kim@example.org", SuppressionReason.MANUAL, consent=CONSENT, clock=clock)
        add_subscriber(session, "gone@example.org", consent=CONSENT, clock=clock)
        erase(session, "gone@example.org", consent=CONSENT, clock=clock)
    client = signed_in(USERS[Role.ADMIN])
    csrf = csrf_of(client.get("/admin/suppressions").text)
    answer = client.post(
        "/admin/suppressions/release",
        data={"csrf": csrf, "addresses": "kim@example.org\ngone@example.org\nnever@example.org\n@@"},
    )
    rows = report_rows(answer.text)
    assert [(n, o) for n, _, o, _ in rows] == [
        ("1", "done"),
        ("2", "refused"),
        ("3", "nothing to do"),
        ("4", "refused"),
    ]
    assert "erased" in rows[1][3]
    with transaction(engine) as session:
        assert session.get(Suppression, email_hash("kim@example.org")) is None
        assert session.get(Suppression, email_hash("gone@example.org")) is not None
        kim = session.scalars(sa.select(Subscriber).where(Subscriber.email == "kim@example.org")).one()
        assert kim.status is SubscriberStatus.UNSUBSCRIBED
        released = session.scalars(
            sa.select(ConsentEvent.action).where(ConsentEvent.email_hash == email_hash("kim@example.org"))
        ).all()
    assert released[-1].value == "unsuppressed"
    # Editors and viewers read the list but cannot change it.
    client.post("/admin/logout", data={"csrf": csrf})
    editor = signed_in(USERS[Role.EDITOR])
    page = editor.get("/admin/suppressions")
    assert page.status_code == 200 and "/admin/suppressions/add" not in page.text
    csrf = csrf_of(page.text)
    assert (
        editor.post("/admin/suppressions/add", data={"csrf": csrf, "addresses": "x@example.org"}).status_code
        == 403
    )
