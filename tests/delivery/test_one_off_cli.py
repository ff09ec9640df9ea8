"""``outreach send LETTER --recipients FILE`` end to end: real ``outreach`` processes sending through
SMTP into an aiosmtpd server on 127.0.0.1, on SQLite and PostgreSQL. Each row of the file gets the
letter once, a second send reaches nobody, suppressed and unsubscribed addresses are listed with their
row, and a file with an invalid row sends nothing until it is fixed or --skip-invalid is given."""

from __future__ import annotations

import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.conftest import REPO
from tests.delivery.subprocess_project import CLI, environment, sink_settings
from tests.ports import free_port

LETTER = REPO / "newsletters" / "2026-12-winter-gathering-invitation.md"
CONTACTS = REPO / "lists" / "examples" / "partner-agencies.csv"
CONSENT = "Partner agencies VAIMH works with; invitation to the 2027 winter gathering"


@dataclass
class Sink:
    """Records every message it accepted, by recipient."""

    received: list[tuple[str, Message]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = message_from_bytes(envelope.original_content or b"")
        with self.lock:
            self.received.extend((str(rcpt), message) for rcpt in envelope.rcpt_tos)
        return "250 2.0.0 Ok: queued"


@pytest.fixture
def sink() -> Iterator[tuple[Sink, int]]:
    handler = Sink()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@dataclass
class Project:
    root: Path
    database_url: str

    def run(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        env = {**environment(self.root), "OUTREACH_DATABASE_URL": self.database_url}
        done = subprocess.run(
            [*CLI, *args], cwd=self.root, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == expect, f"outreach {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done

    def send(self, contacts: str, *extra: str, expect: int = 0) -> str:
        letter = f"newsletters/{LETTER.name}"
        args = (
            "send",
            letter,
            "--recipients",
            contacts,
            "--consent",
            CONSENT,
            "--yes",
            "--allow-uncommitted",
            *extra,
        )
        return self.run(*args, expect=expect).stdout


@pytest.fixture
def project(tmp_path: Path, database_url: str, sink: tuple[Sink, int]) -> Project:
    root = tmp_path / "project"
    (root / "newsletters").mkdir(parents=True)
    (root / "newsletters" / LETTER.name).write_bytes(LETTER.read_bytes())
    (root / "partner-agencies.csv").write_bytes(CONTACTS.read_bytes())
    for folder in ("templates", "lists"):
        subprocess.run(["cp", "-r", str(REPO / folder), str(root / folder)], check=True)
    toml = (REPO / "outreach.toml").read_text(encoding="utf-8")
    original = '[delivery]\ntransport = "outbox"\n'
    assert original in toml, "outreach.toml's [delivery] table changed; update this test"
    toml = toml.replace(original, sink_settings(sink[1], batch_size=3, max_batch=2, timeout=10))
    (root / "outreach.toml").write_text(toml, encoding="utf-8")
    made = Project(root, database_url)
    made.run("db", "upgrade")
    return made


def test_each_agency_gets_the_letter_once_and_the_left_out_are_listed(
    project: Project, sink: tuple[Sink, int]
) -> None:
    handler, _ = sink
    project.run("lists", "add", "rbrooks@southsidehealthyfamilies.example", "--consent", "test")
    project.run("lists", "remove", "rbrooks@southsidehealthyfamilies.example")
    project.run("suppress", "add", "hello@appalachianfamilylink.example")

    first = project.send("partner-agencies.csv")

    assert "left out, row 7: rbrooks@southsidehealthyfamilies.example (unsubscribed)" in first
    assert "left out, row 9: hello@appalachianfamilylink.example (suppressed)" in first
    reached = Counter(rcpt for rcpt, _ in handler.received)
    assert len(reached) == 6 and set(reached.values()) == {1}
    assert "rbrooks@southsidehealthyfamilies.example" not in reached
    assert "hello@appalachianfamilylink.example" not in reached
    _, letter = next(item for item in handler.received if item[0].startswith("l.nguyen@"))
    assert letter["Reply-To"] == "lena.marsh@vaimh.example"
    assert "Fairfax Infant and Toddler Connection" in " ".join(str(letter["Subject"]).split())
    assert letter["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    second = project.send("partner-agencies.csv")
    assert "to send: 0" in second and "already sent this letter" in second
    assert len(handler.received) == 6  # nobody twice


def test_an_invalid_row_sends_nothing_until_skipped(project: Project, sink: tuple[Sink, int]) -> None:
    handler, _ = sink
    lines = CONTACTS.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace("@", " at ", 1)  # row 4: no longer an address
    (project.root / "broken.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    refused = project.send("broken.csv", expect=1)
    assert "invalid, row 4" in refused and "--skip-invalid" in refused
    assert handler.received == []
    status = project.run("campaigns", "list", "--json").stdout
    assert status.strip() == "[]"

    project.send("broken.csv", "--skip-invalid")
    assert len(handler.received) == 7
    assert not any(rcpt.startswith("dpatel@") for rcpt, _ in handler.received)
