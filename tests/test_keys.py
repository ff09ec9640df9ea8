"""One site, one secret: made on first use, shared by every command, refused when weak, rotated
without killing links already sent, and never silently replaced by another."""

from __future__ import annotations

import email
import email.policy
import re
import stat
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from outreach.audience import Consent, ConsentMethod, add_subscriber, make_engine, transaction, upgrade
from outreach.audience.topics import load_topics, sync_topics
from outreach.cli import app
from outreach.clock import SystemClock
from outreach.config import load_config
from outreach.delivery.wiring import database
from outreach.errors import ConfigError
from outreach.keys import KEY_FILE, PUBLISHED, load_site_keys, rotate
from outreach.tokens import Purpose, make_token, read_token
from outreach.web.app import create_app
from tests.conftest import REPO
from tests.delivery.conftest import copy_project

NO_KEY = {"OUTREACH_SECRET_KEY": None, "OUTREACH_PREVIOUS_SECRET_KEYS": None, "COLUMNS": "200"}


def test_a_key_is_made_on_first_use_kept_private_and_reused(tmp_path: Path) -> None:
    first = load_site_keys(tmp_path, {})
    file = tmp_path / KEY_FILE
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert len(first.current) >= 43 and first.current in file.read_text()
    assert load_site_keys(tmp_path, {}).current == first.current
    assert ".outreach/" in (REPO / ".gitignore").read_text().splitlines()


@pytest.mark.parametrize("weak", ["a", "123", "password", "x" * 31, "a" * 40, *PUBLISHED])
def test_weak_and_published_keys_are_refused_with_a_way_to_make_one(tmp_path: Path, weak: str) -> None:
    with pytest.raises(ConfigError, match=r"secrets\.token_urlsafe"):
        load_site_keys(tmp_path, {"OUTREACH_SECRET_KEY": weak})
    with pytest.raises(ConfigError, match="OUTREACH_PREVIOUS_SECRET_KEYS"):
        load_site_keys(tmp_path, {"OUTREACH_PREVIOUS_SECRET_KEYS": weak})


def test_rotation_keeps_links_already_sent_working(tmp_path: Path) -> None:
    before = load_site_keys(tmp_path, {})
    token = make_token(before.current, Purpose.UNSUBSCRIBE, "7")
    after = rotate(tmp_path)
    assert after.current != before.current
    reloaded = load_site_keys(tmp_path, {})
    assert reloaded.current == after.current
    assert read_token(reloaded.accepted, Purpose.UNSUBSCRIBE, token) == "7"


def _project_with_reader(tmp_path: Path) -> tuple[Path, str]:
    project = copy_project(tmp_path / "site")
    url = f"sqlite:///{project / 'outreach.db'}"
    engine = make_engine(url)
    upgrade(engine)
    clock = SystemClock()
    with transaction(engine) as session:
        sync_topics(session, load_topics(project / "lists" / "topics.yaml"))
        consent = Consent(ConsentMethod.ADMIN, source="test")
        add_subscriber(
            session, "ana@example.org", consent=consent, clock=clock, topics=("monthly-newsletter",)
        )
    engine.dispose()
    return project, url


def test_links_sent_by_the_cli_work_in_the_web_service_without_any_configured_key(tmp_path: Path) -> None:
    project, url = _project_with_reader(tmp_path)
    issue = next((project / "newsletters").glob("*.md"))
    sent = CliRunner().invoke(
        app,
        ["send", str(issue), "--yes", "--root", str(project)],
        env={**NO_KEY, "OUTREACH_DATABASE_URL": url},
    )
    assert sent.exit_code == 0, sent.output
    raw = next((project / "outbox" / "new").iterdir()).read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    unsubscribe = re.search(r"<https://[^/>]+(/u/[^>]+)>", str(message["List-Unsubscribe"]))
    assert unsubscribe is not None

    served = load_config(project, environ={"OUTREACH_DATABASE_URL": url})  # `outreach serve`, no key set
    with TestClient(create_app(served, database(served))) as client:
        answer = client.post(unsubscribe.group(1), data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200


def test_a_process_with_an_unrelated_key_is_stopped_before_its_links_could_die(tmp_path: Path) -> None:
    project, url = _project_with_reader(tmp_path)
    environ = {"OUTREACH_DATABASE_URL": url}
    database(load_config(project, environ=environ))  # the site's first process: the key file's key
    site_key = (project / KEY_FILE).read_text().split()[-1]
    elsewhere = copy_project(tmp_path / "another-machine")  # same database, no key file
    other = {**environ, "OUTREACH_SECRET_KEY": "a-brand-new-key-that-nobody-told-the-site-about"}
    with pytest.raises(ConfigError, match=r"another secret key.*\.outreach/secret"):
        database(load_config(elsewhere, environ=other))
    rotated = {**other, "OUTREACH_PREVIOUS_SECRET_KEYS": site_key}
    database(load_config(elsewhere, environ=rotated))  # a change of key that keeps the old one is accepted
    database(load_config(elsewhere, environ=other))  # and from then on the new key is one of the site's


def test_an_operator_key_set_later_keeps_the_generated_key_verifying(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "site")
    generated = load_config(project, environ={})
    token = make_token(generated.secret_key, Purpose.UNSUBSCRIBE, "1")
    later = load_config(project, environ={"OUTREACH_SECRET_KEY": "the-operators-own-key-0123456789-abcdef"})
    assert later.secret_key != generated.secret_key
    assert read_token(later.accepted_keys, Purpose.UNSUBSCRIBE, token) == "1"


def test_secret_commands_show_a_fingerprint_and_rotate(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "site")
    runner = CliRunner()
    shown = runner.invoke(app, ["secret", "show", "--root", str(project)], env=NO_KEY)
    assert shown.exit_code == 0 and "fingerprint" in shown.output
    key = (project / KEY_FILE).read_text().split()[-1]
    assert key not in shown.output
    rotated = runner.invoke(app, ["secret", "rotate", "--root", str(project)], env=NO_KEY)
    assert rotated.exit_code == 0, rotated.output
    keys = [
        line.split()[-1] for line in (project / KEY_FILE).read_text().splitlines() if line.startswith("key")
    ]
    assert len(keys) == 2 and keys[1] == key
