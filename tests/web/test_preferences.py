"""The preference centre: topics, language, name; leaving from there; CSRF on its forms; a save changes
only what the subscriber changed (with TestClient and in Chromium)."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from outreach.audience import (
    Consent,
    ConsentMethod,
    SubscriberStatus,
    add_topic,
    find_by_email,
    history,
    transaction,
)
from outreach.audience.csv_import import import_csv
from outreach.audience.import_plan import ImportOptions
from outreach.audience.schema import ConsentAction, Subscriber, SubscriberTag, SubscriberTopic, Topic
from outreach.audience.topics import TopicDefinition
from outreach.clock import FixedClock, SystemClock
from outreach.config import Config
from outreach.tokens import Purpose, make_token
from tests.web.conftest import add_active, csrf_of
from tests.web.test_browser import CHROMIUM, page, served, sync_api  # noqa: F401 - fixtures for Chromium


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
    html_page = client.get(_url(config, subscriber_id))
    assert html_page.status_code == 200
    assert "ben@example.org" in html_page.text
    assert 'value="monthly-newsletter" checked' in html_page.text
    assert 'value="trainings-events">' in html_page.text
    assert "Unsubscribe from everything" in html_page.text


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
    # The page follows the language just chosen for the mail (docs/languages.md).
    assert saved.status_code == 200 and "Guardado." in saved.text and '<html lang="es">' in saved.text
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


def _import_member(engine: Engine, clock: FixedClock, tmp_path: Path, legacy: bool = True) -> int:
    """A member as an import leaves them, plus what older imports stored: a role outside the list and a
    name longer than the form's limit."""
    path = tmp_path / "members.csv"
    path.write_text(
        "Email,First Name,Last Name,Organisation,Role,Region,Language,Topics,Tags,Renewal Date\n"
        "rosa@example.org,Rosa,Marquez,Healthy Families Norfolk,Pediatric clinician,Hampton Roads,Spanish,"
        "monthly-newsletter;spanish-edition,endorsed,05/01/2026\n",
        encoding="utf-8",
    )
    with transaction(engine) as session:
        topics = tuple(
            TopicDefinition(t.key, t.name, t.description) for t in session.scalars(sa.select(Topic))
        )
    import_csv(engine, path, ImportOptions(consent="membership database"), topics, clock)
    with transaction(engine) as session:
        subscriber = find_by_email(session, "rosa@example.org")
        assert subscriber is not None
        if legacy:
            subscriber.role = "Pediatric nurse"
            subscriber.first_name = "Rosa María de los Ángeles " * 5
        return subscriber.id


def _shown(html_page: str) -> str:
    found = re.search(r'name="shown" value="([^"]*)"', html_page)
    assert found, "the form does not carry what it showed"
    return html.unescape(found.group(1))


def _row(engine: Engine, subscriber_id: int) -> dict[str, Any]:
    with engine.connect() as connection:
        row = connection.execute(sa.select(Subscriber.__table__).where(Subscriber.id == subscriber_id)).one()
        tags = connection.execute(
            sa.select(SubscriberTag.tag).where(SubscriberTag.subscriber_id == subscriber_id)
        )
        topics = connection.execute(
            sa.select(SubscriberTopic.topic_key).where(SubscriberTopic.subscriber_id == subscriber_id)
        )
        data = {key: value for key, value in row._mapping.items() if key != "updated_at"}
        return {**data, "tags": sorted(tags.scalars()), "topics": sorted(topics.scalars())}


