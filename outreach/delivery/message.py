"""One recipient's complete message, built with ``EmailMessage``: the reference composition.

This is the careful, slow way (about 5 ms a message): ``outreach render --to`` and test sends use it,
and the fast per-recipient frame used for bulk sending is checked against it. It carries everything
DESIGN.md section 5 lists, with ``List-Unsubscribe`` kept as one plain header (never RFC 2047-encoded).
"""

from __future__ import annotations

import email.policy
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from outreach.config import Config
from outreach.models import Issue, RecipientLinks
from outreach.render.personal import Personalised

# Parts are encoded under SMTP's policy (quoted-printable lines of 76); the message is serialised with
# a 998-octet header limit so a long List-Unsubscribe is never folded into an RFC 2047 encoded word.
POLICY = email.policy.SMTP
SERIALISE_POLICY = email.policy.SMTP.clone(max_line_length=998)


def message_bytes(message: EmailMessage) -> bytes:
    """Serialise with CRLF line ends and unfolded List-* headers."""
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
    """The whole message: headers of section 5, text/plain first, then text/html."""
    message = EmailMessage(policy=POLICY)
    message["From"] = Address(envelope.from_name, addr_spec=envelope.from_address)
    message["To"] = Address(envelope.to_name, addr_spec=envelope.to_address)
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(envelope.date)
    message["Message-ID"] = envelope.message_id
    if envelope.reply_to:
        message["Reply-To"] = envelope.reply_to
    message["List-Id"] = config.sender.list_id
    unsubscribe = f"<{links.unsubscribe}>"
    if links.unsubscribe_mailto:
        unsubscribe += f", <{links.unsubscribe_mailto}>"
    message["List-Unsubscribe"] = unsubscribe
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(mail.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(mail.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message
