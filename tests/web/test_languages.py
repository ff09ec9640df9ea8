"""The web pages in the visitor's language: Accept-Language, the switch (remembered in a cookie), the
subscriber's own language on the pages their links open, and one archive with feeds per language."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from outreach.audience import transaction
from outreach.audience.schema import Subscriber
from outreach.clock import FixedClock
from outreach.config import Config
from outreach.content import read_issue
from outreach.delivery.campaigns import Sender, create_campaign
from outreach.models import Audience
from outreach.render import render_issue
from outreach.tokens import Purpose, make_token
from outreach.transports.memory import MemoryTransport
from tests.web.conftest import ISSUE_BODY, add_active, csrf_of, send_campaign

SPANISH = {"accept-language": "es-MX,es;q=0.9,en;q=0.3"}


def test_a_visitor_gets_the_browsers_language_and_english_otherwise(client: TestClient) -> None:
    spanish = client.get("/subscribe", headers=SPANISH)
    assert '<html lang="es">' in spanish.text
    assert "Reciba las noticias de VAIMH" in spanish.text and "Suscribirme" in spanish.text
    assert "Accept-Language" in spanish.headers["vary"]
    # The form offers the mail in the language the visitor reads the page in.
    assert '<option value="es" lang="es" selected>Español</option>' in spanish.text
    english = client.get("/subscribe", headers={"accept-language": "fr-CH, de;q=0.8"})
    assert '<html lang="en">' in english.text and "Sign up for news from VAIMH" in english.text


def test_the_switch_changes_the_language_and_the_cookie_remembers_it(client: TestClient) -> None:
    page = client.get("/subscribe", headers=SPANISH)
    assert '<a href="?lang=en" lang="en" hreflang="en">English</a>' in page.text
    assert '<span aria-current="true" lang="es">Español</span>' in page.text
    switched = client.get("/subscribe?lang=en", headers=SPANISH)
    assert '<html lang="en">' in switched.text
    cookie = switched.headers["set-cookie"]
    assert cookie.startswith("lang=en;") and "SameSite=Lax" in cookie and "HttpOnly" in cookie
    assert "Secure" in cookie  # the service is https; the test client speaks http, so set it by hand
    client.cookies.set("lang", "en")
    # The next page, with the cookie, stays English although the browser prefers Spanish.
    assert '<html lang="en">' in client.get("/", headers=SPANISH).text
    client.cookies.clear()
    assert '<html lang="es">' in client.get("/", headers=SPANISH).text
    # The archive is one per language: its switch leads to the other language's archive.
    archive = client.get("/archive", headers=SPANISH).text
    assert '<html lang="en">' in archive and '<a href="/es/archive?lang=es" lang="es"' in archive
    # A language the site does not offer changes nothing and sets no cookie.
    odd = client.get("/subscribe?lang=xx", headers=SPANISH)
    assert '<html lang="es">' in odd.text and "set-cookie" not in odd.headers


def test_error_pages_and_refusals_speak_the_visitors_language(client: TestClient) -> None:
    missing = client.get("/no-such-page", headers=SPANISH)
    assert missing.status_code == 404 and "No encontramos la página" in missing.text
    refused = client.post(
        "/subscribe", data={"email": "ana@example.org"}, headers={**SPANISH, "origin": "https://evil.example"}
    )
    assert refused.status_code == 403 and "Por favor, inténtelo de nuevo" in refused.text


def test_a_sign_up_in_spanish_gets_its_confirmation_mail_in_spanish(
    signup_form: Callable[..., Any], outbox: MemoryTransport, client: TestClient
) -> None:
    answer = signup_form(email="lucia@example.org", language="es", headers=SPANISH)
    assert answer.status_code == 200
    (message,) = outbox.outbox
    assert message.subject == "Por favor, confirme su suscripción a Noticias de VAIMH"
    assert "Hola, Ana:" in message.text and "Cancelar la suscripción" in message.text


def test_problems_on_the_form_are_in_the_page_language(client: TestClient) -> None:
    page = client.get("/subscribe", headers=SPANISH)
    answer = client.post(
        "/subscribe",
        data={"csrf": csrf_of(page.text), "email": "not an address", "language": "es"},
        headers=SPANISH,
    )
    assert answer.status_code == 400
    assert "hay 2 datos por corregir" in answer.text  # the address, and no topic chosen
    assert "Por favor, elija al menos un tipo de correo." in answer.text


def _spanish_reader(engine: Engine, clock: FixedClock) -> int:
    subscriber_id = add_active(engine, clock, "lucia@example.org")
    with transaction(engine) as session:
        subscriber = session.get(Subscriber, subscriber_id)
        assert subscriber is not None
        subscriber.language = "es"
    return subscriber_id


def test_pages_from_a_subscribers_links_follow_their_language(
    client: TestClient, config: Config, engine: Engine, clock: FixedClock
) -> None:
    subscriber_id = _spanish_reader(engine, clock)
    english_browser = {"accept-language": "en-US,en;q=0.9"}
    preferences = f"/p/{make_token(config.secret_key, Purpose.PREFERENCES, str(subscriber_id))}"
    unsubscribe = f"/u/{make_token(config.secret_key, Purpose.UNSUBSCRIBE, str(subscriber_id))}"
    page = client.get(preferences, headers=english_browser)
    assert '<html lang="es">' in page.text and "Sus preferencias" in page.text
    leave = client.get(unsubscribe, headers=english_browser)
    assert '<html lang="es">' in leave.text and "Cancelar mi suscripción" in leave.text
    # Their own choice with the switch wins over the stored language.
    assert '<html lang="en">' in client.get(f"{preferences}?lang=en").text
    # Saving English as the language of their mail shows the page in English at once.
    client.cookies.clear()
    form = client.get(preferences).text
    saved = client.post(
        preferences,
        data={"csrf": csrf_of(form), "action": "save", "language": "en", "topics": "monthly-newsletter"},
    )
    assert '<html lang="en">' in saved.text and "Saved." in saved.text


def _sent_issue(
    config: Config,
    engine: Engine,
    clock: FixedClock,
    write_issue: Callable[..., Path],
    language: str,
    subject: str,
) -> int:
    path = write_issue(ISSUE_BODY, name="2026-12-test.md", subject=subject, language=language)
    compiled = render_issue(read_issue(path, config.time_zone), config)
    sender = Sender("VAIMH News", "news@vaimh.example", "", config.sender.list_id, "vaimh.example")
    with transaction(engine) as session:
        campaign = create_campaign(
            session,
            compiled,
            sender,
            Audience(topics=("monthly-newsletter",)),
            {},
            "memory",
            clock,
            archive=True,
        )
        campaign_id = campaign.id
    send_campaign(config, engine, clock, campaign_id)
    return campaign_id


def test_each_language_has_its_own_archive_and_feeds(
    client: TestClient, config: Config, engine: Engine, clock: FixedClock, write_issue: Callable[..., Path]
) -> None:
    add_active(engine, clock)
    _sent_issue(config, engine, clock, write_issue, "en", "Holding the holidays")
    add_active(engine, clock, "lucia@example.org")  # (everyone else already has this issue)
    _sent_issue(config, engine, clock, write_issue, "es", "Acompañar las fiestas")
    english = client.get("/archive")
    assert "Holding the holidays" in english.text and "Acompañar las fiestas" not in english.text
    assert "December 1, 2026" in english.text  # 15:00 UTC is 10:00 in Richmond
    spanish = client.get("/es/archive")
    assert '<html lang="es">' in spanish.text and "Boletines anteriores" in spanish.text
    assert "Acompañar las fiestas" in spanish.text and "Holding the holidays" not in spanish.text
    assert 'href="/es/archive/2026-12-test"' in spanish.text and "1 de diciembre de 2026" in spanish.text
    rss = client.get("/es/archive/rss.xml").text
    assert "<language>es</language>" in rss and "Acompañar las fiestas" in rss
    assert "https://news.vaimh.example/es/archive/2026-12-test" in rss and "Holding the holidays" not in rss
    atom = client.get("/es/archive/atom.xml").text
    assert 'xml:lang="es"' in atom and "Acompañar las fiestas" in atom
    assert "<language>en</language>" in client.get("/archive/rss.xml").text
    # Each language's web version of the issue.
    assert "Cancelar la suscripci" in client.get("/es/archive/2026-12-test").text
    assert "Unsubscribe" in client.get("/archive/2026-12-test").text
    # The JSON archive lists both editions, each with its own address.
    listed = {(i["language"], i["url"]) for i in client.get("/api/archive").json()["issues"]}
    assert listed == {
        ("en", "https://news.vaimh.example/archive/2026-12-test"),
        ("es", "https://news.vaimh.example/es/archive/2026-12-test"),
    }
    assert client.get("/fr/archive").status_code == 404  # not one of the site's languages


def test_an_issue_sent_only_in_spanish_is_still_found_at_the_default_address(
    client: TestClient, config: Config, engine: Engine, clock: FixedClock, write_issue: Callable[..., Path]
) -> None:
    add_active(engine, clock)
    _sent_issue(config, engine, clock, write_issue, "es", "Acompañar las fiestas")
    assert client.get("/archive").text.count("Acompañar las fiestas") == 0
    assert "Cancelar la suscripci" in client.get("/archive/2026-12-test").text
