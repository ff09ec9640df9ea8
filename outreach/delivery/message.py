"""One recipient's complete message, built with ``EmailMessage``: the reference composition.

This is the careful, slow way (about 5 ms a message): ``outreach render --to``, ``check`` and the
preview use it, and the fast per-recipient frame used for bulk sending is checked against it. Its
headers come from ``outreach.delivery.headers`` (set raw, so the email package never re-folds them:
its folder decodes encoded words in names and, on older interpreters, writes CR/LF back out); the
email package only encodes the two bodies, as quoted-printable.
"""

from __future__ import annotations

import email.policy
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from outreach.config import Config
from outreach.delivery.headers import MessageHeaders, RecipientHeaders
from outreach.models import Issue, RecipientLinks
from outreach.render.personal import Personalised

# Parts are encoded under SMTP's policy (quoted-printable lines of 76). Headers set raw are written
# exactly as our builder folded them, whoever serialises the message (the preview's .eml download
# too): with refold_source "none" the email package never re-parses and re-folds them.
POLICY = email.policy.SMTP.clone(refold_source="none")
SERIALISE_POLICY = POLICY.clone(max_line_length=998)


def message_bytes(message: EmailMessage) -> bytes:
    """Serialise with CRLF line ends and our headers as they were built."""
    return message.as_bytes(policy=SERIALISE_POLICY)


@dataclass(frozen=True)
class Envelope:
    """Who a message is from and to, and its identity."""

    from_name: str
    from_address: str
    to_address: str
    message_id: str
    date: datetime
    reply_to: str = ""
    to_name: str = ""


def envelope_for(
    issue: Issue,
    config: Config,
    to_address: str,
    when: datetime,
    to_name: str = "",
    message_id: str | None = None,
) -> Envelope:
    """Sender from the issue's overrides or outreach.toml; a Message-ID on the sending domain."""
    sender = config.sender
    return Envelope(
        from_name=issue.from_name or sender.from_name,
        from_address=issue.from_address or sender.from_address,
        to_address=to_address,
        to_name=to_name,
        reply_to=issue.reply_to or sender.reply_to,
        message_id=message_id or make_msgid(domain=sender.message_id_domain),
        date=when,
    )


def build_message(
    envelope: Envelope, mail: Personalised, links: RecipientLinks, config: Config
) -> EmailMessage:
    """The whole message: the headers every bulk mail carries, text/plain first, then text/html."""
    headers = MessageHeaders(
        envelope.from_name, envelope.from_address, config.sender.list_id, envelope.reply_to
    )
    values = RecipientHeaders(
        envelope.to_name,
        envelope.to_address,
        mail.subject,
        format_datetime(envelope.date),
        envelope.message_id,
        links.unsubscribe,
        links.unsubscribe_mailto,
    )
    message = EmailMessage(policy=POLICY)
    for name, value in headers.fields(values):
        message.set_raw(name, value)
    message.set_content(mail.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if mail.html:  # ``template: plain`` has no HTML part
        message.add_alternative(mail.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message
