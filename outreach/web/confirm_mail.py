"""The confirmation mail (and the "already subscribed" one, and the notice of a preference change):
rendered once, stamped per mail.

``templates/confirm.mjml.j2`` and ``confirm.txt.j2`` go through the same MJML, inlining and
per-recipient compilation as an issue, once per process and language (the subscriber's, from the
site's catalogs, see outreach.i18n); the links and the greeting stay
placeholders until a sign-up fills them. The message is stamped by the same ``MessageFrame`` as a
campaign's: the same header path (a name typed into the sign-up form is text, quoted or encoded, never
a header or an address of its own), the same 7-bit bodies, and it leaves through the configured
transport.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from email.utils import make_msgid

from outreach.config import Config
from outreach.delivery.frame import MessageFrame
from outreach.i18n import N_, Translations, best_language, gettext_context, translations
from outreach.i18n.catalogs import SITE_FOLDER
from outreach.models import Recipient, RecipientLinks
from outreach.render.inline import inline_css
from outreach.render.layouts import layout_environment, render_layout
from outreach.render.mjml import compile_mjml
from outreach.render.personal import PersonalTemplates, escape_jinja
from outreach.transports.base import OutgoingMessage
from outreach.web.signup import Mail

LAYOUT = "confirm"
# Plain alphanumeric tokens survive MJML and premailer; they become Jinja2 expressions at the end.
PLACEHOLDERS = {
    "XQWEBCONFIRMQX": "confirm_url",
    "XQWEBPREFERENCESQX": "preferences_url",
    "XQWEBUNSUBSCRIBEQX": "unsubscribe_url",
    "XQWEBARCHIVEQX": "view_online_url",
    "XQWEBGREETINGQX": "subscriber.first_name | default({unnamed})",
}


SUBJECTS = {
    Mail.ALREADY: N_("You're already subscribed to %(name)s News"),
    Mail.CONFIRM: N_("Please confirm your subscription to %(name)s News"),
    Mail.PREFERENCES: N_("Your %(name)s News preferences were changed"),
}


def _subject(config: Config, mail: Mail, messages: Translations) -> str:
    return messages.gettext(SUBJECTS[mail]) % {"name": config.organisation.short_name}


def site_languages(config: Config) -> tuple[str, ...]:
    """The site's languages ([audience] languages in outreach.toml); the first is the default."""
    return tuple(choice.key for choice in config.settings.audience.languages)


def mail_language(config: Config, language: str) -> str:
    """The language a subscriber's mail is written in: theirs if the site offers it, else the default."""
    offered = site_languages(config)
    return (best_language([language], offered) if language else None) or offered[0]


class ConfirmationMail:
    """Both variants compiled on first use (or by ``prepare`` at start-up) and kept for the process."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._frames: dict[tuple[Mail, str], MessageFrame] = {}
        self._lock = threading.Lock()

    def prepare(self) -> None:
        """Compile now, so a broken layout or catalog stops ``outreach serve`` at start instead of at
        a sign-up."""
        for language in site_languages(self.config):
            for mail in (Mail.CONFIRM, Mail.ALREADY, Mail.PREFERENCES):
                self.frame(mail, language)

    def frame(self, mail: Mail, language: str = "") -> MessageFrame:
        """The mail in ``language`` (a site language; the default for any other)."""
        language = mail_language(self.config, language)
        with self._lock:
            if (mail, language) not in self._frames:
                sender = self.config.sender
                self._frames[mail, language] = MessageFrame(
                    self._compile(mail, language),
                    sender.from_name,
                    sender.from_address,
                    sender.list_id,
                    reply_to=sender.reply_to,
                )
            return self._frames[mail, language]

    def _compile(self, mail: Mail, language: str) -> PersonalTemplates:
        folder = self.config.path("templates")
        env = layout_environment(folder)
        messages = translations(language, self.config.root / SITE_FOLDER)
        context = {
            **gettext_context(messages),
            "language": language,
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
            "changed": mail is Mail.PREFERENCES,
        }
        # "Hello there," for a reader who gave no name; each language says it its own way.
        unnamed = str(messages.pgettext("the reader's name when we do not know it, after 'Hello'", "there"))
        name = f"{LAYOUT}.mjml.j2"
        html = inline_css(compile_mjml(render_layout(env, name, context), folder, name))
        text = render_layout(env, f"{LAYOUT}.txt.j2", context)
        return PersonalTemplates(
            subject=escape_jinja(_subject(self.config, mail, messages)),
            html=_restore(escape_jinja(html), unnamed),
            text=_restore(escape_jinja(text), unnamed),
        )

    def compose(
        self,
        mail: Mail,
        recipient: Recipient,
        links: RecipientLinks,
        confirm_url: str,
        now: datetime,
    ) -> OutgoingMessage:
        sender = self.config.sender
        frame = self.frame(mail, recipient.language)
        message_id = make_msgid(domain=sender.message_id_domain)
        stamped = frame.stamp(recipient, links, message_id, now, extra={"confirm_url": confirm_url})
        return OutgoingMessage(
            key=f"{mail.value}-confirmation",
            message_id=message_id,
            envelope_from=sender.from_address,
            recipient=recipient.email,
            raw=stamped.raw,
            from_header=frame.from_header,
            to_header=stamped.to_header,
            subject=stamped.subject,
            parts=stamped.parts,
            dot_free=stamped.dot_free,
            seven_bit=stamped.seven_bit,
            headers=(
                ("Message-ID", message_id),
                ("List-Id", sender.list_id),
                ("List-Unsubscribe", frame.list_unsubscribe(links)),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                *((("Reply-To", sender.reply_to),) if sender.reply_to else ()),
            ),
        )


def _restore(source: str, unnamed: str) -> str:
    literal = json.dumps(unnamed, ensure_ascii=False)  # a Jinja2 string literal, quotes escaped
    for token, expression in PLACEHOLDERS.items():
        source = source.replace(token, "{{ " + expression.format(unnamed=literal) + " }}")
    return source
