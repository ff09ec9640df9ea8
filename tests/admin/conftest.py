"""The admin app under test: a migrated database (both backends), one user per role, a moving clock,
and a browser-like client that signs in through the real forms."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from outreach.accounts.schema import Role
from outreach.accounts.users import add_user
from outreach.admin.app import create_admin_app
from outreach.audience import transaction
from outreach.clock import FixedClock
from outreach.config import Config, load_config
from outreach.models import Actor
from tests.conftest import TEST_SECRET
from tests.databases import (  # noqa: F401 - fixtures: sqlite_template, backend, engine, database_url
    backend_fixture,
    database_url_fixture,
    engine_fixture,
    sqlite_template_fixture,
)

PASSWORD = "a quiet harbour at dawn"
USERS = {
    Role.VIEWER: "vera@vaimh.example",
    Role.EDITOR: "eddie@vaimh.example",
    Role.ADMIN: "ada@vaimh.example",
}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
BASE = "https://news.vaimh.example"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 12, 1, 15, 0, tzinfo=UTC))


@pytest.fixture
def admin_config(project: Path) -> Config:
    return load_config(project, environ={"OUTREACH_SECRET_KEY": TEST_SECRET})


@pytest.fixture
def people(engine: Engine, clock: FixedClock) -> dict[Role, str]:
    with transaction(engine) as session:
        for role, email in USERS.items():
            add_user(session, email, role, PASSWORD, Actor("test", "cli"), clock)
    return dict(USERS)


def mounted(config: Config, engine: Engine, clock: FixedClock) -> Starlette:
    """The admin app at /admin/, as ``outreach serve`` mounts it."""
    return Starlette(routes=[Mount("/admin", create_admin_app(config, engine, clock))])


@pytest.fixture
def app(admin_config: Config, engine: Engine, clock: FixedClock, people: dict[Role, str]) -> Starlette:
    return mounted(admin_config, engine, clock)


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app, base_url=BASE, raise_server_exceptions=True) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> object:
    page = client.get("/admin/login")
    return client.post(
        "/admin/login",
        data={"csrf": csrf_of(page.text), "email": email, "password": password, "next": "/admin/"},
        follow_redirects=False,
    )


@pytest.fixture
def signed_in(client: TestClient) -> Callable[[str], TestClient]:
    def as_user(email: str) -> TestClient:
        answer = sign_in(client, email)
        assert getattr(answer, "status_code", 0) == 303, getattr(answer, "text", "")
        return client

    return as_user
