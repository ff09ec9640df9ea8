"""The archive (web version, feeds, the mails' view-online link) and click tracking."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from outreach.audience import transaction
from outreach.clock import FixedClock
from outreach.config import Config
from outreach.delivery.tracking import ClickTracking, click_token, clicks
from tests.web.conftest import add_active, link_in, make_campaign, send_campaign


def test_sent_issues_are_listed_and_shown_without_personal_data(
    client: TestClient, config: Config, engine: Engine, clock: FixedClock, write_issue: Callable[..., Path]
) -> None:
    add_active(engine, clock, "ben@example.org")
    campaign_id = make_campaign(config, engine, clock, write_issue, subject="Holding the holidays")
    assert "Holding the holidays" not in client.get("/archive").text  # nothing sent yet
    transport = send_campaign(config, engine, clock, campaign_id)
    listing = client.get("/archive")
    assert 'href="/archive/2026-12-test">Holding the holidays</a>' in listing.text
    view_online = link_in(transport.outbox[0].text, "/archive/")
    assert view_online == f"{config.base_url}/archive/2026-12-test"
    page = client.get("/archive/2026-12-test")
    assert page.status_code == 200
    assert "Dear friend, hello." in page.text
    assert "ben@example.org" not in page.text
    assert "/u/" not in page.text and "/p/" not in page.text
    assert "script-src" not in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert client.get("/archive/no-such-issue").status_code == 404
    issues = client.get("/api/archive").json()["issues"]
    assert [i["slug"] for i in issues] == ["2026-12-test"]


def test_feeds_list_the_sent_issues(
    client: TestClient, config: Config, engine: Engine, clock: FixedClock, write_issue: Callable[..., Path]
) -> None:
    add_active(engine, clock)
    send_campaign(
        config, engine, clock, make_campaign(config, engine, clock, write_issue, subject="Winter & play")
    )
    rss = client.get("/archive/rss.xml")
    assert rss.headers["content-type"].startswith("application/rss+xml")
    item = ET.fromstring(rss.content).find("channel/item")
    assert item is not None and item.findtext("title") == "Winter & play"
    assert item.findtext("link") == f"{config.base_url}/archive/2026-12-test"
    atom = client.get("/archive/atom.xml")
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entry = ET.fromstring(atom.content).find("a:entry", ns)
    assert entry is not None and entry.findtext("a:title", namespaces=ns) == "Winter & play"


def test_tracking_rewrites_outside_links_once_per_campaign_and_skips_ours(config: Config) -> None:
    tracking = ClickTracking(config.base_url, config.secret_key)
    html = (
        '<a href="https://vaimh.example/guide?a=1&amp;b=2">x</a> <a href="{{ unsubscribe_url }}">u</a> '
        f'<a href="{config.base_url}/archive/x">v</a> <a href="mailto:info@vaimh.example">m</a>'
    )
    rewritten = tracking.rewrite_html(html, 7)
    token = click_token(config.secret_key, 7, "https://vaimh.example/guide?a=1&b=2")
    assert f'href="{config.base_url}/c/{token}"' in rewritten
    assert "{{ unsubscribe_url }}" in rewritten and 'href="mailto:' in rewritten
    assert f'href="{config.base_url}/archive/x"' in rewritten
    text = tracking.rewrite_text("See https://research.example.org/study. Thanks", 7)
    assert text.endswith(". Thanks") and "/c/" in text


def test_clicks_redirect_only_to_signed_urls_and_are_counted(
    client: TestClient, config: Config, engine: Engine, clock: FixedClock, write_issue: Callable[..., Path]
) -> None:
    add_active(engine, clock)
    campaign_id = make_campaign(config, engine, clock, write_issue, tracking=True)
    transport = send_campaign(config, engine, clock, campaign_id)
    html = transport.outbox[0].html
    tracked = re.findall(r'href="(https://news\.vaimh\.example/c/[^"]+)"', html)
    guide = f"{config.base_url}/c/{click_token(config.secret_key, campaign_id, 'https://vaimh.example/guide?a=1&b=2')}"
    assert guide in tracked and len(tracked) == len(set(tracked)) == 3  # guide, study, the logo's link
    assert "research.example.org" not in re.sub(r"/c/[^\"]+", "", html)
    target = guide.removeprefix(config.base_url)
    for _ in range(2):
        hop = client.get(target, follow_redirects=False)
        assert hop.status_code == 302
    assert hop.headers["location"] == "https://vaimh.example/guide?a=1&b=2"
    with transaction(engine) as session:
        assert clicks(session, campaign_id) == [("https://vaimh.example/guide?a=1&b=2", 2)]
    archived = client.get("/archive/2026-12-test").text
    assert "/c/" not in archived and "https://research.example.org/study" in archived


def test_a_click_token_we_did_not_sign_is_a_404_never_a_redirect(client: TestClient, config: Config) -> None:
    forged = click_token("another-key", 1, "https://evil.example/")
    token = click_token(config.secret_key, 1, "https://vaimh.example/")
    payload, signature = token.split(".")
    altered = payload[:-4] + ("AAAA" if not payload.endswith("AAAA") else "BBBB") + "." + signature
    javascript = click_token(config.secret_key, 1, "javascript:alert(1)")
    for bad in (forged, altered, javascript, "nonsense"):
        answer = client.get(f"/c/{bad}", follow_redirects=False)
        assert answer.status_code == 404 and "location" not in answer.headers