def test_a_stored_role_outside_the_list_is_shown_and_kept(
    client: TestClient, config: Config, engine: Engine, clock: FixedClock, tmp_path: Path
) -> None:
    subscriber_id = _import_member(engine, clock, tmp_path)
    before = _row(engine, subscriber_id)
    html_page = client.get(_url(config, subscriber_id)).text
    assert '<option value="Pediatric nurse" selected>Pediatric nurse</option>' in html_page
    assert '<option value="es" lang="es" selected>Español</option>' in html_page
    form = {
        "csrf": csrf_of(html_page),
        "action": "save",
        "shown": _shown(html_page),
        "first_name": before["first_name"],
        "last_name": "Marquez",
        "role": "Pediatric nurse",
        "language": "es",
        "topics": ["monthly-newsletter", "spanish-edition", "policy-advocacy"],
    }
    assert client.post(_url(config, subscriber_id), data=form).status_code == 200
    after = _row(engine, subscriber_id)
    assert after["topics"] == ["monthly-newsletter", "policy-advocacy", "spanish-edition"]
    assert {**after, "topics": before["topics"]} == before


def test_saving_changes_only_what_was_changed(
    client: TestClient, config: Config, engine: Engine, clock: FixedClock, tmp_path: Path
) -> None:
    subscriber_id = _import_member(engine, clock, tmp_path, legacy=False)
    url = _url(config, subscriber_id)
    html_page = client.get(url).text
    shown = _shown(html_page)
    # Since the html_page was opened, an import subscribed Rosa to trainings and renamed her organisation.
    with transaction(engine) as session:
        add_topic(
            session, subscriber_id, "trainings-events", consent=Consent(ConsentMethod.IMPORT), clock=clock
        )
        subscriber = session.get(Subscriber, subscriber_id)
        assert subscriber is not None
        subscriber.organisation = "Healthy Families Virginia Beach"
    before = _row(engine, subscriber_id)
    form = {
        "csrf": csrf_of(html_page),
        "action": "save",
        "shown": shown,
        "first_name": "Rosa",
        "last_name": "Marquez",
        "role": "home-visitor",  # the one change
        "language": "es",
        "topics": ["monthly-newsletter", "spanish-edition"],
    }
    assert client.post(url, data=form).status_code == 200
    after = _row(engine, subscriber_id)
    assert after["role"] == "home-visitor"
    assert {**after, "role": before["role"]} == before  # trainings-events and the organisation stay
    wrong = client.post(url, data={**form, "csrf": csrf_of(client.get(url).text), "role": "astronaut"})
    # In Spanish: the page follows the subscriber's language.
    assert wrong.status_code == 400 and "Por favor, elija una de las opciones de la lista." in wrong.text
    assert _row(engine, subscriber_id) == after


def test_a_changed_name_is_cleaned(
    client: TestClient, config: Config, engine: Engine, clock: FixedClock
) -> None:
    subscriber_id = add_active(engine, clock)
    url = _url(config, subscriber_id)
    form = {
        "csrf": csrf_of(client.get(url).text),
        "action": "save",
        "topics": ["monthly-newsletter"],
        "first_name": "Ben\r\nBcc: all@example.org",
        "language": "en",
    }
    assert client.post(url, data=form).status_code == 200
    assert _load(engine, subscriber_id).first_name == "Ben  Bcc: all@example.org"


@pytest.mark.chromium
@pytest.mark.skipif(not CHROMIUM.exists(), reason="apt-get install chromium")
def test_an_imported_member_ticks_one_topic_in_chromium_and_nothing_else_changes(
    served: tuple[Config, Engine],  # noqa: F811
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    config, engine = served
    subscriber_id = _import_member(engine, SystemClock(), tmp_path)  # type: ignore[arg-type]
    before = _row(engine, subscriber_id)
    # She reads Spanish mail but picks English for the page with the switch.
    page.goto(f"{config.base_url}{_url(config, subscriber_id)}?lang=en")
    sync_api.expect(page.get_by_label("Which best describes you?")).to_have_value("Pediatric nurse")
    page.get_by_label("Policy and advocacy").check()
    page.get_by_role("button", name="Save my choices").click()
    sync_api.expect(page.get_by_role("status")).to_contain_text("Saved.")
    after = _row(engine, subscriber_id)
    assert after["topics"] == ["monthly-newsletter", "policy-advocacy", "spanish-edition"]
    assert {**after, "topics": before["topics"]} == before
