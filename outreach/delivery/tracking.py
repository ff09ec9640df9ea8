"""Click tracking (off unless ``[web] click_tracking = true``): signed redirects, counted per link.

When a campaign is created with tracking, every http(s) link of its HTML and text is rewritten once to
``{base_url}/c/TOKEN``, where the token is the signed pair (campaign id, URL). One token per link per
campaign and nothing per recipient: we learn which links were useful, never who clicked. The web
service redirects only to the URL inside a token it signed, so ``/c/`` is never an open redirect.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from itsdangerous import URLSafeSerializer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, object_session

from outreach.audience.schema import Base, BigId
from outreach.clock import Clock
from outreach.config import Config
from outreach.delivery.schema import Campaign, CampaignEdition
from outreach.tokens import Keys, TokenRefused, load_signed

SALT = "outreach.click"
CLICK_PATH = "/c/"
_HREF = re.compile(r"""(href\s*=\s*)(["'])(https?://[^"'<>\s]+)\2""", re.IGNORECASE)
_TEXT_URL = re.compile(r"https?://[^\s<>\"'()]+")
# A trailing full stop or comma in prose belongs to the sentence, not to the URL.
_TRAILING = ".,;:!?"


class LinkClick(Base):
    """How often one link of one campaign was followed (the URL is the same for every reader)."""

    __tablename__ = "link_clicks"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "url_hash"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    url_hash: Mapped[str] = mapped_column(sa.String(64))
    url: Mapped[str] = mapped_column(sa.Text)
    clicks: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_clicked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class ClickRefused(Exception):
    """A /c/ token that we did not sign, or one that holds something other than a web address."""


def click_token(secret: str, campaign_id: int, url: str) -> str:
    return str(URLSafeSerializer(secret, salt=SALT).dumps([campaign_id, url]))


def read_click_token(keys: Keys, token: str) -> tuple[int, str]:
    """(campaign id, URL) from a token one of the site's keys signed; ClickRefused for anything else."""
    try:
        value = load_signed(keys, SALT, token)
    except TokenRefused as err:
        raise ClickRefused("this link is not valid") from err
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], int)):
        raise ClickRefused("this link is not valid")
    url = value[1]
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        raise ClickRefused("this link is not valid")
    return value[0], url


@dataclass(frozen=True)
class ClickTracking:
    """Rewrites a campaign's links through ``{base_url}/c/``; built only when tracking is on."""

    base_url: str
    secret: str

    def tracked(self, campaign_id: int, url: str) -> str:
        return f"{self.base_url}{CLICK_PATH}{click_token(self.secret, campaign_id, url)}"

    def skip(self, url: str) -> bool:
        """Our own links (unsubscribe, preferences, archive) and personalised ones stay as they are."""
        return url.startswith(self.base_url) or "{{" in url or "{%" in url

    def rewrite_html(self, source: str, campaign_id: int) -> str:
        def swap(match: re.Match[str]) -> str:
            url = html.unescape(match.group(3))
            if self.skip(url):
                return match.group(0)
            return f"{match.group(1)}{match.group(2)}{self.tracked(campaign_id, url)}{match.group(2)}"

        return _HREF.sub(swap, source)

    def rewrite_text(self, source: str, campaign_id: int) -> str:
        def swap(match: re.Match[str]) -> str:
            found = match.group(0)
            url = found.rstrip(_TRAILING)
            if self.skip(url):
                return found
            return self.tracked(campaign_id, url) + found[len(url) :]

        return _TEXT_URL.sub(swap, source)

    def apply(self, campaign: Campaign) -> None:
        """Rewrite the campaign's stored HTML and text, and its other language editions' (after it has
        an id and its editions are stored, before any row is sent)."""
        campaign.html_source = self.rewrite_html(campaign.html_source, campaign.id)
        campaign.text_source = self.rewrite_text(campaign.text_source, campaign.id)
        session = object_session(campaign)
        if session is None:
            return
        for edition in session.scalars(
            sa.select(CampaignEdition).where(CampaignEdition.campaign_id == campaign.id)
        ):
            edition.html_source = self.rewrite_html(edition.html_source, campaign.id)
            edition.text_source = self.rewrite_text(edition.text_source, campaign.id)


def tracking_for(config: Config) -> ClickTracking | None:
    """Tracking as ``[web] click_tracking`` says; None (the default) leaves every link direct."""
    if not config.settings.web.click_tracking:
        return None
    return ClickTracking(config.base_url, config.secret_key)


def untrack(source: str, keys: Keys, base_url: str) -> str:
    """The HTML with every ``/c/`` link of ours turned back into its destination (for the archive)."""
    prefix = re.escape(f"{base_url}{CLICK_PATH}")
    pattern = re.compile(prefix + r"([A-Za-z0-9_.\-]+)")

    def swap(match: re.Match[str]) -> str:
        try:
            return html.escape(read_click_token(keys, match.group(1))[1], quote=True)
        except ClickRefused:
            return match.group(0)

    return pattern.sub(swap, source)


def url_hash(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def count_click(session: Session, campaign_id: int, url: str, clock: Clock) -> None:
    """Add one click to (campaign, URL); a campaign that no longer exists is not counted."""
    if session.get(Campaign, campaign_id) is None:
        return
    hashed = url_hash(url)
    now = clock.now()
    bump = (
        sa.update(LinkClick)
        .where(LinkClick.campaign_id == campaign_id, LinkClick.url_hash == hashed)
        .values(clicks=LinkClick.clicks + 1, last_clicked_at=now)
    )
    if int(getattr(session.execute(bump), "rowcount", 0) or 0):
        return
    try:
        with session.begin_nested():
            session.add(
                LinkClick(campaign_id=campaign_id, url_hash=hashed, url=url, clicks=1, last_clicked_at=now)
            )
    except IntegrityError:  # another request inserted the row first: count on it
        session.execute(bump)


def clicks(session: Session, campaign_id: int) -> list[tuple[str, int]]:
    """(URL, clicks) of one campaign, most followed first."""
    rows = session.execute(
        sa.select(LinkClick.url, LinkClick.clicks)
        .where(LinkClick.campaign_id == campaign_id)
        .order_by(LinkClick.clicks.desc(), LinkClick.url)
    ).all()
    return [(str(url), int(n)) for url, n in rows]
