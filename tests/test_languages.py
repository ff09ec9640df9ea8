"""Languages: the shipped catalogs are complete, and a Spanish edition and a Spanish confirmation mail
read as the golden files say (footer, dates in Spanish, in the site's zone); English is unchanged."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from outreach.config import Config, load_config
from outreach.content import read_issue
from outreach.i18n import LocalDates, best_language, translations
from outreach.i18n.catalogs import SHIPPED, catalog_path
from outreach.i18n.negotiate import accept_language
from outreach.models import Recipient
from outreach.render import render_issue
from outreach.render.sample import SAMPLE_RECIPIENT
from outreach.tokens import recipient_links
from outreach.web.confirm_mail import ConfirmationMail
from outreach.web.links import subscriber_links
from outreach.web.signup import Mail
from tests.conftest import EXAMPLE_ISSUE, REPO, TEST_SECRET

GOLDEN = Path(__file__).parent / "golden"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2), "N_": None}


@pytest.fixture
def repo_config() -> Config:
    return load_config(REPO, environ={"OUTREACH_SECRET_KEY": TEST_SECRET})


def _compare(outputs: dict[str, str], request: pytest.FixtureRequest) -> None:
    if request.config.getoption("--update-golden"):
        for name, content in outputs.items():
            (GOLDEN / name).write_text(content, encoding="utf-8")
    for name, content in outputs.items():
        expected = (GOLDEN / name).read_text(encoding="utf-8")
        assert content == expected, f"{name} differs; run pytest --update-golden if intended"


def _spanish_example(tmp_path: Path) -> Path:
    """The example issue as a Spanish edition (the layout's words and dates; the body stays)."""
    source = EXAMPLE_ISSUE.read_text(encoding="utf-8").replace("\nlanguage: en\n", "\nlanguage: es\n", 1)
    assert "language: es" in source
    path = tmp_path / EXAMPLE_ISSUE.name
    path.write_text(source, encoding="utf-8")
    return path


# --- the catalogs ----------------------------------------------------------------------------------


def _extracted() -> set[tuple[str | None, str | tuple[str, ...]]]:
    """Every message in our templates, pages and code, as `pybabel extract -F babel.cfg` finds them."""
    with (REPO / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found: set[tuple[str | None, str | tuple[str, ...]]] = set()
    for _file, _line, message, _comments, context in extract_from_dir(
        str(REPO), method_map, options_map, keywords=KEYWORDS
    ):
        found.add((context, message))
    return found


def _catalog_ids(path: Path) -> dict[tuple[str | None, str | tuple[str, ...]], object]:
    with path.open("rb") as handle:
        catalog = read_po(handle)
    return {(m.context, m.id): m for m in catalog if m.id}


def test_every_message_of_the_templates_has_a_spanish_translation() -> None:
    extracted = _extracted()
    assert len(extracted) > 100  # the footer, the confirmation mail, every page
    assert (None, "View this issue online") in extracted
    spanish = _catalog_ids(catalog_path(SHIPPED, "es"))
    missing = sorted(str(key) for key in extracted if key not in spanish)
    assert not missing, f"add these to outreach/i18n/locale/es (docs/languages.md): {missing}"
    stale = sorted(str(key) for key in spanish if key not in extracted)
    assert not stale, f"no template says these any more; remove them: {stale}"
    for key, message in spanish.items():
        strings = message.string if isinstance(message.string, tuple) else (message.string,)  # type: ignore[attr-defined]
        assert all(strings), f"{key} has no Spanish text"
        assert not message.fuzzy, f"{key} is marked fuzzy: read it, then remove the mark"  # type: ignore[attr-defined]


def test_the_spanish_catalog_keeps_every_placeholder_and_the_template_is_current() -> None:
    with catalog_path(SHIPPED, "es").open("rb") as handle:
        catalog = read_po(handle)
    problems = [(m.id, errors) for m, errors in catalog.check()]
    assert not problems, problems  # %(name)s and friends, same in both languages
    template = _catalog_ids(SHIPPED / "outreach.pot")
    assert set(template) == _extracted(), "regenerate outreach/i18n/locale/outreach.pot (docs/languages.md)"


def test_a_site_catalog_wins_over_the_shipped_one_and_english_fills_gaps(tmp_path: Path) -> None:
    site = catalog_path(tmp_path, "es")
    site.parent.mkdir(parents=True)
    site.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgid "Unsubscribe"\nmsgstr "Darme de baja"\n\n'
        '#, fuzzy\nmsgid "Warmly,"\nmsgstr "Un abrazo,"\n',
        encoding="utf-8",
    )
    messages = translations("es", tmp_path)
    assert messages.gettext("Unsubscribe") == "Darme de baja"  # the site's own word
    assert messages.gettext("Warmly,") == "Con cariño,"  # its guess is fuzzy: the shipped one stands
    assert messages.gettext("Update your preferences") == "Actualizar sus preferencias"
    assert translations("es-MX", tmp_path).gettext("Unsubscribe") == "Darme de baja"
    assert translations("fr", tmp_path).gettext("Unsubscribe") == "Unsubscribe"  # no catalog: English


def test_accept_language_is_negotiated_against_the_site_languages() -> None:
    assert accept_language("fr-CH, fr;q=0.9, es;q=0.8, *;q=0.5") == ["fr-CH", "fr", "es"]
    assert accept_language("en;q=0, es") == ["es"]
    offered = ("en", "es")
    assert best_language(accept_language("es-MX,es;q=0.9,en;q=0.5"), offered) == "es"
    assert best_language(accept_language("fr, de"), offered) is None
    assert best_language(["es-419"], offered) == "es"
    assert best_language(["EN-us"], offered) == "en"


def test_dates_are_written_per_language_in_the_site_zone() -> None:
    zone = ZoneInfo("America/New_York")
    english, spanish = LocalDates("en", zone), LocalDates("es", zone)
    assert english.day(date(2026, 12, 1)) == "December 1, 2026"
    assert spanish.day(date(2026, 12, 1)) == "1 de diciembre de 2026"
    assert spanish.month(date(2026, 12, 1)) == "diciembre de 2026"
    assert english.when(datetime(2027, 2, 6, 9, 30)) == "Saturday, February 6, 2027, 9:30 AM"
    assert spanish.when(datetime(2027, 2, 6, 9, 30)) == "sábado, 6 de febrero de 2027, 9:30"
    # 02:00 UTC on December 2 is still December 1 in Richmond.
    assert spanish.day(datetime(2026, 12, 2, 2, 0, tzinfo=UTC)) == "1 de diciembre de 2026"


# --- the mails -------------------------------------------------------------------------------------


def test_a_spanish_edition_matches_its_golden_files(
    repo_config: Config, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    compiled = render_issue(read_issue(_spanish_example(tmp_path)), repo_config)
    links = _links(repo_config)
    mail = compiled.personalise(SAMPLE_RECIPIENT, links)
    for part in (mail.html, mail.text):
        assert "Cancelar la suscripci" in part and "Actualizar sus preferencias" in part
        assert "Ver este bolet" in part
        assert "Unsubscribe" not in part and "View this issue online" not in part
    assert "1 de diciembre de 2026" in mail.text
    # The event's labels are the layout's (Spanish); its "when:" is what staff wrote.
    assert "Cuándo: Saturday, February 6, 2027, 9:30 a.m." in mail.text and "Dónde: " in mail.text
    assert '<mjml lang="es">' in compiled.mjml
    _compare(
        {"2026-12-holding-the-holidays.es.html": mail.html, "2026-12-holding-the-holidays.es.txt": mail.text},
        request,
    )


EVENT = """Come along.

::: event
title: Winter gathering
starts: 2027-02-06 09:30
online: true
link: https://vaimh.example/events/winter
:::
"""


def test_an_event_given_only_its_start_reads_in_the_editions_language(
    config: Config, write_issue: Callable[..., Path]
) -> None:
    texts = {}
    for language in ("en", "es"):
        path = write_issue(EVENT, name=f"2026-12-event-{language}.md", language=language)
        compiled = render_issue(read_issue(path, config.time_zone), config)
        texts[language] = compiled.personalise(SAMPLE_RECIPIENT, _links(config)).text
    assert "When: Saturday, February 6, 2027, 9:30 AM" in texts["en"]
    assert "Where: Online" in texts["en"] and "Details and registration: https" in texts["en"]
    assert "Cuándo: sábado, 6 de febrero de 2027, 9:30" in texts["es"]
    assert "Dónde: En línea" in texts["es"] and "Detalles e inscripción: https" in texts["es"]
    assert "EVENTO: Winter gathering" in texts["es"]


def _links(config: Config):  # type: ignore[no-untyped-def]
    return recipient_links(config.base_url, config.secret_key, "42", "2026-12-holding-the-holidays")


def _confirmation(config: Config, language: str, first_name: str = "Ana") -> tuple[str, str, str]:
    mail = ConfirmationMail(config)
    recipient = Recipient("ana@example.org", first_name, language=language)
    message = mail.compose(
        Mail.CONFIRM,
        recipient,
        subscriber_links(config, 42),
        f"{config.base_url}/confirm/TOKEN",
        datetime(2026, 12, 1, 15, 0, tzinfo=UTC),
    )
    # The frame writes CRLF line ends, as SMTP wants; the golden files hold LF.
    return message.subject, message.text.replace("\r\n", "\n"), message.html.replace("\r\n", "\n")


def test_the_spanish_confirmation_mail_matches_its_golden_files(
    repo_config: Config, request: pytest.FixtureRequest
) -> None:
    subject, text, html = _confirmation(repo_config, "es")
    assert subject == "Por favor, confirme su suscripción a Noticias de VAIMH"
    assert "Hola, Ana:" in text and "Sí, quiero suscribirme" in html
    assert '<html lang="es"' in html or 'lang="es"' in html
    _compare({"confirm.es.html": html, "confirm.es.txt": text}, request)


def test_the_confirmation_mail_follows_the_subscribers_language(repo_config: Config) -> None:
    subject, text, _ = _confirmation(repo_config, "en")
    assert subject == "Please confirm your subscription to VAIMH News" and "Hello Ana," in text
    # A language the site does not offer gets the default; a regional tag its language.
    assert _confirmation(repo_config, "fr")[0] == subject
    assert _confirmation(repo_config, "es-MX")[0].startswith("Por favor, confirme")
    _, nameless, _ = _confirmation(repo_config, "es", first_name="")
    assert "Hola, qué gusto saludarle:" in nameless
    assert "Hello there," in _confirmation(repo_config, "en", first_name="")[1]
