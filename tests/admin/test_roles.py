"""Every admin route declares its role, and the whole matrix holds: anonymous visitors are sent to
sign in, each role is refused everything above it, state changes need the session's CSRF token and
our own Origin, and API tokens act with at most their role."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from outreach.accounts.schema import ROLE_ORDER, Role, User
from outreach.accounts.tokens import create_token
from outreach.audience import transaction
from outreach.clock import FixedClock
from outreach.models import Actor
from tests.admin.conftest import BASE, USERS, csrf_of, sign_in

# The only routes anyone may use: the sign-in steps.
PUBLIC = {"/login", "/login/code", "/login/setup"}
# Routes that end the session the matrix walks with (each has its own test).
ENDS_SESSION = {"/logout", "/account/sessions/end"}


def admin_routes(app: Starlette) -> Iterator[tuple[str, str, Role | None]]:
    """(method, path, role) of every route of the mounted admin app, path parameters filled in."""
    mount = next(r for r in app.routes if isinstance(r, Mount) and r.path == "/admin")
    for route in mount.routes:
        if not isinstance(route, Route):
            continue
        assert hasattr(route.endpoint, "required_role"), f"{route.path} declares no role"
        path = re.sub(r"\{[^}]+\}", "1", route.path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            yield method, path, route.endpoint.required_role


def test_only_the_sign_in_steps_are_public(app: Starlette) -> None:
    public = {path for _, path, role in admin_routes(app) if role is None}
    assert public == PUBLIC


@pytest.mark.parametrize("who", ["anonymous", *ROLE_ORDER])
def test_the_role_matrix_holds_for_every_route(app: Starlette, who: str) -> None:
    with TestClient(app, base_url=BASE) as client:
        csrf = ""
        if who != "anonymous":
            assert sign_in(client, USERS[Role(who)]).status_code == 303
            csrf = csrf_of(client.get("/admin/account").text)
        for method, path, role in admin_routes(app):
            if role is None or path in ENDS_SESSION:
                continue
            answer = client.request(
                method,
                f"/admin{path}",
                data={"csrf": csrf} if method == "POST" else None,
                follow_redirects=False,
            )
            where = f"{who} {method} {path} (needs {role})"
            if who == "anonymous":
                expected = 401 if path.startswith("/api/") else 303
                assert answer.status_code == expected, where
            elif Role(who).allows(role):
                assert answer.status_code not in (401, 403), f"{where}: {answer.status_code}"
            else:
                assert answer.status_code == 403, f"{where}: {answer.status_code}"


def test_a_change_without_the_csrf_token_or_from_another_site_is_refused(client: TestClient) -> None:
    sign_in(client, USERS[Role.ADMIN])
    form = {"email": "new.person@vaimh.example", "role": "viewer", "password": "a brand new harbour light"}
    assert client.post("/admin/users/add", data=form).status_code == 403
    assert client.post("/admin/users/add", data={**form, "csrf": "forged"}).status_code == 403
    csrf = csrf_of(client.get("/admin/users").text)
    other_site = client.post(
        "/admin/users/add", data={**form, "csrf": csrf}, headers={"Origin": "https://evil.example"}
    )
    assert other_site.status_code == 403
    assert "new.person@vaimh.example" not in client.get("/admin/users").text
    ok = client.post("/admin/users/add", data={**form, "csrf": csrf}, headers={"Origin": BASE})
    assert ok.status_code == 200 and "new.person@vaimh.example" in ok.text


def test_an_api_token_acts_with_at_most_its_role(
    client: TestClient, engine: Engine, clock: FixedClock, people: dict[Role, str]
) -> None:
    with transaction(engine) as session:
        ada = session.query(User).filter_by(email=USERS[Role.ADMIN]).one()
        _, viewer_token = create_token(session, ada, "read only", Role.VIEWER, Actor("t", "cli"), clock)
    assert client.get("/admin/users", headers={"Authorization": f"Bearer {viewer_token}"}).status_code == 403
    assert client.get("/admin/", headers={"Authorization": f"Bearer {viewer_token}"}).status_code == 200
    assert (
        client.get(
            "/admin/", headers={"Authorization": "Bearer otk_forged"}, follow_redirects=False
        ).status_code
        == 303
    )
