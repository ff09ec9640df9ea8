"""The RFC 3463 table of smtp_codes, row by row."""

from __future__ import annotations

import pytest

from outreach.transports.base import Outcome
from outreach.transports.smtp_codes import classify_smtp, enhanced_code, reply_code

B, J, R, S, X = Outcome.BOUNCED, Outcome.REJECTED, Outcome.RETRY, Outcome.SENT, Outcome.BLOCKED


@pytest.mark.parametrize(
    ("code", "text", "outcome"),
    [
        (250, "2.0.0 Ok: queued as 4F1A", S),
        (251, "2.1.5 User not local; will forward", S),
        # enhanced codes decide
        (550, "5.1.1 <x@example.org>: Recipient address rejected: User unknown", B),
        (550, "5.1.2 Bad destination system address", B),
        (553, "5.1.3 Bad destination mailbox address syntax", B),
        (550, "5.1.10 Recipient address rejected: Domain has null MX", B),
        (553, "5.1.7 Bad sender's mailbox address syntax", X),
        (550, "5.1.8 Sender address rejected: Domain not found", X),
        (550, "5.2.1 The email account that you tried to reach is disabled", B),
        (552, "5.2.2 The email account that you tried to reach is over quota", R),
        (552, "5.2.3 Message exceeds the mailbox's size limit", J),
        (552, "5.3.4 Message size exceeds fixed limit", J),
        (550, "5.4.4 Unable to route", B),
        (554, "5.5.3 Too many recipients", J),
        (554, "5.6.0 Message content rejected", J),
        (550, "5.7.1 Message rejected as spam", X),
        (554, "5.7.1 Service unavailable; Client host blocked using zen.spamhaus.org", X),
        (550, "5.7.26 Unauthenticated email is not accepted due to DMARC policy", X),
        (550, "5.7.13 User account disabled", B),
        (550, "5.7.17 Mailbox owner has changed", B),
        # the basic class decides transient vs permanent
        (450, "5.1.1 odd but transient", R),
        (421, "4.3.2 Service shutting down", R),
        (451, "4.3.0 Temporary lookup failure", R),
        (452, "4.2.2 Mailbox full", R),
        (452, "Insufficient system storage", R),
        # no enhanced code: the basic code and the text decide
        (550, "Requested action not taken: mailbox unavailable", B),
        (551, "User not local", B),
        (553, "Requested action not taken: mailbox name not allowed", B),
        (550, "Message rejected due to local policy", X),
        (552, "Requested mail action aborted: exceeded storage allocation", J),
        (554, "Transaction failed", J),
        (554, "Message refused: blocked by spam filter", X),
        (535, "Authentication credentials invalid", X),
        (530, "Must issue a STARTTLS command first", X),
        (500, "Syntax error, command unrecognised", J),
        (550, "5.0.0 Mailbox unavailable", B),  # x.0.x says nothing: the basic code decides
    ],
)
def test_classify(code: int, text: str, outcome: Outcome) -> None:
    assert classify_smtp(code, text) is outcome


def test_enhanced_code_parsing() -> None:
    assert enhanced_code("5.1.1 User unknown") == (5, 1, 1)
    assert enhanced_code("5.7.26 DMARC") == (5, 7, 26)
    assert enhanced_code("Ok 5.1.1 later in the text") is None
    assert enhanced_code("5.1.1.") == (5, 1, 1)
    assert reply_code(550, "5.1.1 User unknown") == "550 5.1.1"
    assert reply_code(421, "Closing") == "421"
