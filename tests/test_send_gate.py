"""The send gate: drafts, issues due later, spammy mail, broken links and a missing postal address
never reach readers; test copies of drafts do, and a test copy is the real message."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dkim
import pytest
from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from outreach.checks import run_checks
from outreach.cli import app
from outreach.config import load_config
from outreach.content.issue import read_issue
from outreach.errors import ConfigError
from outreach.render.compiled import render_issue
from outreach.tokens import read_mailto_subject
from tests.conftest import EXAMPLE_ISSUE, TEST_SECRET
from tests.ports import free_port

runner = CliRunner()
SPAMMY = (
    "CONGRATULATIONS! You have been selected! Earn extra cash from home, 100% free, no credit check, "
    "risk free. Lose weight fast! Viagra and cialis at the lowest prices. Double your income.\n"
)
needs_spamassassin = pytest.mark.skipif(
    shutil.which("spamassassin") is None, reason="apt-get install spamassassin (Debian) to score mail"
)


def outreach(project: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--root", str(project)], env=env)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def sent_files(project: Path) -> list[Path]:
    folder = project / "outbox" / "new"
    return sorted(folder.iterdir()) if folder.is_dir() else []


AUDIENCE = {"audience": "{topics: [monthly-newsletter]}"}


def test_a_draft_is_refused_with_how_to_mark_it_ready(
    project: Path, site: dict[str, str], write_issue: Callable[..., Path]
) -> None:
    issue = write_issue(status="draft", **AUDIENCE)
    code, output = outreach(project, site, "send", str(issue), "--yes")
    assert code == 2 and "it is a draft" in output and "status: ready" in output and "line 5" in output
    assert sent_files(project) == []
    code, output = outreach(project, site, "send", str(issue), "--test-to", "me@example.org")
    assert code == 0 and "test copy sent" in output
    code, _ = outreach(project, site, "render", str(issue), "--out", str(project / "out"))
    assert code == 0


def test_a_draft_edition_is_refused_and_names_its_file_and_line(
    project: Path, site: dict[str, str], write_issue: Callable[..., Path]
) -> None:
    issue = write_issue(status="ready", **AUDIENCE)
    spanish = write_issue("Hola.\n", name="2026-12-test.es.md", subject="Un número", status="draft")
    code, output = outreach(project, site, "send", str(issue), "--yes")
    assert code == 2 and "its es edition is a draft" in output and f"{spanish}:5" in output.replace("\n", "")
    assert sent_files(project) == []
    spanish.write_text(spanish.read_text(encoding="utf-8").replace("status: draft", "status: ready"))
    code, output = outreach(project, site, "send", str(issue), "--yes")
    assert code == 0, output
    assert len(sent_files(project)) == 1  # the one reader, once


def test_an_issue_due_later_is_not_sent_now_unless_asked(
    project: Path, site: dict[str, str], write_issue: Callable[..., Path]
) -> None:
    issue = write_issue(status="ready", send_at="2099-01-05 09:00", **AUDIENCE)
    code, output = outreach(project, site, "send", str(issue))
    assert code == 0 and "when: due Monday 5 January 2099, 09:00 EST" in output
    code, output = outreach(project, site, "send", str(issue), "--yes")
    assert code == 2 and "outreach schedule" in output and "--now" in output
    assert sent_files(project) == []
    code, output = outreach(project, site, "send", str(issue), "--yes", "--now")
    assert code == 0, output
    assert len(sent_files(project)) == 1


@needs_spamassassin
def test_spam_is_refused_by_send_as_by_check(
    project: Path, site: dict[str, str], write_issue: Callable[..., Path]
) -> None:
    issue = write_issue(
        SPAMMY, status="ready", subject='"FREE MONEY!!! 100% guaranteed, act now"', **AUDIENCE
    )
    code, output = outreach(project, site, "check", str(issue))
    assert code == 1 and "spam-score" in output
    code, output = outreach(project, site, "send", str(issue), "--yes")
    assert code == 2 and "SpamAssassin scores this mail" in output
    assert sent_files(project) == []


@needs_spamassassin
def test_the_spam_score_is_the_worst_reader_s(project: Path, write_issue: Callable[..., Path]) -> None:
    issue = write_issue('Dear {{ subscriber.first_name | default("friend") }},\n\n' + "Our news.\n" * 3)
    report = run_checks(issue, load_config(project, environ={"OUTREACH_SECRET_KEY": TEST_SECRET}))
    assert report.spam is not None and "DEAR_FRIEND" in report.spam.tests
    assert report.spam_reader == "a reader with no name"


@needs_spamassassin
def test_the_example_and_the_starter_greet_a_nameless_reader_without_tripping_a_filter(
    project: Path, site: dict[str, str]
) -> None:
    code, output = outreach(project, site, "new", "January 2027: A New Year")
    assert code == 0, output
    starter = project / "newsletters" / "2027-01-a-new-year.md"
    for path in (EXAMPLE_ISSUE, starter):
        report = run_checks(path, load_config(project, environ={"OUTREACH_SECRET_KEY": TEST_SECRET}))
        assert report.spam is not None and "DEAR_FRIEND" not in report.spam.tests, path


def test_check_warns_and_real_transports_refuse_links_that_cannot_work(
    project: Path, site: dict[str, str], write_issue: Callable[..., Path]
) -> None:
    issue = write_issue(status="ready", **AUDIENCE)
    toml = project / "outreach.toml"
    toml.write_text(
        toml.read_text().replace(
            'base_url = "https://news.vaimh.example"', 'base_url = "http://127.0.0.1:8000"'
        )
        + '\n[transports.relay]\nbackend = "smtp"\nhost = "127.0.0.1"\nport = 9\nsecurity = "none"\n'
    )
    code, output = outreach(project, site, "check", str(issue), "--no-spam")
    assert code == 0 and "base-url" in output and "points at this machine" in output
    code, output = outreach(project, site, "send", str(issue), "--yes", "--transport", "relay")
    assert code == 2 and "web.base_url" in output and "would fail for readers" in output
    code, output = outreach(
        project, site, "send", str(issue), "--test-to", "me@example.org", "--transport", "relay"
    )
    assert code == 2 and "web.base_url" in output
    code, output = outreach(project, site, "send", str(issue), "--yes")  # the local maildir is fine
    assert code == 0, output


@pytest.mark.parametrize("key", ["postal_address", "name", "short_name", "website"])
def test_a_blank_organisation_setting_is_a_config_error_naming_it(project: Path, key: str) -> None:
    toml = project / "outreach.toml"
    toml.write_text(re.sub(rf"(?m)^{key} = .*$", f'{key} = "  "', toml.read_text()))
    with pytest.raises(ConfigError, match=rf"organisation\.{key}"):
        load_config(project, environ={"OUTREACH_SECRET_KEY": TEST_SECRET})


def _dkim_key() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def test_a_test_copy_is_the_real_message_but_for_its_subject(
    project: Path, site: dict[str, str], write_issue: Callable[..., Path]
) -> None:
    pem, record = _dkim_key()
    (project / "dkim.pem").write_bytes(pem)
    toml = project / "outreach.toml"
    toml.write_text(
        toml.read_text().replace(
            'message_id_domain = "vaimh.example"',
            'message_id_domain = "vaimh.example"\nunsubscribe_mailto = "unsubscribe@vaimh.example"',
        )
        + '\n[dkim]\ndomain = "vaimh.example"\nselector = "news"\nkey_file = "dkim.pem"\n'
    )
    issue = write_issue(status="draft", **AUDIENCE)
    code, output = outreach(project, site, "send", str(issue), "--test-to", "me@example.org")
    assert code == 0, output
    raw = sent_files(project)[0].read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(message["Subject"]) == "[TEST] A test issue"
    assert dkim.verify(raw, dnsfunc=lambda name, timeout=5: record)
    mailto = re.search(
        r"<mailto:unsubscribe@vaimh\.example\?subject=(\S+)>", str(message["List-Unsubscribe"])
    )
    assert mailto is not None and read_mailto_subject(TEST_SECRET, mailto.group(1)) is not None


# --- the review gate: what goes out through a real transport is what was committed ---------------------


class _Accepting:
    """An aiosmtpd handler that accepts every message and keeps its recipients."""

    def __init__(self) -> None:
        self.recipients: list[str] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.recipients.extend(envelope.rcpt_tos)
        return "250 2.0.0 Ok"


@pytest.fixture
def relay(project: Path) -> Iterator[_Accepting]:
    """A local SMTP server, named `relay` in the project's outreach.toml."""
    handler = _Accepting()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    toml = project / "outreach.toml"
    toml.write_text(
        toml.read_text()
        + f'\n[transports.relay]\nbackend = "smtp"\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
    )
    try:
        yield handler
    finally:
        controller.stop()


