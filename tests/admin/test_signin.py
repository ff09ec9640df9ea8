"""Signing in: sessions that expire and end, limits that hold, answers that tell no one who has an
account, a second factor, and a new session id at every sign-in."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from outreach.accounts.schema import Role, User
from outreach.accounts.signin import set_up_second_factor
from outreach.accounts.users import reset_password
from outreach.admin.routing import SESSION_COOKIE
from outreach.audience import transaction
from outreach.clock import FixedClock
from outreach.config import Config, load_config
from outreach.models import Actor
from tests.admin.conftest import BASE, PASSWORD, USERS, csrf_of, mounted, sign_in
from tests.conftest import TEST_SECRET

ADA = USERS[Role.ADMIN]


def test_signing_in_sets_a_strict_httponly_secure_cookie_and_opens_the_dashboard(client: TestClient) -> None:
    answer = sign_in(client, ADA)
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/"
    cookie = next(
        v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith(SESSION_COOKIE)
    )
    assert (
        "HttpOnly" in cookie
        and "SameSite=strict" in cookie
        and "Secure" in cookie
        and "Path=/admin" in cookie
    )
    page = client.get("/admin/")
    assert page.status_code == 200 and "Dashboard" in page.text and ADA in page.text


def test_a_wrong_password_and_an_unknown_address_get_the_same_answer(client: TestClient) -> None:
    wrong = sign_in(client, ADA, "not the password at all")
    unknown = sign_in(client, "nobody@vaimh.example", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.text.replace(ADA, "X") == unknown.text.replace("nobody@vaimh.example", "X")


def test_five_failures_lock_the_account_whoever_asks_with_a_clear_message(
    client: TestClient, clock: FixedClock
) -> None:
    for _ in range(5):
        assert sign_in(client, ADA, "wrong password, again and again").status_code == 401
    locked = sign_in(client, ADA)  # even the right password
    assert locked.status_code == 429 and "Too many attempts" in locked.text and "minutes" in locked.text
    ghost = [sign_in(client, "ghost@vaimh.example", "wrong password, again") for _ in range(6)]
    assert ghost[-1].status_code == 429  # unknown accounts lock the same way: nothing to learn
    clock.advance(16 * 60)
    assert sign_in(client, ADA).status_code == 303


def test_a_cookie_from_before_sign_out_or_a_password_change_is_refused(
    client: TestClient, engine: Engine, clock: FixedClock
) -> None:
    sign_in(client, ADA)
    old = client.cookies.get(SESSION_COOKIE)
    page = client.get("/admin/account")
    client.post("/admin/logout", data={"csrf": csrf_of(page.text)})
    client.cookies.set(SESSION_COOKIE, old or "", domain="news.vaimh.example", path="/admin")
    assert client.get("/admin/", follow_redirects=False).status_code == 303  # back to sign-in
    sign_in(client, ADA)
    before = client.cookies.get(SESSION_COOKIE)
    with transaction(engine) as session:
        reset_password(session, ADA, "another fine harbour at dusk", Actor("test", "cli"), clock)
    client.cookies.set(SESSION_COOKIE, before or "", domain="news.vaimh.example", path="/admin")
    assert client.get("/admin/", follow_redirects=False).status_code == 303


def test_sessions_expire_when_idle_and_when_old(client: TestClient, clock: FixedClock) -> None:
    sign_in(client, ADA)
    clock.advance(29 * 60)
    assert client.get("/admin/").status_code == 200
    clock.advance(31 * 60)
    assert client.get("/admin/", follow_redirects=False).status_code == 303
    sign_in(client, ADA)
    signed_at = clock.now()
    while client.get("/admin/", follow_redirects=False).status_code == 200:  # busy all day, never idle
        clock.advance(15 * 60)
        assert clock.now() - signed_at <= timedelta(hours=12, minutes=15), "the absolute limit never ended it"
    assert clock.now() - signed_at > timedelta(hours=12)


def test_a_session_id_planted_before_sign_in_is_never_promoted(client: TestClient) -> None:
    client.cookies.set(SESSION_COOKIE, "planted-by-someone-else", domain="news.vaimh.example", path="/admin")
    sign_in(client, ADA)
    assert client.cookies.get(SESSION_COOKIE) != "planted-by-someone-else"


def test_sign_out_everywhere_ends_every_session(app: object, client: TestClient) -> None:
    sign_in(client, ADA)
    with TestClient(app, base_url=BASE) as other:  # type: ignore[arg-type]
        sign_in(other, ADA)
        assert other.get("/admin/").status_code == 200
        page = client.get("/admin/account")
        client.post("/admin/account/sessions/end", data={"csrf": csrf_of(page.text)})
        assert other.get("/admin/", follow_redirects=False).status_code == 303


def _turn_on_2fa(engine: Engine, clock: FixedClock) -> str:
    secret = pyotp.random_base32()
    with transaction(engine) as session:
        user = session.scalars(sa.select(User).where(User.email == ADA)).one()
        set_up_second_factor(
            session, user, secret, pyotp.TOTP(secret).at(clock.now()), TEST_SECRET, Actor("t", "cli"), clock
        )
    return secret


def test_with_a_second_factor_the_password_alone_opens_nothing(
    client: TestClient, engine: Engine, clock: FixedClock
) -> None:
    secret = _turn_on_2fa(engine, clock)
    answer = sign_in(client, ADA)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/admin/login/code")
    assert client.get("/admin/", follow_redirects=False).status_code == 303
    page = client.get("/admin/login/code")
    bad = client.post(
        "/admin/login/code", data={"csrf": csrf_of(page.text), "code": "000000", "next": "/admin/"}
    )
    assert bad.status_code == 401 and "not right" in bad.text
    half = client.cookies.get(SESSION_COOKIE)
    good = client.post(
        "/admin/login/code",
        data={"csrf": csrf_of(bad.text), "code": pyotp.TOTP(secret).at(clock.now()), "next": "/admin/"},
        follow_redirects=False,
    )
    assert good.status_code == 303 and client.cookies.get(SESSION_COOKIE) != half
    assert client.get("/admin/").status_code == 200


def test_admins_must_set_up_a_second_factor_when_the_site_requires_it(
    project: Path, engine: Engine, clock: FixedClock, people: dict[Role, str]
) -> None:
    toml = project / "outreach.toml"
    toml.write_text(toml.read_text() + "\n[admin]\nrequire_2fa = true\n")
    config: Config = load_config(project, environ={"OUTREACH_SECRET_KEY": TEST_SECRET})
    with TestClient(mounted(config, engine, clock), base_url=BASE) as client:
        answer = sign_in(client, ADA)
        assert answer.headers["location"].startswith("/admin/login/setup")
        assert client.get("/admin/", follow_redirects=False).status_code == 303
        setup = client.get("/admin/login/setup")
        assert "<svg" in setup.text and "Key:" in setup.text
        key = setup.text.split('class="key">', 1)[1].split("<", 1)[0].replace(" ", "")
        done = client.post(
            "/admin/login/setup",
            data={
                "csrf": csrf_of(setup.text),
                "sealed": setup.text.split('name="sealed" value="', 1)[1].split('"')[0],
                "code": pyotp.TOTP(key).at(clock.now()),
            },
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert client.get("/admin/").status_code == 200
        editor = sign_in(client, USERS[Role.EDITOR])
        assert editor.status_code == 303, editor.text
        assert editor.headers["location"] == "/admin/"  # editors are not forced


@pytest.mark.parametrize("next_path", ["https://evil.example/", "//evil.example/", "/elsewhere"])
def test_after_sign_in_only_admin_pages_are_a_destination(client: TestClient, next_path: str) -> None:
    page = client.get("/admin/login")
    answer = client.post(
        "/admin/login",
        data={"csrf": csrf_of(page.text), "email": ADA, "password": PASSWORD, "next": next_path},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/admin/"
