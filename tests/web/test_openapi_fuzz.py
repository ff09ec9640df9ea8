"""schemathesis against /openapi.json: the JSON endpoints answer as documented, whatever they are sent.

Only our paths (``/api/...``) are fuzzed here; the webhook paths merged into the same document have
their own tests. Sign-ups go to a memory transport, and the per-IP limit is lifted so the fuzzer's
hundreds of requests are judged on their content.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import schemathesis
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from outreach.audience import make_engine
from outreach.clock import FixedClock
from outreach.config import load_config
from outreach.transports.memory import MemoryTransport
from outreach.web.app import create_app
from outreach.web.openapi import document
from tests.conftest import REPO, TEST_SECRET

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, web_template_db: Path) -> Iterator[TestClient]:
    """The app over a project of its own (module-scoped: hypothesis runs many cases per test)."""
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copy(REPO / "outreach.toml", root / "outreach.toml")
    shutil.copytree(REPO / "templates", root / "templates")
    shutil.copy(web_template_db, root / "outreach.db")
    config = load_config(root, environ={"OUTREACH_SECRET_KEY": TEST_SECRET})
    engine = make_engine(config.database_url)
    clock = FixedClock(datetime(2026, 12, 1, tzinfo=UTC))
    app = create_app(config, engine, MemoryTransport(), clock, signups_per_ip=(1_000_000, 1.0))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    engine.dispose()


@pytest.fixture(scope="module")
def openapi(served: TestClient) -> dict[str, object]:
    document: dict[str, object] = served.get("/openapi.json").json()
    return document


def test_the_served_document_is_the_one_fuzzed(openapi: dict[str, object]) -> None:
    paths = openapi["paths"]
    assert isinstance(paths, dict)
    assert {k: v for k, v in paths.items() if k.startswith("/api/")} == document()["paths"]


schema = schemathesis.openapi.from_dict(document()).include(path_regex=r"^/api/")


@schema.parametrize()
def test_json_endpoints_match_their_openapi(case: schemathesis.Case, served: TestClient) -> None:
    response = served.request(**case.as_transport_kwargs(base_url="http://testserver"))
    case.validate_response(response, checks=CHECKS)
