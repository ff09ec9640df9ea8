"""The bounce processor on real-world-shaped DSNs (RFC 3464) and feedback reports (RFC 5965).

Postfix, Exchange Online and Gmail hard bounces, a Postfix mailbox-full soft bounce, a Postfix delay
warning (not a bounce), an ARF abuse complaint and an out-of-office reply, read from a Maildir and an
mbox on both databases, then read again to show that nothing changes twice.
"""

from __future__ import annotations

import mailbox
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from outreach.audience import SubscriberStatus
from outreach.events.dsn import classify
from outreach.events.inbox import process, read_message
from outreach.events.model import EventKind
from tests.conftest import TEST_SECRET
from tests.events.fixtures import KEYS, Ledger, Sent
from tests.events.signing import DEFAULTS, mail

RECEIVED = datetime(2026, 12, 7, tzinfo=UTC)
CORPUS = {
    "postfix_hard_5.1.1.eml": EventKind.BOUNCED_HARD,
    "exchange_hard_5.1.10.eml": EventKind.BOUNCED_HARD,
    "gmail_hard_5.1.1.eml": EventKind.BOUNCED_HARD,
    "postfix_soft_4.2.2_mailbox_full.eml": EventKind.BOUNCED_SOFT,
    "arf_abuse_complaint.eml": EventKind.COMPLAINED,
    "postfix_delayed.eml": None,
    "vacation_autoreply.eml": None,
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_each_report_reads_as_its_kind(name: str) -> None:
    reading = read_message(mail(name), RECEIVED)
    expected = CORPUS[name]
    if expected is None:
        assert reading.events == [] and reading.note
        return
    (event,) = reading.events
    assert event.kind is expected
    assert event.provider == "smtp"
    assert event.message_id == f"<{DEFAULTS['__MSGID__']}>"
    if name != "arf_abuse_complaint.eml":
        assert event.recipient == DEFAULTS["__EMAIL__"]
        assert event.detail
    assert event.occurred_at.tzinfo is not None
    assert event.raw  # the report's own fields are kept beside the normalised ones


def test_the_verp_return_path_is_kept_for_verifying() -> None:
    verp = "bounces+3.4242.abcdefghijklmnop@vaimh.example"
    for name in ("postfix_hard_5.1.1.eml", "postfix_soft_4.2.2_mailbox_full.eml", "arf_abuse_complaint.eml"):
        (event,) = read_message(mail(name, verp=verp), RECEIVED).events
        assert event.return_paths[0] == verp, name
        assert event.outreach_key == ""  # a mailed report's ledger key is never believed
    (gmail,) = read_message(mail("gmail_hard_5.1.1.eml"), RECEIVED).events
    assert gmail.return_paths == ()  # no VERP there: the original's keyed Message-ID names it


def test_a_delay_is_not_a_bounce() -> None:
    reading = read_message(mail("postfix_delayed.eml"), RECEIVED)
    assert reading.events == []
    assert "delayed" in reading.note


def test_the_same_report_always_has_the_same_event_id() -> None:
    first = read_message(mail("postfix_hard_5.1.1.eml"), RECEIVED).events[0]
    again = read_message(mail("postfix_hard_5.1.1.eml"), datetime(2027, 1, 1, tzinfo=UTC)).events[0]
    assert first.provider_event_id == again.provider_event_id


@pytest.mark.parametrize(
    ("status", "diagnostic", "kind"),
    [
        ("5.1.1", "smtp; 550 5.1.1 user unknown", EventKind.BOUNCED_HARD),
        ("5.1.10", "smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound", EventKind.BOUNCED_HARD),
        ("5.2.1", "smtp; 550 5.2.1 mailbox disabled", EventKind.BOUNCED_HARD),
        ("5.0.0", "smtp; 550 Requested action not taken: mailbox unavailable", EventKind.BOUNCED_HARD),
        ("", "smtp; 550 5.1.1 no such user", EventKind.BOUNCED_HARD),
        ("4.2.2", "smtp; 452 4.2.2 Mailbox full", EventKind.BOUNCED_SOFT),
        ("5.2.2", "smtp; 552 5.2.2 Mailbox full", EventKind.BOUNCED_SOFT),
        ("5.7.1", "smtp; 554 5.7.1 Message rejected as spam", EventKind.BOUNCED_SOFT),
        ("5.0.0", "smtp; 554 rejected by policy", EventKind.BOUNCED_SOFT),
        ("", "smtp; 421 try later", EventKind.BOUNCED_SOFT),
    ],
)
def test_failures_are_hard_only_when_the_address_itself_is_wrong(
    status: str, diagnostic: str, kind: EventKind
) -> None:
    assert classify(status, diagnostic) is kind


# -- against the database ------------------------------------------------------------------------


def _rows(ledger: Ledger) -> dict[str, Sent]:
    campaign = ledger.campaign()
    names = [name for name, kind in CORPUS.items() if kind is not None]
    return {name: ledger.send(campaign, f"person{n}@example.org") for n, name in enumerate(names)}


def _maildir(folder: Path, rows: dict[str, Sent], extra: Sent) -> Path:
    box = mailbox.Maildir(folder, create=True)
    for name in CORPUS:
        sent = rows.get(name, extra)
        box.add(mail(name, **sent.values))
    box.close()
    return folder


def test_a_maildir_is_applied_once_and_moved_to_cur(ledger: Ledger, tmp_path: Path) -> None:
    rows = _rows(ledger)
    bystander = ledger.send(ledger.campaign(), "bystander@example.org")
    folder = _maildir(tmp_path / "Maildir", rows, bystander)

    report = process(ledger.engine, folder, ledger.clock, keys=KEYS)

    assert report.messages == 7
    assert dict(report.kinds) == {"bounced_hard": 3, "bounced_soft": 1, "complained": 1}
    reasons = sorted(item.reason for item in report.unmatched)
    assert (
        len(reasons) == 2
        and any("delayed" in r for r in reasons)
        and any("not a delivery" in r for r in reasons)
    )
    for name in ("postfix_hard_5.1.1.eml", "exchange_hard_5.1.10.eml", "gmail_hard_5.1.1.eml"):
        assert ledger.status(rows[name].email) is SubscriberStatus.BOUNCED, name
    assert ledger.status(rows["arf_abuse_complaint.eml"].email) is SubscriberStatus.COMPLAINED
    assert ledger.status(rows["postfix_soft_4.2.2_mailbox_full.eml"].email) is SubscriberStatus.ACTIVE
    assert ledger.status(bystander.email) is SubscriberStatus.ACTIVE  # delays and autoreplies change nothing
    assert not list((folder / "new").iterdir())
    assert sorted(p.name.endswith(":2,S") for p in (folder / "cur").iterdir()) == [True] * 7

    events, consents = ledger.event_count(), ledger.consent_count()
    again = process(ledger.engine, folder, ledger.clock, keys=KEYS, include_seen=True)
    assert again.duplicates == 5 and not again.kinds and again.moved == 0
    assert (ledger.event_count(), ledger.consent_count()) == (events, consents)


def test_keep_leaves_maildir_messages_in_new(ledger: Ledger, tmp_path: Path) -> None:
    rows = _rows(ledger)
    folder = _maildir(tmp_path / "Maildir", rows, rows["postfix_hard_5.1.1.eml"])
    report = process(ledger.engine, folder, ledger.clock, keys=KEYS, keep=True)
    assert report.moved == 0 and len(list((folder / "new").iterdir())) == 7


def test_an_mbox_is_read_and_left_unchanged(ledger: Ledger, tmp_path: Path) -> None:
    rows = _rows(ledger)
    path = tmp_path / "bounces.mbox"
    box = mailbox.mbox(path, create=True)
    for name, sent in rows.items():
        box.add(mail(name, **sent.values))
    box.close()
    before = path.read_bytes()
    report = process(ledger.engine, path, ledger.clock, keys=KEYS)
    assert dict(report.kinds) == {"bounced_hard": 3, "bounced_soft": 1, "complained": 1}
    assert ledger.status(rows["postfix_hard_5.1.1.eml"].email) is SubscriberStatus.BOUNCED
    assert ledger.status(rows["postfix_soft_4.2.2_mailbox_full.eml"].email) is SubscriberStatus.ACTIVE
    assert path.read_bytes() == before


def test_reports_about_strangers_are_listed_as_unmatched(ledger: Ledger, tmp_path: Path) -> None:
    folder = tmp_path / "Maildir"
    box = mailbox.Maildir(folder, create=True)
    box.add(mail("gmail_hard_5.1.1.eml", email="stranger@example.net", msgid="unknown@vaimh.example"))
    box.close()
    report = process(ledger.engine, folder, ledger.clock, keys=KEYS)
    (item,) = report.unmatched
    assert "stranger@example.net" in item.reason and "Delivery Status Notification" in item.subject


def test_a_path_that_is_neither_maildir_nor_mbox_is_refused(ledger: Ledger, tmp_path: Path) -> None:
    from outreach.events import EventError

    with pytest.raises(EventError, match="not a Maildir"):
        process(ledger.engine, tmp_path, ledger.clock, keys=KEYS)
    with pytest.raises(EventError, match="does not exist"):
        process(ledger.engine, tmp_path / "missing", ledger.clock, keys=KEYS)


def test_the_command_prints_counts_and_unmatched_messages(
    ledger: Ledger, tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer

    from outreach.cli import events as events_cli

    rows = _rows(ledger)
    folder = _maildir(tmp_path / "Maildir", rows, rows["postfix_hard_5.1.1.eml"])
    monkeypatch.setenv("OUTREACH_DATABASE_URL", ledger.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("OUTREACH_SECRET_KEY", TEST_SECRET)  # the key the ledger's Message-IDs were made with
    app = typer.Typer()
    app.command("noop")(lambda: None)
    events_cli.register(app)
    result = CliRunner().invoke(app, ["bounces", "process", str(folder), "--root", str(project)])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())  # rich wraps lines at the terminal's width
    assert "7 messages read" in output
    assert "bounced hard 3" in output and "delayed" in output
    assert "moved 7 messages to cur/" in output


def test_the_command_help_has_an_example() -> None:
    import typer

    from outreach.cli import events as events_cli

    app = typer.Typer()
    app.command("noop")(lambda: None)
    events_cli.register(app)
    result = CliRunner().invoke(app, ["bounces", "process", "--help"])
    assert result.exit_code == 0 and "Example: outreach bounces process" in result.output
