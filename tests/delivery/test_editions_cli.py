"""The command line end to end with an issue in English and Spanish: ``outreach send`` shows each
edition in the plan and sends every reader their edition once, through two sending processes and a real
SMTP server on loopback; ``--test-to`` sends a copy of each edition (``--edition es`` of one); ``outreach
report`` gives the figures per edition."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.conftest import REPO
from tests.delivery.subprocess_project import ISSUE, outreach, sink_settings
from tests.ports import free_port

SPANISH = """---
subject: Un número de prueba
preheader: Un preencabezado lo bastante largo para pasar la revisión
language: es
status: ready
---
Hola {{ subscriber.first_name | default("a todos") }}, y bienvenidos.
"""
READERS = 40  # even numbers read Spanish


@dataclass
class Sink:
    """An aiosmtpd handler keeping (recipient, subject) of every message it accepted."""

    accepted: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = message_from_bytes(envelope.original_content or b"")
        subject = str(make_header(decode_header(str(message["Subject"]))))
        with self.lock:
            self.accepted.extend((rcpt, subject) for rcpt in envelope.rcpt_tos)
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


@pytest.fixture
def project(tmp_path: Path, sink: tuple[Sink, int]) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    shutil_copy(root)
    (root / "newsletters" / "2026-12-test.md").write_text(ISSUE, encoding="utf-8")
    (root / "newsletters" / "2026-12-test.es.md").write_text(SPANISH, encoding="utf-8")
    toml = (REPO / "outreach.toml").read_text(encoding="utf-8")
    original = '[delivery]\ntransport = "outbox"\n'
    assert original in toml, "outreach.toml's [delivery] table changed; update this test"
    settings = sink_settings(sink[1], batch_size=10, max_batch=5, timeout=10, processes=2)
    (root / "outreach.toml").write_text(toml.replace(original, settings), encoding="utf-8")
    with (root / "subscribers.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["Email", "First Name", "Topics", "Language"])
        for number in range(READERS):
            language = "Español" if number % 2 == 0 else "English"
            writer.writerow(
                [f"reader{number:02d}@example.org", f"Reader{number}", "monthly-newsletter", language]
            )
    outreach(root, "db", "upgrade")
    outreach(root, "lists", "import", "subscribers.csv", "--consent", "test")
    return root


def shutil_copy(root: Path) -> None:
    import shutil

    shutil.copytree(REPO / "templates", root / "templates")
    shutil.copytree(REPO / "lists", root / "lists")
    (root / "newsletters").mkdir()


def expected_subject(address: str) -> str:
    number = int(address.removeprefix("reader").split("@")[0])
    return "Un número de prueba" if number % 2 == 0 else "A test issue"


def test_send_plans_and_sends_each_edition_once(project: Path, sink: tuple[Sink, int]) -> None:
    handler, _ = sink
    plan = outreach(project, "send", "newsletters/2026-12-test.md", "--allow-uncommitted")
    assert "recipients: 40" in plan.stdout
    assert "en edition: 20  (A test issue)" in plan.stdout
    assert "es edition: 20  (Un número de prueba)" in plan.stdout
    assert handler.accepted == []

    outreach(project, "send", "newsletters/2026-12-test.es.md", "--yes", "--allow-uncommitted", timeout=300)
    recipients = [rcpt for rcpt, _ in handler.accepted]
    assert len(recipients) == len(set(recipients)) == READERS  # everyone, exactly once
    assert all(subject == expected_subject(rcpt) for rcpt, subject in handler.accepted)

    report = json.loads(outreach(project, "report", "1", "--json").stdout)
    assert report["recipients"]["sent"] == READERS
    assert {part["edition"]: part["recipients"]["sent"] for part in report["editions"]} == {
        "en": 20,
        "es": 20,
    }
    status = json.loads(outreach(project, "campaigns", "status", "1", "--json").stdout)
    assert {language: n["sent"] for language, n in status["editions"].items()} == {"en": 20, "es": 20}
    assert "es edition: sent 20" in outreach(project, "campaigns", "status", "1").stdout
    text = outreach(project, "report", "1").stdout
    assert "es: sent 20 of 20" in text and "en: sent 20 of 20" in text


def test_test_copies_of_each_edition_or_of_one(project: Path, sink: tuple[Sink, int]) -> None:
    handler, _ = sink
    done = outreach(project, "send", "newsletters/2026-12-test.md", "--test-to", "staff@vaimh.example")
    assert "(en edition) to staff@vaimh.example" in done.stdout
    assert "(es edition) to staff@vaimh.example" in done.stdout
    assert sorted(subject for _, subject in handler.accepted) == [
        "[TEST es] Un número de prueba",
        "[TEST] A test issue",
    ]
    handler.accepted.clear()
    outreach(
        project, "send", "newsletters/2026-12-test.md", "--test-to", "staff@vaimh.example", "--edition", "es"
    )
    assert handler.accepted == [("staff@vaimh.example", "[TEST es] Un número de prueba")]
