"""From a campaign row to ``OutgoingMessage``s: the frame, the per-recipient links, optional DKIM.

With a bounce mailbox configured (``[events] return_path``), each message's envelope sender is its own
VERP address, ``bounces+CAMPAIGN.ROW.MAC@domain``: a bounce or complaint returned to it names the
message it is about with a MAC only this site can make (``outreach.tokens.return_path``), so nobody
can forge one for someone else's address.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from outreach.delivery.claims import Claimed
from outreach.delivery.edition_choice import EditionChoice, EditionContent
from outreach.delivery.frame import MessageFrame
from outreach.models import RecipientLinks
from outreach.render.personal import PersonalTemplates
from outreach.tokens import recipient_links, return_path
from outreach.transports.base import OutgoingMessage

Signer = Callable[[bytes], bytes]


def no_signer() -> Signer | None:
    """The signer factory of a site without DKIM (picklable: it crosses into sending processes)."""
    return None


_BASE32 = frozenset("abcdefghijklmnopqrstuvwxyz234567")


class CampaignRow(Protocol):
    """What ``CampaignContent.of`` reads of a campaign (``outreach.delivery.schema.Campaign``): named
    here so a sending process, which imports this module, never imports the database layer."""

    id: int
    issue_slug: str
    subject_source: str
    html_source: str
    text_source: str
    from_name: str
    from_address: str
    reply_to: str
    list_id: str
    language: str


# What is between a template's braces (the prose around them may say "topics" as well).
_JINJA_CODE = re.compile(r"\{[{%](.*?)[%}]\}", re.DOTALL)


@dataclass(frozen=True)
class CampaignContent:
    """What composing needs of a campaign row, as plain values (it crosses into sending processes)."""

    campaign_id: int
    issue_slug: str
    subject_source: str
    html_source: str
    text_source: str
    from_name: str
    from_address: str
    reply_to: str
    list_id: str
    bounce_address: str = ""  # [events] return_path: the VERP base; "" sends from from_address
    language: str = ""  # the default edition's (the templates above)
    editions: tuple[EditionContent, ...] = ()  # the other language editions

    @property
    def uses_topics(self) -> bool:
        """Whether a template of any edition may look at the reader's topics (``subscriber.topics``,
        or a ``::: only topic=`` section): only then does a claim read them, one query a chunk."""
        sources = [self.subject_source, self.html_source, self.text_source]
        for edition in self.editions:
            sources += [edition.subject_source, edition.html_source, edition.text_source]
        return any("topics" in code for source in sources for code in _JINJA_CODE.findall(source))

    @property
    def choice(self) -> EditionChoice:
        """How the campaign's readers are split between its editions."""
        return EditionChoice(self.language, tuple(e.language for e in self.editions))

    @classmethod
    def of(
        cls, campaign: CampaignRow, bounce_address: str = "", editions: tuple[EditionContent, ...] = ()
    ) -> CampaignContent:
        """The content of ``campaign``; ``editions`` are its other editions (``editions.contents_of``)."""
        return cls(
            campaign.id,
            campaign.issue_slug,
            campaign.subject_source,
            campaign.html_source,
            campaign.text_source,
            campaign.from_name,
            campaign.from_address,
            campaign.reply_to,
            campaign.list_id,
            bounce_address,
            campaign.language,
            editions,
        )


class CampaignMessages:
    """Composes each claimed recipient's message for one campaign; built once per run."""

    def __init__(
        self,
        campaign: CampaignContent,
        base_url: str,
        secret: str,
        signer: Signer | None = None,
        unsubscribe_mailto: str = "",
    ) -> None:
        self.campaign = campaign
        self.base_url = base_url
        self.secret = secret
        self.signer = signer
        templates = PersonalTemplates(campaign.subject_source, campaign.html_source, campaign.text_source)
        self.unsubscribe_mailto = unsubscribe_mailto
        self.frame = MessageFrame(
            templates, campaign.from_name, campaign.from_address, campaign.list_id, reply_to=campaign.reply_to
        )
        # One frame per language edition, made once like the default's; a row names its edition.
        self.frames = {
            edition.language: MessageFrame(
                PersonalTemplates(edition.subject_source, edition.html_source, edition.text_source),
                campaign.from_name,
                campaign.from_address,
                campaign.list_id,
                reply_to=campaign.reply_to,
            )
            for edition in campaign.editions
        }

    def links(self, subscriber_id: int, edition: str = "") -> RecipientLinks:
        """The reader's links; a reader of another language's edition views it online in that
        language's archive (``/es/archive/SLUG``), everyone else in the default one."""
        return recipient_links(
            self.base_url,
            self.secret,
            str(subscriber_id),
            self.campaign.issue_slug,
            campaign=self.campaign.campaign_id,
            mailto=self.unsubscribe_mailto,
            language=edition if edition in self.frames else "",
        )

    def envelope_from(self, delivery_id: int, message_id: str = "") -> str:
        """The return path of one message: its VERP address, or the From address without a mailbox.

        A keyed Message-ID (``outreach.tokens.message_id``, ``<CAMPAIGN.ROW.MAC@domain>``) carries the
        very MAC the VERP address needs, made with the same key when the row was claimed: it is
        reused rather than computed again for every recipient (an HMAC and a base32 encoding, about a
        tenth of composing a message). Any other Message-ID, and the MAC is made here."""
        content = self.campaign
        if not content.bounce_address:
            return content.from_address
        prefix = f"<{content.campaign_id}.{delivery_id}."
        mac = message_id[len(prefix) : len(prefix) + 16] if message_id.startswith(prefix) else ""
        if (
            len(mac) == 16
            and message_id[len(prefix) + 16 : len(prefix) + 17] == "@"
            and _BASE32.issuperset(mac)
        ):
            local, _, domain = content.bounce_address.rpartition("@")
            return f"{local}+{content.campaign_id}.{delivery_id}.{mac}@{domain}"
        return return_path(self.secret, content.bounce_address, content.campaign_id, delivery_id)

    def compose(self, claimed: Claimed, now: datetime) -> OutgoingMessage:
        links = self.links(claimed.subscriber_id, claimed.edition)
        frame = self.frames.get(claimed.edition, self.frame) if self.frames else self.frame
        stamped = frame.stamp(claimed.recipient, links, claimed.message_id, now)
        raw = self.signer(stamped.raw) if self.signer else stamped.raw
        headers = [
            ("Message-ID", claimed.message_id),
            ("List-Id", self.campaign.list_id),
            ("List-Unsubscribe", self.frame.list_unsubscribe(links)),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ]
        if self.campaign.reply_to:
            headers.append(("Reply-To", self.campaign.reply_to))
        return OutgoingMessage(
            key=str(claimed.delivery_id),
            message_id=claimed.message_id,
            envelope_from=self.envelope_from(claimed.delivery_id, claimed.message_id),
            recipient=claimed.recipient.email,
            raw=raw,
            from_header=self.frame.from_header,
            to_header=stamped.to_header,
            subject=stamped.subject,
            parts=stamped.parts,
            dot_free=stamped.dot_free and self.signer is None,
            seven_bit=stamped.seven_bit,
            headers=tuple(headers),
        )
