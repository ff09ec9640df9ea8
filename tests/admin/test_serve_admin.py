"""Where the admin app is served: at /admin/ of `outreach serve` by default, left out of a public
listener (`--no-admin`, `[admin] enabled = false`), alone on a private one (`--admin-only`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from outreach.accounts.schema import Role
from outreach.clock import FixedClock
from outreach.config import load_config
from outreach.web.app import create_app
from outreach.web.guard import MAX_BODY
from tests.admin.conftest import BASE, USERS, csrf_of, sign_in
from tests.conftest import TEST_SECRET
from tests.ports import free_port

CLI = [sys.executable, "-c", "import sys; from outreach.cli import main; main(sys.argv[1:])"]


def _client(project: Path, engine: Engine, clock: FixedClock | None = None, **options: object) -> TestClient:
    config = load_config(project, environ={"OUTREACH_SECRET_KEY": TEST_SECRET})
    return TestClient(create_app(config, engine, clock=clock, **options), base_url=BASE)  # type: ignore[arg-type]


def test_serve_mounts_the_admin_app_beside_the_subscriber_pages(
    project: Path, engine: Engine, clock: FixedClock, people: dict[Role, str]
) -> None:
    with _client(project, engine, clock) as client:
        assert client.get("/subscribe").status_code == 200
        assert sign_in(client, USERS[Role.ADMIN]).status_code == 303  # type: ignore[attr-defined]
        page = client.get("/admin/users")
        assert page.status_code == 200 and "Users" in page.text
        # the subscriber service's 64 KB cap does not stop an admin's CSV upload
        csrf = csrf_of(page.text)
        upload = client.post(
            "/admin/users/add",
            data={
                "csrf": csrf,
                "email": "x@vaimh.example",
                "role": "viewer",
                "password": "p" * (MAX_BODY + 10),
            },
        )
        assert upload.status_code == 400 and "at most" in upload.text


def test_the_admin_app_can_be_left_out_of_a_public_listener(project: Path, engine: Engine) -> None:
    with _client(project, engine, admin=False) as client:
        assert client.get("/admin/login").status_code == 404
    toml = project / "outreach.toml"
    toml.write_text(toml.read_text() + "\n[admin]\nenabled = false\n")
    with _client(project, engine) as client:
        assert client.get("/admin/login").status_code == 404
        assert client.get("/subscribe").status_code == 200


def test_admin_only_serves_nothing_but_the_admin_app(project: Path, engine: Engine) -> None:
    with _client(project, engine, admin=True, subscriber_pages=False) as client:
        assert client.get("/subscribe").status_code == 404
        assert client.get("/u/anything").status_code == 404
        assert client.get("/admin/login").status_code == 200
        root = client.get("/", follow_redirects=False)
        assert root.status_code == 303 and root.headers["location"] == "/admin/"


def test_outreach_serve_admin_only_on_a_private_address(project: Path) -> None:
    port = free_port()
    env = {**os.environ, "OUTREACH_SECRET_KEY": TEST_SECRET, "OUTREACH_BASE_URL": BASE}
    env.pop("OUTREACH_DATABASE_URL", None)
    subprocess.run([*CLI, "db", "upgrade", "--root", str(project)], env=env, check=True, capture_output=True)
    both = subprocess.run(
        [*CLI, "serve", "--no-admin", "--admin-only", "--root", str(project)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert both.returncode == 2 and "choose one of --no-admin and --admin-only" in both.stderr
    process = subprocess.Popen(
        [*CLI, "serve", "--admin-only", "--host", "127.0.0.1", "--port", str(port), "--root", str(project)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                login = httpx.get(f"{base}/admin/login", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        assert login.status_code == 200 and "Sign in" in login.text
        assert httpx.get(f"{base}/subscribe", timeout=5).status_code == 404
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert f"serving the admin app only on {base}/admin/" in output
