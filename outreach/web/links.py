"""The links a subscriber's mail from the service carries: preferences, unsubscribe, confirmation.

Shared by the pages (which show them) and by the worker that sends the confirmation mails, which may
run in another process (``outreach worker``): both build them from the config alone.
"""

from __future__ import annotations

from dataclasses import replace

from outreach.clock import Clock
from outreach.config import Config
from outreach.models import RecipientLinks
from outreach.tokens import recipient_links
from outreach.web import signed


def subscriber_links(config: Config, subscriber_id: int) -> RecipientLinks:
    """The unsubscribe, preference and archive links of one subscriber (no campaign)."""
    links = recipient_links(
        config.base_url, config.secret_key, str(subscriber_id), "", mailto=config.sender.unsubscribe_mailto
    )
    return replace(links, view_online=f"{config.base_url}/archive")


def confirm_url(config: Config, clock: Clock, payload: list[object]) -> str:
    """A confirmation link carrying ``payload``, valid for a week from now."""
    token = signed.sign(config.secret_key, signed.CONFIRM_SALT, payload, clock)
    return f"{config.base_url}/confirm/{token}"
