"""What an SMTP reply means for one message, from its RFC 3463 enhanced status code first.

The basic reply code says little (550 is used for "no such user" and for "you look like spam"), so the
enhanced code ``class.subject.detail`` decides when the server sends one; the basic code and a few
words of the text decide only when it does not. The class of the *basic* code always decides between
transient and permanent: a "450 5.1.1" is retried.

Enhanced codes (class 5; class 4 is always RETRY, class 2 is SENT):

=========================  ========  =======================================================
code                       outcome   why
=========================  ========  =======================================================
5.1.7, 5.1.8               BLOCKED   bad *sender* address or domain: every message would fail
5.1.x (other)              BOUNCED   the recipient's address is wrong or gone: suppress it
5.2.2                      RETRY     mailbox full: soft, the person may make room
5.2.3                      REJECTED  message bigger than the mailbox allows: the message's fault
5.2.x (other)              BOUNCED   mailbox disabled (5.2.1) or otherwise unusable
5.3.x                      REJECTED  receiving system cannot take this message (5.3.4 too big)
5.4.x                      BOUNCED   no route to the recipient's domain (5.4.4), delivery expired
5.5.x                      REJECTED  protocol or syntax trouble with this transaction
5.6.x                      REJECTED  content or media refused: fix the message, keep the address
5.7.13, 5.7.17             BOUNCED   user account disabled / mailbox owner changed (RFC 7372)
5.7.x (other)              BLOCKED   policy: relay denied, spam, DMARC, auth: pause the campaign
5.0.x or unknown subject   ...       decided by the basic code, as below
=========================  ========  =======================================================

Basic codes, when no enhanced code helps:

====================  ========  ===================================================
code                  outcome   note
====================  ========  ===================================================
2xx                   SENT
4xx                   RETRY     421 closing, 450/451/452 busy, out of storage
530, 534, 535, 538    BLOCKED   authentication required or refused
550, 551, 553         BOUNCED   unless the text speaks of policy or spam: BLOCKED
552                   REJECTED  too big (RFC 5321 says storage; everyone means size)
554, other 5xx        REJECTED  unless the text speaks of policy or spam: BLOCKED
====================  ========  ===================================================
"""

from __future__ import annotations

import re

from outreach.transports.base import Outcome

_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$|[.,;:])")
_POLICY = re.compile(
    r"\b(polic(y|ies)|spam|block(ed|list)?|black ?list(ed)?|deny ?list(ed)?|reputation|dmarc|spf|dkim|"
    r"relay(ing)? (access )?denied|not authori[sz]ed|abuse|rbl|spamhaus|prohibited)\b",
    re.IGNORECASE,
)


def enhanced_code(text: str) -> tuple[int, int, int] | None:
    """The RFC 3463 ``class.subject.detail`` at the start of a reply's text, if there is one."""
    match = _ENHANCED.match(text)
    if not match:
        return None
    klass, subject, detail = (int(part) for part in match.groups())
    return klass, subject, detail


def reply_code(code: int, text: str) -> str:
    """The code as results show it: '550 5.1.1', or '421' when there is no enhanced code."""
    enhanced = enhanced_code(text)
    return f"{code} {'.'.join(str(p) for p in enhanced)}" if enhanced else str(code)


def classify_smtp(code: int, text: str) -> Outcome:
    """The outcome of one reply: see the tables in this module's docstring."""
    if 200 <= code < 400:
        return Outcome.SENT
    if code < 500:
        return Outcome.RETRY
    enhanced = enhanced_code(text)
    if enhanced is not None:
        outcome = _by_enhanced(enhanced[1], enhanced[2])
        if outcome is not None:
            return outcome
    return _by_basic(code, text)


def _by_enhanced(subject: int, detail: int) -> Outcome | None:
    if subject == 1:
        return Outcome.BLOCKED if detail in (7, 8) else Outcome.BOUNCED
    if subject == 2:
        return {2: Outcome.RETRY, 3: Outcome.REJECTED}.get(detail, Outcome.BOUNCED)
    if subject == 7:
        return Outcome.BOUNCED if detail in (13, 17) else Outcome.BLOCKED
    return {3: Outcome.REJECTED, 4: Outcome.BOUNCED, 5: Outcome.REJECTED, 6: Outcome.REJECTED}.get(subject)


def _by_basic(code: int, text: str) -> Outcome:
    if code in (530, 534, 535, 538):
        return Outcome.BLOCKED
    if _POLICY.search(text):
        return Outcome.BLOCKED
    if code in (550, 551, 553):
        return Outcome.BOUNCED
    return Outcome.REJECTED
