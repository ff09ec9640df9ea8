"""Anyone can mail the bounce mailbox: forged reports must suppress nobody (both databases).

The attacks of the security issue, each performed against the real mailbox processor: a DSN or an
ARF report naming a subscriber's address, DSNs naming guessed sequential ledger keys, forged soft
bounces, a real message's VERP address with someone else named as the recipient, and a VERP address
with a made-up MAC. Then the genuine article, to show that real bounces still work, including one
whose VERP address was made with a key the site has since rotated away from.
"""

from __future__ import annotations

import mailbox
from pathlib import Path

from outreach.audience import SubscriberStatus
from outreach.events.inbox import MailboxReport, process
from outreach.tokens import message_mac, return_path
from tests.events.fixtures import KEYS, Ledger, Sent
from tests.events.signing import BOUNCES, mail

OLD_KEY = "an-older-site-key-that-was-rotated-away-9c1Fz"


def _process(ledger: Ledger, folder: Path, *messages: bytes) -> MailboxReport:
    box = mailbox.Maildir(folder, create=True)
    for message in messages:
        box.add(message)
    box.close()
    return process(ledger.engine, folder, ledger.clock, keys=KEYS)


def _members(ledger: Ledger, count: int) -> list[Sent]:
    campaign = ledger.campaign()
    return [ledger.send(campaign, f"member{n}@example.org") for n in range(1, count + 1)]


def _untouched(ledger: Ledger, *people: Sent) -> None:
    for person in people:
        assert ledger.status(person.email) is SubscriberStatus.ACTIVE, person.email
        assert not ledger.suppressed(person.email), person.email


def test_a_forged_dsn_or_arf_naming_an_address_suppresses_nobody(ledger: Ledger, tmp_path: Path) -> None:
    victim, other = _members(ledger, 2)
    # The attacker knows the address, not our identifiers: no VERP, a Message-ID of their making.
    forged = {"email": victim.email, "verp": BOUNCES, "msgid": f"1.{victim.delivery_id}.guess@vaimh.example"}
    report = _process(
        ledger,
        tmp_path / "Maildir",
        mail("postfix_hard_5.1.1.eml", **forged),
        mail("gmail_hard_5.1.1.eml", **forged),
        mail("arf_abuse_complaint.eml", **{**forged, "email": other.email}),
    )
    _untouched(ledger, victim, other)
    assert dict(report.kinds) == {"bounced_hard": 2, "complained": 1}  # recorded...
    assert len(report.unmatched) == 3  # ...as changing nobody, each with why
    assert all("changed nobody" in item.reason for item in report.unmatched)


def test_dsns_naming_guessed_sequential_keys_suppress_nobody(ledger: Ledger, tmp_path: Path) -> None:
    members = _members(ledger, 4)
    guesses = [  # the old VERP shape: bounces+ROW@
        mail(
            "postfix_hard_5.1.1.eml", email=m.email, verp=f"bounces+{m.delivery_id}@vaimh.example", msgid="x"
        )
        for m in members[1:]
    ]
    guesses += [  # today's VERP shape with the right campaign and row, but a MAC made up
        mail(
            "postfix_hard_5.1.1.eml",
            email=m.email,
            verp=f"bounces+{m.campaign_id}.{m.delivery_id}.{'a' * 16}@vaimh.example",
            msgid=f"{m.campaign_id}.{m.delivery_id}.{'b' * 16}@vaimh.example",
        )
        for m in members[1:]
    ]
    _process(ledger, tmp_path / "Maildir", *guesses)
    _untouched(ledger, *members)


def test_forged_and_real_soft_bounces_never_suppress(ledger: Ledger, tmp_path: Path) -> None:
    campaign_rows = [ledger.send(ledger.campaign(), "soft@example.org") for _ in range(4)]
    forged = [mail("postfix_soft_4.2.2_mailbox_full.eml", email="soft@example.org", verp=BOUNCES)] * 3
    real = [mail("postfix_soft_4.2.2_mailbox_full.eml", **row.values) for row in campaign_rows]
    report = _process(ledger, tmp_path / "Maildir", *forged, *real)
    _untouched(ledger, campaign_rows[0])
    assert report.kinds["bounced_soft"] >= 4  # the real ones are recorded and shown


def test_a_real_verp_address_naming_someone_else_changes_nobody(ledger: Ledger, tmp_path: Path) -> None:
    """The attacker is a subscriber: their own message's VERP address, with a neighbour's address as
    the recipient, in a DSN and in an ARF report."""
    attacker, neighbour = _members(ledger, 2)
    values = {**attacker.values, "email": neighbour.email}
    report = _process(
        ledger,
        tmp_path / "Maildir",
        mail("postfix_hard_5.1.1.eml", **values),
        mail("arf_abuse_complaint.eml", **values),
    )
    _untouched(ledger, attacker, neighbour)
    assert all("another address" in item.reason for item in report.unmatched)


def test_real_reports_are_still_applied(ledger: Ledger, tmp_path: Path) -> None:
    hard, complaint, by_message_id = _members(ledger, 3)
    gmail = {**by_message_id.values, "verp": BOUNCES}  # no VERP: the keyed Message-ID names it
    report = _process(
        ledger,
        tmp_path / "Maildir",
        mail("postfix_hard_5.1.1.eml", **hard.values),
        mail("arf_abuse_complaint.eml", **complaint.values),
        mail("gmail_hard_5.1.1.eml", **gmail),
    )
    assert report.unmatched == []
    assert ledger.status(hard.email) is SubscriberStatus.BOUNCED
    assert ledger.status(complaint.email) is SubscriberStatus.COMPLAINED
    assert ledger.status(by_message_id.email) is SubscriberStatus.BOUNCED


def test_a_verp_address_made_with_a_rotated_key_still_verifies(ledger: Ledger, tmp_path: Path) -> None:
    (member,) = _members(ledger, 1)
    verp = return_path(OLD_KEY, BOUNCES, member.campaign_id, member.delivery_id)
    assert message_mac(OLD_KEY, member.campaign_id, member.delivery_id) in verp
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    box.add(mail("postfix_hard_5.1.1.eml", **{**member.values, "verp": verp, "msgid": "x@y"}))
    box.close()
    process(ledger.engine, tmp_path / "Maildir", ledger.clock, keys=(*KEYS, OLD_KEY))
    assert ledger.status(member.email) is SubscriberStatus.BOUNCED


def test_a_forged_copy_of_a_report_arriving_first_does_not_block_the_real_one(
    ledger: Ledger, tmp_path: Path
) -> None:
    (member,) = _members(ledger, 1)
    forged = mail("postfix_hard_5.1.1.eml", email=member.email, verp=BOUNCES, msgid="x@y")
    real = mail("postfix_hard_5.1.1.eml", **member.values)  # the same report Message-ID as the forgery
    report = _process(ledger, tmp_path / "Maildir", forged, real)
    assert report.duplicates == 0
    assert ledger.status(member.email) is SubscriberStatus.BOUNCED
