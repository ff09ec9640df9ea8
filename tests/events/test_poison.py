"""Poison messages: one message nobody can read must not stop every later bounce (both databases).

The messages that stopped ``outreach bounces process`` with a traceback on the old code, every run,
so that no later bounce was ever applied: a multipart nested thousands of levels deep (the stdlib's
walk recurses), a report dated 31 Dec 9999 in a zone west of UTC (overflows), and a diagnostic with a
NUL byte (PostgreSQL refuses it). The first is quarantined; the others are now read and applied.
"""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest
from typer.testing import CliRunner

from outreach.audience import SubscriberStatus, make_engine
from outreach.events import EventError
from outreach.events.inbox import process
from outreach.events.mailboxes import QUARANTINE
from tests.conftest import TEST_SECRET
from tests.events.fixtures import KEYS, Ledger, Sent
from tests.events.signing import mail


def nested(depth: int = 3000) -> bytes:
    head = b"MIME-Version: 1.0\r\nSubject: deep\r\nContent-Type: multipart/report; boundary=b0\r\n\r\n"
    parts = [
        f"--b{n}\r\nContent-Type: multipart/mixed; boundary=b{n + 1}\r\n\r\n".encode() for n in range(depth)
    ]
    return head + b"".join(parts)


def year_9999(sent: Sent) -> bytes:
    return mail("postfix_hard_5.1.1.eml", **sent.values).replace(
        b"Arrival-Date: Tue,  1 Dec 2026 13:22:40 -0500 (EST)",
        b"Arrival-Date: Fri, 31 Dec 9999 23:59:59 -0100",
    )


def with_nul(sent: Sent) -> bytes:
    message = mail("postfix_hard_5.1.1.eml", **sent.values)
    return message.replace(
        b"Recipient address rejected:\r\n", b"Recipient \x00 address \xff rejected:\r\n", 1
    )


def _people(ledger: Ledger) -> list[Sent]:
    campaign = ledger.campaign()
    return [ledger.send(campaign, f"{name}@example.org") for name in ("ana", "ben", "cam")]


def _maildir(folder: Path, *messages: bytes) -> Path:
    box = mailbox.Maildir(folder, create=True)
    for message in messages:
        box.add(message)
    box.close()
    return folder


def test_a_poison_message_is_quarantined_and_the_rest_applied(ledger: Ledger, tmp_path: Path) -> None:
    ana, ben, cam = _people(ledger)
    folder = _maildir(
        tmp_path / "Maildir",
        nested(),
        mail("postfix_hard_5.1.1.eml", **ana.values),
        year_9999(ben),
        with_nul(cam),
    )
    report = process(ledger.engine, folder, ledger.clock, keys=KEYS)

    assert [ledger.status(p.email) for p in (ana, ben, cam)] == [SubscriberStatus.BOUNCED] * 3
    (poison,) = report.quarantined
    assert "RecursionError" in poison.reason and poison.subject == "deep"
    assert poison.moved_to.startswith(f"{QUARANTINE}/new/")
    assert (folder / poison.moved_to).is_file()
    assert report.moved == 3 and not list((folder / "new").iterdir())

    again = process(ledger.engine, folder, ledger.clock, keys=KEYS)  # the next run is clean
    assert (again.messages, again.quarantined) == (0, [])


def test_an_mbox_is_left_unchanged_and_its_poison_reported(ledger: Ledger, tmp_path: Path) -> None:
    (ana, *_) = _people(ledger)
    path = tmp_path / "bounces.mbox"
    box = mailbox.mbox(path, create=True)
    for message in (nested(), mail("postfix_hard_5.1.1.eml", **ana.values)):
        box.add(message)
    box.close()
    before = path.read_bytes()
    report = process(ledger.engine, path, ledger.clock, keys=KEYS)
    assert len(report.quarantined) == 1 and report.quarantined[0].moved_to == ""
    assert ledger.status(ana.email) is SubscriberStatus.BOUNCED
    assert path.read_bytes() == before


def test_a_database_that_does_not_answer_stops_the_run_and_quarantines_nothing(
    ledger: Ledger, tmp_path: Path
) -> None:
    (ana, *_) = _people(ledger)
    folder = _maildir(tmp_path / "Maildir", mail("postfix_hard_5.1.1.eml", **ana.values))
    gone = make_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'outreach.db'}")
    with pytest.raises(EventError, match="database stopped answering"):
        process(gone, folder, ledger.clock, keys=KEYS)
    assert len(list((folder / "new").iterdir())) == 1
    assert not (folder / QUARANTINE).exists()


def test_the_command_lists_what_it_quarantined(
    ledger: Ledger, tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from outreach.cli import app

    (ana, *_) = _people(ledger)
    folder = _maildir(tmp_path / "Maildir", nested(), mail("postfix_hard_5.1.1.eml", **ana.values))
    monkeypatch.setenv("OUTREACH_DATABASE_URL", ledger.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("OUTREACH_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, ["bounces", "process", str(folder), "--root", str(project)])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "quarantined 1" in output and "RecursionError" in output and ".Quarantine/new/" in output
    assert "bounced hard 1" in output
