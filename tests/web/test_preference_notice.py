"""The notice of a preference change: queued with the save, sent in the subscriber's language, once
per save (within the hourly limit), never for leaving or for a save that changed nothing."""

from __future__ import annotations

import email
import email.policy
import html
from email.message import EmailMessage

from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from outreach.audience import transaction
from outreach.audience.schema import Subscriber
from outreach.clock import FixedClock
from outreach.config import Config
from outreach.tokens import Purpose, make_token
from outreach.transports.memory import MemoryTransport
from tests.web.conftest import add_active, csrf_of, deliver_queued


def _url(config: Config, subscriber_id: int) -> str:
    return f"/p/{make_token(config.secret_key, Purpose.PREFERENCES, str(subscriber_id))}"


def _save(client: TestClient, url: str, **fields: object) -> None:
    form: dict[str, object] = {
        "csrf": csrf_of(client.get(url).text),
        "action": "save",
        "topics": ["monthly-newsletter"],
        "language": "en",
        "first_name": "",
        "last_name": "",
        "role": "",
    }
    form.update(fields)
    answer = client.post(url, data=form)
    assert answer.status_code == 200, answer.text[:500]


def _parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_a_change_sends_the_owner_a_notice_with_a_way_back(
    client: TestClient, config: Config, engine: Engine, clock: FixedClock, outbox: MemoryTransport
) -> None:
    subscriber_id = add_active(engine, clock)
    url = _url(config, subscriber_id)
    _save(client, url, topics=["monthly-newsletter", "trainings-events"])
    assert deliver_queued(client) == 1
    (notice,) = outbox.outbox
    assert notice.recipient == "ben@example.org"
    assert notice.subject == "Your VAIMH News preferences were changed"
    parsed = _parsed(notice.raw)
    text = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "were just changed on its preferences page" in text
    assert url in text  # the way back to the preferences
    assert "/u/" in parsed["List-Unsubscribe"]


def test_the_notice_is_in_the_language_just_chosen(
    client: TestClient, config: Config, engine: Engine, clock: FixedClock, outbox: MemoryTransport
) -> None:
    subscriber_id = add_active(engine, clock)
    _save(client, _url(config, subscriber_id), language="es", first_name="Benito")
    deliver_queued(client)
    (notice,) = outbox.outbox
    assert notice.subject == "Se cambiaron sus preferencias de VAIMH News"
    text = _parsed(notice.raw).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Hola, Benito:" in text
    assert "se acaban de cambiar en su página de preferencias" in text


def test_no_notice_for_a_save_that_changed_nothing_or_for_leaving(
    client: TestClient, config: Config, engine: Engine, clock: FixedClock, outbox: MemoryTransport
) -> None:
    subscriber_id = add_active(engine, clock)
    url = _url(config, subscriber_id)
    page = client.get(url).text
    shown = page.split('name="shown" value="', 1)[1].split('"', 1)[0]
    client.post(
        url,
        data={
            "csrf": csrf_of(page),
            "action": "save",
            "shown": html.unescape(shown),
            "topics": ["monthly-newsletter"],
            "language": "en",
            "first_name": "",
            "last_name": "",
            "role": "",
        },
    )
    deliver_queued(client)
    assert outbox.outbox == [], "nothing changed, so nothing to tell"
    client.post(url, data={"csrf": csrf_of(client.get(url).text), "action": "leave"})
    deliver_queued(client)
    assert outbox.outbox == [], "leaving is confirmed on the page; a mail would go to someone who left"


def test_several_saves_in_an_hour_send_at_most_the_hourly_limit(
    client: TestClient, config: Config, engine: Engine, clock: FixedClock, outbox: MemoryTransport
) -> None:
    subscriber_id = add_active(engine, clock)
    url = _url(config, subscriber_id)
    for name in ("A", "B", "C", "D", "E"):
        _save(client, url, first_name=name)
        clock.advance(60)
    deliver_queued(client)
    assert len(outbox.outbox) == 3
    with transaction(engine) as session:
        subscriber = session.get(Subscriber, subscriber_id)
        assert subscriber is not None and subscriber.first_name == "E", "every save was kept"