def git(project: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=Staff", "-c", "user.email=staff@vaimh.example", *args],
        cwd=project,
        check=True,
        capture_output=True,
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="apt-get install git")
def test_only_a_committed_issue_goes_out_through_a_real_transport(
    project: Path, site: dict[str, str], write_issue: Callable[..., Path], relay: _Accepting
) -> None:
    issue = write_issue(status="ready", **AUDIENCE)
    (project / ".gitignore").write_text("outreach.db*\n.outreach/\noutbox/\nout/\n")
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "December issue, reviewed")
    (project / "templates" / "newsletter.mjml.j2").write_text(
        (project / "templates" / "newsletter.mjml.j2").read_text() + "\n"
    )
    code, output = outreach(project, site, "send", str(issue), "--yes", "--transport", "relay")
    assert code == 2 and "not committed" in output and "templates/newsletter.mjml.j2" in output
    assert relay.recipients == []
    git(project, "commit", "-qam", "layout tweak, reviewed")
    code, output = outreach(project, site, "send", str(issue), "--yes", "--transport", "relay")
    assert code == 0, output
    assert relay.recipients == ["ana@example.org"]
    # The campaign keeps the commit it went out from and the fingerprint of what was rendered.
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()
    code, shown = outreach(project, site, "campaigns", "status", "1", "--json")
    assert code == 0, shown
    status = json.loads(shown)
    assert status["reviewed_commit"] == head
    config = load_config(project, environ={"OUTREACH_SECRET_KEY": TEST_SECRET})
    compiled = render_issue(read_issue(issue, config.time_zone), config)
    assert status["content_hash"] == compiled.fingerprint
    code, shown = outreach(project, site, "campaigns", "status", "1")
    assert f"reviewed: commit {head[:12]}, message {compiled.fingerprint[:12]}" in shown


def test_allow_uncommitted_sends_and_says_what_it_skipped(
    project: Path, site: dict[str, str], write_issue: Callable[..., Path], relay: _Accepting
) -> None:
    issue = write_issue(status="ready", **AUDIENCE)
    if shutil.which("git"):
        git(project, "init", "-q")  # a repository with nothing committed
    code, output = outreach(
        project, site, "send", str(issue), "--yes", "--transport", "relay", "--allow-uncommitted"
    )
    assert code == 0, output
    assert "not reviewed" in output if shutil.which("git") else "not a git repository" in output
    assert relay.recipients == ["ana@example.org"]
