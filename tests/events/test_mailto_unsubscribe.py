"""The ``mailto:`` List-Unsubscribe, processed from the bounce or a separate unsubscribe mailbox.

A reader's mail program writes the mail from the header ``<mailto:unsubscribe@...?subject=
unsubscribe-TOKEN>``: the signed token in the subject is the whole proof. It unsubscribes that
subscriber at once and counts in the campaign's report; a mail without a valid token changes nobody,
whatever its From line says (both databases).
"""

from __future__ import annotations

import mailbox
from email.header import Header
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from outreach.audience import SubscriberStatus, history, transaction
from outreach.audience.schema import ConsentAction, ConsentMethod, Subscriber
from outreach.events.figures import campaign_report
from outreach.events.inbox import process
from outreach.tokens import Purpose, make_token, recipient_links, subject_ref
from tests.conftest import TEST_SECRET
from tests.events.fixtures import KEYS, Ledger, Sent
from tests.events.signing import mail

UNSUBSCRIBE_MAILBOX = "unsubscribe@vaimh.example"


def mailto_subject(sent: Sent) -> str:
    """The subject a mail program takes from the List-Unsubscribe mailto of ``sent``'s message."""
    links = recipient_links(
        "https://news.vaimh.example",
        TEST_SECRET,
        str(sent.subscriber_id),
        "2026-12-winter-notes",
        campaign=sent.campaign_id,
        mailto=UNSUBSCRIBE_MAILBOX,
    )
    return parse_qs(urlsplit(links.unsubscribe_mailto).query)["subject"][0]


def request(subject: str, sender: str = "someone@example.net") -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = UNSUBSCRIBE_MAILBOX
    message["Subject"] = subject
    message.set_content("This message was sent by your mail program to unsubscribe you.")
    return message.as_bytes()


def _maildir(folder: Path, *messages: bytes) -> Path:
    box = mailbox.Maildir(folder, create=True)
    for message in messages:
        box.add(message)
    box.close()
    return folder


def _consents(ledger: Ledger, email: str) -> list[tuple[ConsentAction, ConsentMethod, str]]:
    with transaction(ledger.engine) as session:
        subscriber = session.query(Subscriber).filter_by(email=email).one()
        return [(e.action, e.method, e.source or "") for e in history(session, subscriber.email_hash)]


def test_a_mailto_unsubscribe_unsubscribes_at_once_and_counts_for_its_campaign(
    ledger: Ledger, tmp_path: Path
) -> None:
    campaign = ledger.campaign()
    leaving, staying = (
        ledger.send(campaign, "leaving@example.org"),
        ledger.send(campaign, "staying@example.org"),
    )
    folder = _maildir(
        tmp_path / "Unsubscribe", request(mailto_subject(leaving), sender="whoever@example.net")
    )

    report = process(ledger.engine, folder, ledger.clock, keys=KEYS)

    assert report.unsubscribed == 1 and report.unmatched == []
    assert ledger.status(leaving.email) is SubscriberStatus.UNSUBSCRIBED
    assert ledger.suppressed(leaving.email)
    assert ledger.status(staying.email) is SubscriberStatus.ACTIVE
    (source,) = [
        source
        for action, method, source in _consents(ledger, leaving.email)
        if (action, method) == (ConsentAction.UNSUBSCRIBED, ConsentMethod.ONE_CLICK)
    ]
    assert "mailto" in source and f"campaign {campaign}" in source
    with transaction(ledger.engine) as session:
        assert campaign_report(session, campaign).events["unsubscribed"] == 1

    again = process(ledger.engine, folder, ledger.clock, keys=KEYS, include_seen=True)  # read twice
    with transaction(ledger.engine) as session:
        assert campaign_report(session, campaign).events["unsubscribed"] == 1
    assert again.quarantined == []


@pytest.mark.parametrize(
    "subject",
    [
        "unsubscribe",  # no token at all: the From line names the victim, and is never trusted
        "Re: please unsubscribe me",
        "unsubscribe-{token}x",  # altered
        "unsubscribe-{preferences}",  # a valid token, for another purpose
        "unsubscribe-{foreign}",  # signed with another site's key
    ],
)
def test_a_mail_without_a_valid_token_changes_nobody(ledger: Ledger, tmp_path: Path, subject: str) -> None:
    victim = ledger.send(ledger.campaign(), "victim@example.org")
    token = mailto_subject(victim).removeprefix("unsubscribe-")
    written = subject.format(
        token=token,
        preferences=make_token(TEST_SECRET, Purpose.PREFERENCES, str(victim.subscriber_id)),
        foreign=make_token(
            "another-site-key-that-is-long-enough-Zq81", Purpose.UNSUBSCRIBE, subject_ref("1", 1)
        ),
    )
    folder = _maildir(tmp_path / "Unsubscribe", request(written, sender=victim.email))
    report = process(ledger.engine, folder, ledger.clock, keys=KEYS)
    assert report.unsubscribed == 0 and len(report.unmatched) == 1
    assert ledger.status(victim.email) is SubscriberStatus.ACTIVE


def test_an_encoded_subject_is_read(ledger: Ledger, tmp_path: Path) -> None:
    sent = ledger.send(ledger.campaign(), "encoded@example.org")
    encoded = Header(mailto_subject(sent), "utf-8").encode()
    assert encoded.startswith("=?utf-8?")
    raw = request("placeholder").replace(b"Subject: placeholder", f"Subject: {encoded}".encode())
    process(ledger.engine, _maildir(tmp_path / "Unsubscribe", raw), ledger.clock, keys=KEYS)
    assert ledger.status(sent.email) is SubscriberStatus.UNSUBSCRIBED


def test_one_command_reads_the_bounce_and_the_unsubscribe_mailbox(
    ledger: Ledger, tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from outreach.cli import app

    campaign = ledger.campaign()
    bounced, leaving = (
        ledger.send(campaign, "bounced@example.org"),
        ledger.send(campaign, "leaving@example.org"),
    )
    bounces = _maildir(tmp_path / "Bounces", mail("postfix_hard_5.1.1.eml", **bounced.values))
    unsubscribes = _maildir(tmp_path / "Unsubscribe", request(mailto_subject(leaving)))
    monkeypatch.setenv("OUTREACH_DATABASE_URL", ledger.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("OUTREACH_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(
        app, ["bounces", "process", str(bounces), str(unsubscribes), "--root", str(project)]
    )
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "unsubscribed (mailto) 1" in output and "bounced hard 1" in output
    assert ledger.status(bounced.email) is SubscriberStatus.BOUNCED
    assert ledger.status(leaving.email) is SubscriberStatus.UNSUBSCRIBED
