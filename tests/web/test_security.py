"""Headers, body limits, errors as plain pages, and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.testclient import TestClient

from outreach.clock import FixedClock
from outreach.config import Config
from outreach.transports.memory import MemoryTransport
from outreach.web.app import create_app


def test_pages_carry_the_security_headers(client: TestClient) -> None:
    for path in ("/subscribe", "/archive", "/manage", "/nowhere"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"


def test_pages_have_no_inline_script_or_style(client: TestClient) -> None:
    page = client.get("/subscribe").text
    assert "<script" not in page and "style=" not in page and "<style" not in page
    css = client.get("/static/site.css")
    assert css.headers["content-type"].startswith("text/css") and ":focus-visible" in css.text


def test_bodies_over_64_kb_are_refused(client: TestClient) -> None:
    big = b"email=" + b"a" * (70 * 1024)
    answer = client.post(
        "/subscribe", content=big, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(80):
            yield b"a" * 1024

    streamed = client.post("/api/subscribe", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413


def test_unknown_pages_and_methods_are_plain_pages(client: TestClient) -> None:
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and "Page not found" in missing.text
    assert client.delete("/subscribe").status_code == 405


@pytest.fixture
def broken_app(config: Config, engine: Engine, clock: FixedClock) -> Starlette:
    app = create_app(config, engine, MemoryTransport(), clock)
    engine.dispose()
    app.state.web.engine = None  # every database call now fails
    return app


def test_an_error_never_shows_a_traceback(broken_app: Starlette) -> None:
    with TestClient(broken_app, raise_server_exceptions=False) as client:
        answer = client.get("/archive")
    assert answer.status_code == 500
    assert "Traceback" not in answer.text and "NoneType" not in answer.text
    assert "Something went wrong" in answer.text
    assert answer.headers["x-frame-options"] == "DENY"


def test_the_openapi_document_lists_the_json_endpoints(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert {"/api/subscribe", "/api/archive"} <= set(document["paths"])
