"""Sign-up with double opt-in: one answer for every address, the consent log, the one-click confirm."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from outreach.audience import (
    Consent,
    ConsentMethod,
    SubscriberStatus,
    SuppressionReason,
    find_by_email,
    history,
    is_suppressed,
    stop_mailing,
    suppress,
    transaction,
)
from outreach.audience.choices import profile_choices
from outreach.audience.schema import ConsentAction, Subscriber
from outreach.audience.segment_sql import compile_rule
from outreach.audience.segments import parse_rule
from outreach.clock import FixedClock
from outreach.transports.memory import MemoryTransport
from outreach.web.signup import NOTICE_VERSION
from tests.web.conftest import add_active, csrf_of, deliver_queued, link_in

CHECK_INBOX = "Please check your inbox"


def _subscriber(engine: Engine, email: str) -> Subscriber | None:
    with transaction(engine) as session:
        return find_by_email(session, email)


def _confirm(client: TestClient, url: str) -> Any:
    page = client.get(url)
    assert page.status_code == 200
    path = url.split("://", 1)[1].split("/", 1)[1]
    return client.post("/" + path, data={"csrf": csrf_of(page.text)})


def test_the_page_has_the_form_with_labels_and_a_honeypot(client: TestClient) -> None:
    page = client.get("/subscribe")
    assert page.status_code == 200
    assert '<html lang="en">' in page.text
    for field in ("email", "first_name", "last_name", "role", "language"):
        assert f'<label for="{field}"' in page.text
    assert 'name="topics" value="monthly-newsletter" checked' in page.text
    assert 'name="website"' in page.text and 'tabindex="-1"' in page.text
    assert NOTICE_VERSION in page.text


def test_a_new_address_is_unconfirmed_with_consent_and_gets_a_confirmation_mail(
    signup_form: Callable[..., Any], engine: Engine, outbox: MemoryTransport
) -> None:
    answer = signup_form(topics=["monthly-newsletter", "trainings-events"], language="es")
    assert answer.status_code == 200 and CHECK_INBOX in answer.text
    subscriber = _subscriber(engine, "ana@example.org")
    assert subscriber is not None
    assert subscriber.status is SubscriberStatus.UNCONFIRMED
    assert subscriber.language == "es" and subscriber.first_name == "Ana"
    assert sorted(t.topic_key for t in subscriber.topics) == ["monthly-newsletter", "trainings-events"]
    with transaction(engine) as session:
        (event,) = history(session, subscriber.email_hash)
    assert event.action is ConsentAction.SUBSCRIBED
    assert event.method is ConsentMethod.FORM and event.source == "sign-up form"
    assert event.notice_version == NOTICE_VERSION
    assert event.ip == "testclient" and event.user_agent == "pytest-browser/1.0"
    assert event.at is not None
    (mail,) = outbox.outbox
    assert mail.recipient == "ana@example.org"
    assert "confirm" in mail.subject.lower()
    assert "/confirm/" in mail.text and "/confirm/" in mail.html
    assert "Hola, Ana:" in mail.text  # she chose Spanish on the form: the mail is Spanish


def test_the_confirm_link_needs_a_click_and_then_makes_the_subscriber_active(
    signup_form: Callable[..., Any], client: TestClient, engine: Engine, outbox: MemoryTransport
) -> None:
    signup_form()
    url = link_in(outbox.outbox[0].text, "/confirm/")
    for _ in range(3):  # a mail scanner fetching the link
        assert client.get(url).status_code == 200
    subscriber = _subscriber(engine, "ana@example.org")
    assert subscriber is not None and subscriber.status is SubscriberStatus.UNCONFIRMED
    done = _confirm(client, url)
    assert done.status_code == 200 and "subscribed" in done.text
    subscriber = _subscriber(engine, "ana@example.org")
    assert subscriber is not None and subscriber.status is SubscriberStatus.ACTIVE
    with transaction(engine) as session:
        actions = [e.action for e in history(session, subscriber.email_hash)]
    assert actions == [ConsentAction.SUBSCRIBED, ConsentAction.CONFIRMED]
    again = _confirm(client, url)  # idempotent
    assert again.status_code == 200
    assert "/p/" in done.text


def test_the_answer_is_the_same_for_known_unknown_and_suppressed_addresses(
    signup_form: Callable[..., Any], engine: Engine, clock: FixedClock, outbox: MemoryTransport
) -> None:
    add_active(engine, clock, "known@example.org")
    with transaction(engine) as session:
        suppress(
            session,
            "gone@example.org",
            SuppressionReason.MANUAL,
            consent=Consent(ConsentMethod.ADMIN),
            clock=clock,
        )
    answers = [signup_form(email=e) for e in ("new@example.org", "known@example.org", "gone@example.org")]
    assert len({(a.status_code, a.text) for a in answers}) == 1
    assert [m.recipient for m in outbox.outbox] == ["new@example.org", "known@example.org"]
    already = outbox.outbox[1]
    assert "already" in already.subject and "/p/" in already.text and "/confirm/" not in already.text
    assert _subscriber(engine, "gone@example.org") is None


def test_the_honeypot_gets_the_usual_answer_and_nothing_happens(
    signup_form: Callable[..., Any], engine: Engine, outbox: MemoryTransport
) -> None:
    answer = signup_form(website="http://spam.example")
    assert answer.status_code == 200 and CHECK_INBOX in answer.text
    assert _subscriber(engine, "ana@example.org") is None and outbox.outbox == []


def test_sign_ups_are_rate_limited_per_ip_and_mails_per_address(
    signup_form: Callable[..., Any], clock: FixedClock, outbox: MemoryTransport
) -> None:
    answers = [signup_form(email=f"p{n}@example.org") for n in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert int(answers[-1].headers["retry-after"]) > 0
    clock.advance(3600)
    for _ in range(4):
        assert signup_form(email="same@example.org").status_code == 200
    assert [m.recipient for m in outbox.outbox].count("same@example.org") == 3


def test_a_post_without_the_csrf_field_or_from_another_site_is_refused(
    client: TestClient, signup_form: Callable[..., Any], engine: Engine
) -> None:
    data = {"email": "ana@example.org", "topics": "monthly-newsletter", "language": "en"}
    assert client.post("/subscribe", data=data).status_code == 403
    assert client.post("/subscribe", data={**data, "csrf": "forged"}).status_code == 403
    other = signup_form(email="eve@example.org")
    assert other.status_code == 200
    page = client.get("/subscribe")
    cross = client.post(
        "/subscribe", data={**data, "csrf": csrf_of(page.text)}, headers={"origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    assert _subscriber(engine, "ana@example.org") is None


def test_mistakes_are_shown_beside_their_fields_and_nothing_is_stored(
    signup_form: Callable[..., Any], engine: Engine
) -> None:
    answer = signup_form(email="not an address", topics=[], first_name="<b>x</b>")
    assert answer.status_code == 400
    assert 'aria-invalid="true"' in answer.text and 'id="email-problem"' in answer.text
    assert "at least one kind of mail" in answer.text
    assert "&lt;b&gt;x&lt;/b&gt;" in answer.text
    unknown = signup_form(topics=["no-such-topic"])
    assert unknown.status_code == 400
    with transaction(engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) == 0


def test_forged_expired_and_replaced_confirm_links_are_refused(
    signup_form: Callable[..., Any], client: TestClient, clock: FixedClock, outbox: MemoryTransport
) -> None:
    signup_form()
    url = link_in(outbox.outbox[0].text, "/confirm/")
    assert client.get(url[:-3] + "abc").status_code == 404
    assert client.get("/confirm/nonsense").status_code == 404
    signup_form(topics=["trainings-events"])  # a newer mail replaces the first link
    second = link_in(outbox.outbox[1].text, "/confirm/")
    assert _confirm(client, url).status_code == 410
    clock.advance(8 * 24 * 3600)
    assert client.get(second).status_code == 410


def test_an_address_that_left_can_come_back_only_through_the_confirmation(
    signup_form: Callable[..., Any],
    client: TestClient,
    engine: Engine,
    clock: FixedClock,
    outbox: MemoryTransport,
) -> None:
    subscriber_id = add_active(engine, clock, "back@example.org")
    with transaction(engine) as session:
        stop_mailing(
            session,
            subscriber_id,
            SuppressionReason.UNSUBSCRIBED,
            consent=Consent(ConsentMethod.FORM),
            clock=clock,
        )
    signup_form(email="back@example.org", topics=["policy-advocacy"])
    subscriber = _subscriber(engine, "back@example.org")
    assert subscriber is not None and subscriber.status is SubscriberStatus.UNSUBSCRIBED
    url = link_in(outbox.outbox[0].text, "/confirm/")
    assert _confirm(client, url).status_code == 200
    subscriber = _subscriber(engine, "back@example.org")
    assert subscriber is not None and subscriber.status is SubscriberStatus.ACTIVE
    assert [t.topic_key for t in subscriber.topics] == ["policy-advocacy"]
    with transaction(engine) as session:
        assert not is_suppressed(session, "back@example.org")
        actions = [e.action for e in history(session, subscriber.email_hash)]
    assert actions[-2:] == [ConsentAction.TOPIC_ADDED, ConsentAction.CONFIRMED]
    assert ConsentAction.UNSUPPRESSED in actions


def test_a_bounced_address_is_never_signed_up_again(
    signup_form: Callable[..., Any], engine: Engine, clock: FixedClock, outbox: MemoryTransport
) -> None:
    subscriber_id = add_active(engine, clock, "dead@example.org")
    with transaction(engine) as session:
        stop_mailing(
            session,
            subscriber_id,
            SuppressionReason.BOUNCED,
            consent=Consent(ConsentMethod.BOUNCE),
            clock=clock,
        )
    assert signup_form(email="dead@example.org").status_code == 200
    assert outbox.outbox == []


def test_the_embeddable_form_may_be_framed_by_the_website_only(client: TestClient) -> None:
    page = client.get("/embed")
    assert page.status_code == 200
    assert "x-frame-options" not in page.headers
    assert "frame-ancestors 'self' https://vaimh.example" in page.headers["content-security-policy"]
    assert 'name="embed" value="1"' in page.text
    snippet = client.get("/embed/snippet")
    assert '<iframe src="https://news.vaimh.example/embed"' in snippet.text
    assert client.get("/subscribe").headers["x-frame-options"] == "DENY"


def test_the_json_sign_up_behaves_like_the_form(
    client: TestClient, engine: Engine, outbox: MemoryTransport
) -> None:
    body = {"email": "json@example.org", "topics": ["monthly-newsletter"], "first_name": "Jo"}
    answer = client.post("/api/subscribe", json=body)
    assert answer.status_code == 202 and answer.json()["status"] == "pending"
    deliver_queued(client)
    subscriber = _subscriber(engine, "json@example.org")
    assert subscriber is not None and subscriber.status is SubscriberStatus.UNCONFIRMED
    assert client.post("/api/subscribe", json=body).json() == answer.json()
    assert client.post("/api/subscribe", data={"email": "x@example.org"}).status_code == 415
    assert client.post("/api/subscribe", json={"email": "x@example.org"}).status_code == 422
    assert (
        client.post("/api/subscribe", content=b"{", headers={"content-type": "application/json"}).status_code
        == 400
    )


def test_the_form_offers_the_configured_roles_and_stores_their_keys(
    client: TestClient, signup_form: Callable[..., Any], engine: Engine, config: Any
) -> None:
    page = client.get("/subscribe").text
    for choice in config.settings.audience.roles:
        assert f'<option value="{choice.key}">{choice.label}</option>' in page
    assert '<option value="es" lang="es">Español</option>' in page
    answer = signup_form(role="home-visitor", language="es")
    assert answer.status_code == 200 and CHECK_INBOX in answer.text
    subscriber = _subscriber(engine, "ana@example.org")
    assert subscriber is not None and (subscriber.role, subscriber.language) == ("home-visitor", "es")
    # ... so a sign-up is in the role segment that names that key (once confirmed).
    rule = parse_rule("role: home-visitor", choices=profile_choices())
    with transaction(engine) as session:
        matching = session.scalars(
            sa.select(Subscriber.email).where(compile_rule(rule, date(2026, 12, 1)))
        ).all()
    assert matching == ["ana@example.org"]
    assert signup_form(email="bo@example.org", role="Astronaut").status_code == 400


def test_names_are_stored_as_text_without_control_characters(
    signup_form: Callable[..., Any], client: TestClient, engine: Engine
) -> None:
    encoded = "=?utf-8?b?DQpSZXBseS1UbzogeEBldmlsLmV4YW1wbGUNCg0KQ2FsbCArMSA1NTUgMDEwMCBub3c=?="
    # A NUL in a form field is refused outright by the request gate, and nothing is stored.
    assert signup_form(email="nul@example.org", first_name="Ana\x00").status_code == 400
    assert _subscriber(engine, "nul@example.org") is None
    assert signup_form(first_name=encoded, last_name="Ruiz\r\nBcc: x@evil.example").status_code == 200
    subscriber = _subscriber(engine, "ana@example.org")
    assert subscriber is not None
    assert subscriber.first_name == encoded  # never decoded
    assert subscriber.last_name == "Ruiz  Bcc: x@evil.example"
    body = {"email": "json@example.org", "topics": ["monthly-newsletter"], "first_name": "Jo\u202e\x1b[31m\n"}
    assert client.post("/api/subscribe", json=body).status_code == 202
    deliver_queued(client)
    json_subscriber = _subscriber(engine, "json@example.org")
    assert json_subscriber is not None and json_subscriber.first_name == "Jo[31m"
