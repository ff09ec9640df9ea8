"""The JSON API over people: finding subscribers (the Subscribers page's search), one person's record,
and the suppression list, read by viewers and changed by admins only, each change audited as the
token's user. On SQLite and PostgreSQL (``engine``)."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from outreach.accounts.schema import Role
from outreach.audience import Consent, ConsentMethod, transaction
from outreach.audience.audit import entries
from outreach.audience.subscribers import Profile, add_subscriber
from outreach.audience.suppression import is_suppressed
from outreach.clock import FixedClock
from tests.admin.campaign_fill import people
from tests.admin.campaign_fill import topics as add_topics
from tests.admin.test_api import token_for


def _add(engine: Engine, clock: FixedClock) -> int:
    with transaction(engine) as session:
        add_topics(session)
        people(session, clock, 3)
        people(session, clock, 2, language="es")
        ana = add_subscriber(
            session,
            "ana.rivera@example.org",
            consent=Consent(ConsentMethod.ADMIN, source="test"),
            clock=clock,
            profile=Profile(
                first_name="Ana", last_name="Rivera", organisation="Hampton Roads Early Head Start"
            ),
            topics=("monthly-newsletter",),
        )
        return ana.id


def test_viewers_find_subscribers_as_the_page_does(
    client: TestClient, engine: Engine, clock: FixedClock
) -> None:
    ana = _add(engine, clock)
    viewer = token_for(engine, clock, Role.VIEWER)
    found = client.get("/admin/api/subscribers", params={"q": "hampton"}, headers=viewer)
    assert found.status_code == 200, found.text
    body = found.json()
    assert [s["email"] for s in body["subscribers"]] == ["ana.rivera@example.org"]
    assert body["total"] == 1 and body["has_next"] is False and body["total_is_at_least"] is False

    spanish = client.get("/admin/api/subscribers", params={"language": "es"}, headers=viewer).json()
    assert spanish["total"] == 2 and {s["language"] for s in spanish["subscribers"]} == {"es"}
    everyone = client.get("/admin/api/subscribers", params={"status": "active"}, headers=viewer).json()
    assert everyone["total"] == 6
    assert [s["id"] for s in everyone["subscribers"]] == sorted(
        (s["id"] for s in everyone["subscribers"]), reverse=True
    )

    person = client.get(f"/admin/api/subscribers/{ana}", headers=viewer)
    assert person.status_code == 200
    record = person.json()
    assert record["email"] == "ana.rivera@example.org" and record["topics"] == ["monthly-newsletter"]
    assert record["consent"] and record["consent"][0]["action"] == "subscribed"


def test_bad_filters_are_answered_with_what_would_do(
    client: TestClient, engine: Engine, clock: FixedClock
) -> None:
    _add(engine, clock)
    viewer = token_for(engine, clock, Role.VIEWER)
    for params, field, words in (
        ({"status": "sleeping"}, "status", "active"),
        ({"topic": "knitting"}, "topic", "/admin/api/topics"),
        ({"segment": "nobody-here"}, "segment", "/admin/api/segments"),
        ({"page": "0"}, "page", "whole number"),
        ({"page": "many"}, "page", "whole number"),
    ):
        answered = client.get("/admin/api/subscribers", params=params, headers=viewer)
        assert answered.status_code == 400, params
        assert answered.json()["field"] == field and words in answered.json()["error"]
    missing = client.get("/admin/api/subscribers/999999", headers=viewer)
    assert missing.status_code == 404 and "GET /admin/api/subscribers" in missing.json()["error"]


def test_only_admins_change_the_suppression_list_and_each_line_is_answered(
    client: TestClient, engine: Engine, clock: FixedClock
) -> None:
    _add(engine, clock)
    viewer = token_for(engine, clock, Role.VIEWER)
    editor = token_for(engine, clock, Role.EDITOR)
    admin = token_for(engine, clock, Role.ADMIN)
    pasted = {
        "addresses": ["ana.rivera@example.org", "not an address", "ANA.RIVERA@example.org"],
        "note": "asked",
    }
    for who in (viewer, editor):
        assert client.post("/admin/api/suppressions/add", json=pasted, headers=who).status_code == 403
    with transaction(engine) as session:
        assert not is_suppressed(session, "ana.rivera@example.org")

    done = client.post("/admin/api/suppressions/add", json=pasted, headers=admin)
    assert done.status_code == 200, done.text
    report = done.json()
    assert (report["done"], report["refused"]) == (1, 1)
    assert [line["line"] for line in report["lines"]] == [1, 2, 3]
    assert report["lines"][1]["outcome"] == "refused"
    with transaction(engine) as session:
        assert is_suppressed(session, "ana.rivera@example.org")
        (entry,) = [e for e in entries(session) if e.action.startswith("suppression")]
        assert entry.actor == "ada@vaimh.example" and entry.via == "api"

    listed = client.get("/admin/api/suppressions", params={"q": "ana"}, headers=viewer).json()
    assert [s["email"] for s in listed["suppressions"]] == ["ana.rivera@example.org"]

    released = client.post(
        "/admin/api/suppressions/release", json={"addresses": "ana.rivera@example.org\n"}, headers=admin
    )
    assert released.status_code == 200 and released.json()["done"] == 1
    with transaction(engine) as session:
        assert not is_suppressed(session, "ana.rivera@example.org")


def test_a_body_without_addresses_changes_nothing(
    client: TestClient, engine: Engine, clock: FixedClock
) -> None:
    admin = token_for(engine, clock, Role.ADMIN)
    for body in ({}, {"addresses": 3}, {"addresses": "  \n "}, {"addresses": [1, 2]}, {"addresses": []}):
        answered = client.post("/admin/api/suppressions/add", json=body, headers=admin)
        assert answered.status_code == 422 and answered.json()["field"] == "addresses", body
