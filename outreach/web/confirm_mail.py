"""The confirmation mail (and the "already subscribed" one): rendered once, stamped per sign-up.

``templates/confirm.mjml.j2`` and ``confirm.txt.j2`` go through the same MJML, inlining and
per-recipient compilation as an issue, once per process; the links and the greeting stay
placeholders until a sign-up fills them. The message is composed with ``EmailMessage`` (one mail per
sign-up, so the careful composition of ``outreach.delivery.message`` is the right one) and leaves
through the configured transport.
"""

from __future__ import annotations

import threading
from datetime import datetime
from email.utils import make_msgid

from outreach.config import Config
from outreach.delivery.message import Envelope, build_message, message_bytes
from outreach.models import Recipient, RecipientLinks
from outreach.render.inline import inline_css
from outreach.render.layouts import layout_environment, render_layout
from outreach.render.mjml import compile_mjml
from outreach.render.personal import PersonalTemplates, escape_jinja, recipient_context
from outreach.transports.base import OutgoingMessage
from outreach.web.signup import Mail

LAYOUT = "confirm"
# Plain alphanumeric tokens survive MJML and premailer; they become Jinja2 expressions at the end.
PLACEHOLDERS = {
    "XQWEBCONFIRMQX": "confirm_url",
    "XQWEBPREFERENCESQX": "preferences_url",
    "XQWEBUNSUBSCRIBEQX": "unsubscribe_url",
    "XQWEBARCHIVEQX": "view_online_url",
    "XQWEBGREETINGQX": 'subscriber.first_name | default("there")',
}


def _subject(config: Config, mail: Mail) -> str:
    name = config.organisation.short_name
    if mail is Mail.ALREADY:
        return f"You're already subscribed to {name} News"
    return f"Please confirm your subscription to {name} News"


class ConfirmationMail:
    """Both variants compiled on first use (or by ``prepare`` at start-up) and kept for the process."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._compiled: dict[Mail, PersonalTemplates] = {}
        self._lock = threading.Lock()

    def prepare(self) -> None:
        """Compile now, so a broken layout stops ``outreach serve`` at start instead of at a sign-up."""
        for mail in (Mail.CONFIRM, Mail.ALREADY):
            self.templates(mail)

    def templates(self, mail: Mail) -> PersonalTemplates:
        with self._lock:
            if mail not in self._compiled:
                self._compiled[mail] = self._compile(mail)
            return self._compiled[mail]

    def _compile(self, mail: Mail) -> PersonalTemplates:
        folder = self.config.path("templates")
        env = layout_environment(folder)
        context = {
            "org": self.config.organisation,
            "sender": self.config.sender,
            "brand": self.config.brand,
            "base_url": self.config.base_url,
            "links": {
                "view_online": "XQWEBARCHIVEQX",
                "preferences": "XQWEBPREFERENCESQX",
                "unsubscribe": "XQWEBUNSUBSCRIBEQX",
            },
            "confirm_url": "XQWEBCONFIRMQX",
            "greeting": "XQWEBGREETINGQX",
            "already": mail is Mail.ALREADY,
        }
        name = f"{LAYOUT}.mjml.j2"
        html = inline_css(compile_mjml(render_layout(env, name, context), folder, name))
        text = render_layout(env, f"{LAYOUT}.txt.j2", context)
        return PersonalTemplates(
            subject=escape_jinja(_subject(self.config, mail)),
            html=_restore(escape_jinja(html)),
            text=_restore(escape_jinja(text)),
        )

    def compose(
        self,
        mail: Mail,
        recipient: Recipient,
        links: RecipientLinks,
        confirm_url: str,
        now: datetime,
    ) -> OutgoingMessage:
        context = {**recipient_context(recipient, links), "confirm_url": confirm_url}
        personal = self.templates(mail).render_context(context)
        sender = self.config.sender
        envelope = Envelope(
            from_name=sender.from_name,
            from_address=sender.from_address,
            to_address=recipient.email,
            to_name=recipient.full_name,
            message_id=make_msgid(domain=sender.message_id_domain),
            date=now,
            reply_to=sender.reply_to,
        )
        message = build_message(envelope, personal, links, self.config)
        return OutgoingMessage(
            key=f"{mail.value}-confirmation",
            message_id=envelope.message_id,
            envelope_from=sender.from_address,
            recipient=recipient.email,
            raw=message_bytes(message),
            from_header=str(message["From"]),
            to_header=str(message["To"]),
            subject=personal.subject,
            text=personal.text,
            html=personal.html,
            headers=(
                ("Message-ID", envelope.message_id),
                ("List-Id", sender.list_id),
                ("List-Unsubscribe", str(message["List-Unsubscribe"])),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                *((("Reply-To", sender.reply_to),) if sender.reply_to else ()),
            ),
        )


def _restore(source: str) -> str:
    for token, expression in PLACEHOLDERS.items():
        source = source.replace(token, "{{ " + expression + " }}")
    return source
