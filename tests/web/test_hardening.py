"""Attacks on the service as a whole: forged client addresses, posts from other sites, bodies built to
crash a parser, and methods no route has. Each test performs the attack and checks nothing gives way."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from outreach.audience import find_by_email, transaction
from outreach.audience.schema import Subscriber
from outreach.clock import FixedClock
from outreach.config import Config, load_config
from outreach.transports.memory import MemoryTransport
from outreach.web.app import create_app
from tests.conftest import TEST_SECRET
from tests.web.conftest import add_active, csrf_of, deliver_queued

PEER = ("198.51.100.20", 40000)  # the address the TCP connection comes from
EVIL = "https://evil.example"


def _config_with(project: Path, web: str) -> Config:
    toml = project / "outreach.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text.replace("[web]\n", f"[web]\n{web}\n"), encoding="utf-8")
    return load_config(project, environ={"OUTREACH_SECRET_KEY": TEST_SECRET})


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def _sign_up(client: TestClient, email: str, headers: dict[str, str] | None = None) -> int:
    page = client.get("/subscribe")
    data = {"csrf": csrf_of(page.text), "email": email, "topics": "monthly-newsletter", "language": "en"}
    return client.post("/subscribe", data=data, headers=headers or {}).status_code


# --- 3. the per-IP limit cannot be dodged with X-Forwarded-For -------------------------------------


def test_a_trusted_proxy_names_the_client_and_each_client_has_its_own_limit(
    project: Path, engine: Engine, clock: FixedClock
) -> None:
    config = _config_with(project, 'trusted_proxies = ["198.51.100.0/24"]')
    app = create_app(config, engine, MemoryTransport(), clock)
    with TestClient(app, client=PEER) as client:
        # Two real clients behind the proxy: each gets its own five.
        first = [_sign_up(client, f"a{n}@example.org", {"x-forwarded-for": "203.0.113.1"}) for n in range(6)]
        second = _sign_up(client, "b@example.org", {"x-forwarded-for": "203.0.113.2"})
        # A client forging the header itself: the proxy appends the real address, which is what counts.
        forged = _sign_up(client, "c@example.org", {"x-forwarded-for": "192.0.2.99, 203.0.113.1"})
        deliver_queued(client)
    assert first == [200] * 5 + [429] and second == 200 and forged == 429
    with transaction(engine) as session:
        assert find_by_email(session, "b@example.org") is not None


def test_trusted_proxies_must_be_addresses(project: Path) -> None:
    with pytest.raises(Exception, match="not an IP address or network"):
        _config_with(project, 'trusted_proxies = ["the proxy"]')


# --- 6. every form post checks Origin in one place; one-click keeps working -----------------------


@pytest.fixture
def peer_client(
    config: Config, engine: Engine, outbox: MemoryTransport, clock: FixedClock
) -> Iterator[TestClient]:
    with TestClient(create_app(config, engine, outbox, clock), raise_server_exceptions=False) as client:
        yield client


def _form_posts(config: Config, engine: Engine, clock: FixedClock, client: TestClient) -> dict[str, Any]:
    """Every state-changing form route, each with a valid CSRF field taken from its page."""
    state = client.app.state.web  # type: ignore[attr-defined]
    links = state.links(add_active(engine, clock, "ben@example.org"))
    unsubscribe, preferences = _path(links.unsubscribe)[3:], _path(links.preferences)[3:]
    confirm_path = _path(state.confirm_url([0, 0, None]))[1:]
    posts = {
        "/subscribe": {"email": "eve@example.org", "topics": "monthly-newsletter", "language": "en"},
        f"/u/{unsubscribe}/leave": {},
        f"/p/{preferences}": {"action": "leave"},
        f"/{confirm_path}": {},
    }
    pages = {
        "/subscribe": "/subscribe",
        f"/u/{unsubscribe}/leave": f"/u/{unsubscribe}",
        f"/p/{preferences}": f"/p/{preferences}",
        f"/{confirm_path}": f"/{confirm_path}",
    }
    return {path: (pages[path], fields) for path, fields in posts.items()}


@pytest.mark.parametrize(
    "headers",
    [{"origin": EVIL}, {"origin": "null"}, {"sec-fetch-site": "cross-site"}],
    ids=["foreign-origin", "null-origin", "cross-site-fetch"],
)
def test_every_form_post_from_another_site_is_refused(
    headers: dict[str, str], config: Config, engine: Engine, clock: FixedClock, peer_client: TestClient
) -> None:
    for path, (page, fields) in _form_posts(config, engine, clock, peer_client).items():
        form = peer_client.get(page)
        assert form.status_code == 200, page
        answer = peer_client.post(path, data={**fields, "csrf": csrf_of(form.text)}, headers=headers)
        assert answer.status_code == 403, path
        assert "came from somewhere else" in answer.text
    with transaction(engine) as session:
        ben = find_by_email(session, "ben@example.org")
        assert ben is not None and ben.status.value == "active"  # nothing was changed


def test_the_same_posts_from_our_own_pages_work(
    config: Config, engine: Engine, clock: FixedClock, peer_client: TestClient
) -> None:
    own = {"origin": config.base_url, "sec-fetch-site": "same-origin"}
    forms = _form_posts(config, engine, clock, peer_client)
    fields_of = {
        path: {**fields, "csrf": csrf_of(peer_client.get(page).text)}
        for path, (page, fields) in forms.items()
    }
    for path, fields in fields_of.items():
        answer = peer_client.post(path, data=fields, headers=own)
        assert answer.status_code in (200, 404), (path, answer.status_code, answer.text[-600:])


def test_one_click_unsubscribe_works_without_origin_and_from_a_provider(
    config: Config, engine: Engine, clock: FixedClock, peer_client: TestClient
) -> None:
    for n, headers in enumerate(({}, {"origin": "https://mail.provider.example"})):
        subscriber = add_active(engine, clock, f"reader{n}@example.org")
        url = peer_client.app.state.web.links(subscriber).unsubscribe  # type: ignore[attr-defined]
        answer = peer_client.post(_path(url), data={"List-Unsubscribe": "One-Click"}, headers=headers)
        assert answer.status_code == 200
        with transaction(engine) as session:
            found = find_by_email(session, f"reader{n}@example.org")
            assert found is not None and found.status.value == "unsubscribed"


# --- 4. bodies built to crash a parser, and methods no route has -----------------------------------


def _nested_multipart(levels: int) -> tuple[str, bytes]:
    body, kind = b"value", "text/plain"
    for level in range(levels):
        boundary = f"b{level}"
        body = (
            f"--{boundary}\r\nContent-Type: {kind}\r\n".encode()
            + b'Content-Disposition: form-data; name="email"\r\n\r\n'
            + body
            + f"\r\n--{boundary}--\r\n".encode()
        )
        kind = f"multipart/mixed; boundary={boundary}"
    return kind.replace("multipart/mixed", "multipart/form-data"), body


DEEP_JSON = b"[" * 10_000 + b"]" * 10_000
DEEP_OBJECT = b'{"a":' * 5_000 + b"1" + b"}" * 5_000
BAD_BODIES: list[tuple[str, str, bytes]] = [
    ("deep-json-array", "application/json", DEEP_JSON),
    ("deep-json-object", "application/json", DEEP_OBJECT),
    ("deep-json-as-text", "text/plain; charset=UTF-8", DEEP_JSON),  # SNS posts JSON as text/plain
    ("nan", "application/json", b'{"email": NaN, "topics": [Infinity]}'),
    ("escaped-nul", "application/json", b'{"email": "a\\u0000@example.org", "topics": ["x"]}'),
    ("raw-nul-form", "application/x-www-form-urlencoded", b"email=a\x00b%40example.org&topics=x"),
    ("encoded-nul-form", "application/x-www-form-urlencoded", b"email=a%00b%40example.org&topics=x"),
    ("nested-multipart", *_nested_multipart(400)),
]
ROUTES = ["/subscribe", "/api/subscribe", "/u/x", "/p/x", "/confirm/x", "/webhooks/ses", "/webhooks/mailgun"]


@pytest.mark.parametrize(
    ("kind", "body"), [(k, b) for _, k, b in BAD_BODIES], ids=[i for i, _, _ in BAD_BODIES]
)
def test_bodies_built_to_crash_a_parser_get_a_400(
    kind: str, body: bytes, config: Config, engine: Engine, clock: FixedClock
) -> None:
    env = {"OUTREACH_SECRET_KEY": TEST_SECRET, "OUTREACH_MAILGUN_WEBHOOK_KEY": "k" * 32}
    webhook_config = load_config(config.root, environ=env)
    app = create_app(webhook_config, engine, MemoryTransport(), clock, signups_per_ip=(10**6, 1.0))
    with TestClient(app, raise_server_exceptions=False) as client:
        for path in ROUTES:
            answer = client.post(path, content=body, headers={"content-type": kind})
            assert answer.status_code == 400, (path, answer.status_code)
            assert "Traceback" not in answer.text
            if path.startswith(("/api/", "/webhooks/")):
                assert answer.headers["content-type"] == "application/json"


def test_ordinary_json_with_escapes_and_brackets_in_strings_passes(client: TestClient) -> None:
    body = (
        b'{"email": "ana@example.org", "first_name": "[[[{{\\"\\\\u0000", "topics": ["monthly-newsletter"]}'
    )
    answer = client.post("/api/subscribe", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 202


@pytest.mark.parametrize("method", ["TRACE", "PUT", "PATCH", "DELETE"])
def test_a_method_no_route_has_is_a_405_that_names_the_allowed_ones(method: str, client: TestClient) -> None:
    for path, allowed in (
        ("/subscribe", {"GET", "POST"}),
        ("/archive", {"GET"}),
        ("/api/subscribe", {"POST"}),
    ):
        answer = client.request(method, path)
        assert answer.status_code == 405
        assert allowed <= {m.strip() for m in answer.headers["allow"].split(",")}


def test_the_nested_bodies_reach_no_handler(
    signup_form: Callable[..., Any], client: TestClient, engine: Engine
) -> None:
    kind, body = _nested_multipart(3)
    page = client.get("/subscribe")
    assert client.post("/subscribe", content=body, headers={"content-type": kind}).status_code == 400
    assert page.status_code == 200
    with transaction(engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) == 0
