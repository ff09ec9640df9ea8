"""schemathesis against /openapi.json: every route (pages, form posts, the JSON API and the webhooks)
answers as documented whatever it is sent, and never with a server error.

Two runs: the pytest integration over the JSON API (quick, shrinks failures to a small example), and
the schemathesis command line with ``--checks all`` over every path of the served document, including
its coverage phase (unsupported methods such as TRACE, missing and malformed bodies), against a real
uvicorn on SQLite and on PostgreSQL. Examples per operation are bounded so the run stays short.
Sign-ups go to a memory transport, and the per-IP limit is lifted so the fuzzer's requests are judged
on their content.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import schemathesis
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from outreach.audience import make_engine, transaction
from outreach.audience.topics import load_topics, sync_topics
from outreach.clock import FixedClock
from outreach.config import Config, load_config
from outreach.transports.memory import MemoryTransport
from outreach.web.app import create_app
from outreach.web.openapi import document
from tests.conftest import REPO, TEST_SECRET
from tests.databases import BACKENDS, fresh_database
from tests.databases import sqlite_template_fixture as sqlite_template  # noqa: F401
from tests.ports import free_port
from tests.web.conftest import LISTS, send_case

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
MAX_EXAMPLES = 8  # per operation and phase: enough to find the classic crashes, short on 2 cores
WEBHOOK_SECRETS = {
    "OUTREACH_MAILGUN_WEBHOOK_KEY": "mailgun-signing-key-for-the-fuzz-tests",
    "OUTREACH_POSTMARK_WEBHOOK_USER": "postmark",
    "OUTREACH_POSTMARK_WEBHOOK_PASSWORD": "postmark-password-for-the-fuzz-tests",
}


def _project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "outreach.toml", root / "outreach.toml")
    shutil.copytree(REPO / "templates", root / "templates")
    shutil.copytree(LISTS, root / "lists")
    return root


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, web_template_db: Path) -> Iterator[TestClient]:
    """The app over a project of its own (module-scoped: hypothesis runs many cases per test)."""
    root = _project(tmp_path_factory.mktemp("fuzz"))
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
    assert {k: v for k, v in paths.items() if not k.startswith("/webhooks/")} == document()["paths"]
    assert {"/subscribe", "/u/{token}", "/p/{token}", "/confirm/{token}", "/c/{token}"} <= set(paths)


schema = schemathesis.openapi.from_dict(document()).include(path_regex=r"^/api/")


@schema.parametrize()
def test_json_endpoints_match_their_openapi(case: schemathesis.Case, served: TestClient) -> None:
    case.validate_response(send_case(served, case), checks=CHECKS)


# --- every route, the command line's --checks all, on both databases -------------------------------


@pytest.fixture(params=BACKENDS)
def fuzz_engine(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[Engine]:  # noqa: F811
    with fresh_database(request.param, tmp_path, sqlite_template) as engine:
        with transaction(engine) as session:
            sync_topics(session, load_topics(LISTS / "topics.yaml"))
        yield engine


@pytest.fixture
def live(tmp_path: Path, fuzz_engine: Engine) -> Iterator[str]:
    """The whole app, webhooks enabled, under uvicorn on 127.0.0.1; yields its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    sendgrid = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = sendgrid.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    env = {
        "OUTREACH_SECRET_KEY": TEST_SECRET,
        "OUTREACH_BASE_URL": base,
        "OUTREACH_SENDGRID_WEBHOOK_KEY": base64.b64encode(der).decode(),
        **WEBHOOK_SECRETS,
    }
    config: Config = load_config(_project(tmp_path / "site"), environ=env)
    app = create_app(config, fuzz_engine, MemoryTransport(), signups_per_ip=(1_000_000, 1.0))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30  # a start-up guard, not a timing
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield base
    server.should_exit = True
    thread.join(timeout=30)


# The webhooks' documented bodies are looser than what their signatures and parsers accept (a valid
# signature cannot be generated), so a schema-valid body may rightly get a 400 there: that one check is
# left to the webhooks' own fuzz test, which signs its bodies. Every other check runs on them too.
RUNS = {
    "pages-and-api": ["--exclude-path-regex", "^/webhooks/"],
    "webhooks": ["--include-path-regex", "^/webhooks/", "--exclude-checks", "positive_data_acceptance"],
}


@pytest.mark.parametrize("run", sorted(RUNS))
def test_no_input_to_any_route_gets_a_server_error(run: str, live: str, tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{live}/openapi.json",
        "--checks", "all",
        *RUNS[run],
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", "20261201",
        "--workers", "1",
        "--request-timeout", "30",
        "--suppress-health-check", "all",
        "--no-color",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=1800, check=False)
    assert done.returncode == 0, done.stdout[-12000:] + done.stderr[-3000:]
