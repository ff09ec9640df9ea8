"""The preference centre: topics, language, name; leaving from there; CSRF on its forms."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from outreach.audience import SubscriberStatus, history, transaction
from outreach.audience.schema import ConsentAction, Subscriber
from outreach.clock import FixedClock
from outreach.config import Config
from outreach.tokens import Purpose, make_token
from tests.web.conftest import add_active, csrf_of


def _url(config: Config, subscriber_id: int) -> str:
    return f"/p/{make_token(config.secret_key, Purpose.PREFERENCES, str(subscriber_id))}"


def _load(engine: Engine, subscriber_id: int) -> Subscriber:
    with transaction(engine) as session:
        subscriber = session.get(Subscriber, subscriber_id)
        assert subscriber is not None
        return subscriber


def test_the_page_shows_the_current_choices(
    client: TestClient, config: Config, engine: Engine, clock: FixedClock
) -> None:
    subscriber_id = add_active(engine, clock)
    page = client.get(_url(config, subscriber_id))
    assert page.status_code == 200
    assert "ben@example.org" in page.text
    assert 'value="monthly-newsletter" checked' in page.text
    assert 'value="trainings-events">' in page.text
    assert "Unsubscribe from everything" in page.text


def test_saving_changes_topics_language_and_name_through_the_consent_log(
    client: TestClient, config: Config, engine: Engine, clock: FixedClock
) -> None:
    subscriber_id = add_active(engine, clock)
    url = _url(config, subscriber_id)
    form = {
        "csrf": csrf_of(client.get(url).text),
        "action": "save",
        "topics": ["trainings-events", "spanish-edition"],
        "language": "es",
        "first_name": "Benito",
        "last_name": "Juárez",
        "role": "mental-health-clinician",
    }
    saved = client.post(url, data=form)
    assert saved.status_code == 200 and "Saved." in saved.text
    subscriber = _load(engine, subscriber_id)
    assert sorted(t.topic_key for t in subscriber.topics) == ["spanish-edition", "trainings-events"]
    assert (subscriber.language, subscriber.first_name, subscriber.last_name) == ("es", "Benito", "Juárez")
    assert subscriber.role == "mental-health-clinician"
    with transaction(engine) as session:
        actions = [(e.action, e.source) for e in history(session, subscriber.email_hash)]
    assert (ConsentAction.TOPIC_REMOVED, "preference centre") in actions
    assert actions.count((ConsentAction.TOPIC_ADDED, "preference centre")) == 2


def test_no_topics_is_not_a_silent_unsubscribe(
    client: TestClient, config: Config, engine: Engine, clock: FixedClock
) -> None:
    subscriber_id = add_active(engine, clock)
    url = _url(config, subscriber_id)
    answer = client.post(
        url, data={"csrf": csrf_of(client.get(url).text), "action": "save", "language": "en"}
    )
    assert answer.status_code == 400 and "Unsubscribe from everything" in answer.text
    assert [t.topic_key for t in _load(engine, subscriber_id).topics] == ["monthly-newsletter"]


def test_leaving_from_the_preference_centre(
    client: TestClient, config: Config, engine: Engine, clock: FixedClock
) -> None:
    subscriber_id = add_active(engine, clock)
    url = _url(config, subscriber_id)
    answer = client.post(url, data={"csrf": csrf_of(client.get(url).text), "action": "leave"})
    assert answer.status_code == 200 and "unsubscribed" in answer.text
    assert _load(engine, subscriber_id).status is SubscriberStatus.UNSUBSCRIBED
    assert "not receiving our mail" in client.get(url).text


def test_forms_need_their_own_csrf_field(
    client: TestClient, config: Config, engine: Engine, clock: FixedClock
) -> None:
    first = add_active(engine, clock)
    second = add_active(engine, clock, "cara@example.org")
    other_field = csrf_of(client.get(_url(config, second)).text)
    for data in ({"action": "leave"}, {"action": "leave", "csrf": other_field}):
        assert client.post(_url(config, first), data=data).status_code == 403
    assert _load(engine, first).status is SubscriberStatus.ACTIVE
