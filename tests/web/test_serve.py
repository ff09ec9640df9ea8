"""A real ``outreach serve`` on 127.0.0.1: its logs hold no token, a forged X-Forwarded-For gains nothing,
and it says where the links in mail point."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from outreach.audience import make_engine
from outreach.cli.web import start_message
from outreach.clock import SystemClock
from outreach.config import Config, load_config
from outreach.web.links import confirm_url, subscriber_links
from tests.conftest import TEST_SECRET
from tests.ports import free_port
from tests.web.conftest import add_active

CLI = [sys.executable, "-c", "import sys; from outreach.cli import main; main(sys.argv[1:])"]
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Served:
    base: str
    config: Config
    process: subprocess.Popen[str]
    stdout: Path
    stderr: Path

    def stop(self) -> str:
        """Stop the service the way an operator does (Ctrl-C) and return everything it wrote."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        return self.stdout.read_text(encoding="utf-8") + self.stderr.read_text(encoding="utf-8")


@pytest.fixture
def served(project: Path, tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "OUTREACH_SECRET_KEY": TEST_SECRET, "OUTREACH_BASE_URL": base}
    env.pop("OUTREACH_DATABASE_URL", None)
    upgraded = subprocess.run(
        [*CLI, "db", "upgrade", "--root", str(project)], env=env, capture_output=True, text=True, check=False
    )
    assert upgraded.returncode == 0, upgraded.stderr
    stdout, stderr = tmp_path / "serve.out", tmp_path / "serve.err"
    with stdout.open("w") as out, stderr.open("w") as err:
        process = subprocess.Popen(
            [*CLI, "serve", "--port", str(port), "--root", str(project)],
            env=env,
            stdout=out,
            stderr=err,
            text=True,
        )
    service = Served(base, load_config(project, environ=env), process, stdout, stderr)
    deadline = time.monotonic() + 60  # a start-up guard for a busy machine, not a timing
    while True:
        assert process.poll() is None, service.stop()
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "outreach serve did not start"
        time.sleep(0.1)
    yield service
    service.stop()


def test_the_access_log_never_holds_a_token(served: Served) -> None:
    engine = make_engine(served.config.database_url)
    subscriber = add_active(engine, SystemClock())
    engine.dispose()
    links = subscriber_links(served.config, subscriber)
    confirm = confirm_url(served.config, SystemClock(), [0, 0, None])
    tokens = {
        "unsubscribe": links.unsubscribe.rsplit("/", 1)[1],
        "preferences": links.preferences.rsplit("/", 1)[1],
        "confirm": confirm.rsplit("/", 1)[1],
        "click": "eyJjYW1wYWlnbiI6MX0.click-token-Q7xL",
    }
    with httpx.Client(base_url=served.base, timeout=10) as client:
        assert client.get(f"/u/{tokens['unsubscribe']}").status_code == 200
        assert client.get(f"/p/{tokens['preferences']}").status_code == 200
        assert client.get(f"/p/{tokens['preferences']}?from=mail-{tokens['preferences']}").status_code == 200
        assert client.get(f"/confirm/{tokens['confirm']}").status_code == 200
        assert client.get(f"/c/{tokens['click']}").status_code == 404
        assert client.post(f"/u/{tokens['unsubscribe']}/leave", data={}).status_code == 403
        one_click = client.post(f"/u/{tokens['unsubscribe']}", data={"List-Unsubscribe": "One-Click"})
        assert one_click.status_code == 200
    logs = served.stop()
    assert '"GET /u/[token] HTTP/1.1" 200' in logs and '"POST /u/[token]/leave HTTP/1.1" 403' in logs
    assert '"GET /p/[token]?[query] HTTP/1.1" 200' in logs and "/confirm/[token]" in logs
    for name, token in tokens.items():
        assert token not in logs, f"the {name} token is in the log"


def _sign_up(client: httpx.Client, email: str, forwarded_for: str) -> int:
    page = client.get("/subscribe")
    found = CSRF.search(page.text)
    assert found
    form = {"csrf": found.group(1), "email": email, "topics": "monthly-newsletter", "language": "en"}
    return client.post("/subscribe", data=form, headers={"x-forwarded-for": forwarded_for}).status_code


def test_a_rotating_x_forwarded_for_does_not_bypass_the_per_ip_limit(served: Served) -> None:
    with httpx.Client(base_url=served.base, timeout=10) as client:
        codes = [_sign_up(client, f"p{n}@example.org", f"203.0.113.{n}") for n in range(7)]
    logs = served.stop()
    assert codes == [200] * 5 + [429, 429]
    assert "203.0.113." not in logs  # the access log shows the real peer, not the forged one


def test_serve_says_where_the_links_point(served: Served) -> None:
    logs = served.stop()
    assert f"serving on {served.base}" in logs
    assert f"links in mail point to {served.base} (OUTREACH_BASE_URL)" in logs
    assert "X-Forwarded-For is ignored" in logs


def test_with_the_shipped_base_url_serve_explains_the_local_try_out(config: Config) -> None:
    lines = start_message(config, "127.0.0.1", 8000)
    assert "links in mail point to https://news.vaimh.example ([web] base_url in outreach.toml)" in lines
    assert any("OUTREACH_BASE_URL=http://127.0.0.1:8000" in line for line in lines)
