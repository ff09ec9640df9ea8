"""A second organisation runs the service by changing only its project folder: its outreach.toml, its
lists and, if it likes, its own versions of the pages. Nothing of VAIMH may show through."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from outreach.audience import Consent, ConsentMethod, add_subscriber, make_engine, transaction
from outreach.audience.topics import load_topics, sync_topics
from outreach.clock import FixedClock
from outreach.config import Config, load_config
from outreach.transports.memory import MemoryTransport
from outreach.web.app import create_app
from tests.conftest import REPO, TEST_SECRET
from tests.web.conftest import _upgrade, add_active, csrf_of, deliver_queued, link_in

SETTINGS = """
[organisation]
name = "Riverbend Family Network"
short_name = "RFN"
tagline = "Every family, every neighbourhood."
website = "https://riverbend.example"
postal_address = "12 Mill Lane, Riverbend, OR 97000"

[sender]
from_name = "Riverbend Family Network"
from_address = "hello@riverbend.example"
list_id = "Riverbend news <news.riverbend.example>"
message_id_domain = "riverbend.example"

[web]
base_url = "https://news.riverbend.example"
"""
TOPICS = """
family-news:
  name: Family news
  description: What is on at the network, once a month.
  default: true
"""
OWN_PAGE = """{% extends "base.html.j2" %}
{% block title %}Almost there{% endblock %}
{% block main %}<h1>Almost there, neighbour!</h1>
<p>Look for a mail from {{ org.short_name }}.</p>{% endblock %}
"""
ADMIN = Consent(ConsentMethod.ADMIN, source="test")
FOREIGN = re.compile(r"vaimh|virginia|infant mental health", re.IGNORECASE)


@pytest.fixture
def second_site(tmp_path: Path) -> Config:
    root = tmp_path / "riverbend"
    (root / "lists").mkdir(parents=True)
    (root / "outreach.toml").write_text(SETTINGS, encoding="utf-8")
    (root / "lists" / "topics.yaml").write_text(TOPICS, encoding="utf-8")
    # The mail layouts are the site's own too; the shipped examples serve as its starting point.
    shutil.copytree(REPO / "templates", root / "templates", ignore=shutil.ignore_patterns("web"))
    (root / "templates" / "web").mkdir()
    (root / "templates" / "web" / "check_inbox.html.j2").write_text(OWN_PAGE, encoding="utf-8")
    return load_config(root, environ={"OUTREACH_SECRET_KEY": TEST_SECRET})


@pytest.fixture
def site_engine(second_site: Config) -> Iterator[Engine]:
    engine = make_engine(second_site.database_url)
    _upgrade(engine)
    with transaction(engine) as session:
        sync_topics(session, load_topics(second_site.path("lists") / "topics.yaml"))
    yield engine
    engine.dispose()


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_a_second_organisation_sees_only_itself_in_every_page(
    second_site: Config, site_engine: Engine
) -> None:
    clock = FixedClock(datetime(2026, 12, 1, 15, 0, tzinfo=UTC))
    outbox = MemoryTransport()
    app = create_app(second_site, site_engine, outbox, clock)
    with transaction(site_engine) as session:
        member = add_subscriber(
            session, "member@example.org", consent=ADMIN, clock=clock, topics=["family-news"]
        ).id
    pages: dict[str, str] = {}
    with TestClient(app, raise_server_exceptions=False) as client:
        links = client.app.state.web.links(member)  # type: ignore[attr-defined]
        for path in (
            "/", "/subscribe", "/embed", "/embed/snippet", "/archive", "/archive/rss.xml",
            "/archive/atom.xml", "/archive/no-such-issue", "/manage", "/static/site.css", "/nowhere",
            "/u/forged", "/p/forged", "/confirm/forged", "/c/forged", "/openapi.json",
            _path(links.unsubscribe), _path(links.preferences),
        ):  # fmt: skip
            pages[path] = client.get(path).text
        form = {"csrf": csrf_of(pages["/subscribe"]), "email": "new@example.org", "topics": "family-news"}
        pages["POST /subscribe"] = client.post("/subscribe", data=form).text
        deliver_queued(client)
        confirm = _path(link_in(outbox.outbox[0].text, "/confirm/"))
        pages[confirm] = client.get(confirm).text
        pages["POST confirm"] = client.post(confirm, data={"csrf": csrf_of(pages[confirm])}).text
        one_click = client.post(_path(links.unsubscribe), data={"List-Unsubscribe": "One-Click"})
        pages["POST one-click"] = one_click.text
        pages["TRACE /subscribe"] = client.request("TRACE", "/subscribe").text
    shown = {path: FOREIGN.findall(text) for path, text in pages.items()}
    assert {path: found for path, found in shown.items() if found} == {}
    assert "Riverbend Family Network" in pages["/subscribe"] and "Family news" in pages["/subscribe"]
    assert "Almost there, neighbour!" in pages["POST /subscribe"]  # the site's own page won
    assert "Look for a mail from RFN" in pages["POST /subscribe"]
    assert "You're unsubscribed" in pages["POST one-click"]  # the shipped page where the site has none
    assert "https://news.riverbend.example/embed" in pages["/embed/snippet"]
    assert 'name="topics" value="family-news" checked' in pages["/subscribe"]  # default: true


def test_the_shipped_site_keeps_its_own_voice_through_the_same_mechanism(
    client: TestClient, engine: Engine
) -> None:
    links = client.app.state.web.links(add_active(engine, FixedClock(datetime(2026, 12, 1, tzinfo=UTC))))  # type: ignore[attr-defined]
    answer = client.post(_path(links.unsubscribe), data={"List-Unsubscribe": "One-Click"})
    assert "young children and their families" in answer.text  # templates/web/unsubscribed.html.j2
