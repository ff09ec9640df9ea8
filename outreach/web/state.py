"""What every handler shares: config, database, clock, pages, limits, the confirmation mail, the way out.

One ``WebState`` per app, kept at ``app.state.web``. Handlers stay thin: they read the request, call
a function here or in ``signup``, and render a page. Database work and sending run in the thread
pool, so a slow SMTP server never blocks the event loop.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace

from sqlalchemy.engine import Engine
from starlette.requests import Request

from outreach.audience import Consent, SubscriberStatus, is_suppressed, transaction, unsubscribe
from outreach.audience.schema import Subscriber
from outreach.clock import Clock
from outreach.config import Config
from outreach.delivery.wiring import build_transport, transport_name
from outreach.models import Recipient, RecipientLinks
from outreach.tokens import recipient_links
from outreach.transports.base import Outcome as SendOutcome
from outreach.transports.base import Transport
from outreach.web import signed
from outreach.web.confirm_mail import ConfirmationMail
from outreach.web.origin import from_elsewhere, origin_of
from outreach.web.pages import Pages
from outreach.web.ratelimit import RateLimiter
from outreach.web.signup import Mail, SignUp, form_consent, sign_up

log = logging.getLogger("outreach.web")

# Sign-ups: 5 at once per IP address, 5 more per 10 minutes. Mails: 3 per address per hour, so a
# list-bomber cycling addresses through many IPs still cannot flood one inbox.
SIGNUPS_PER_IP = (5, 600.0)
MAILS_PER_ADDRESS = (3, 3600.0)


@dataclass
class WebState:
    config: Config
    engine: Engine
    clock: Clock
    pages: Pages
    mail: ConfirmationMail
    signup_limiter: RateLimiter
    mail_limiter: RateLimiter
    _transport: Transport | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def secret(self) -> str:
        """The key that signs new links and forms."""
        return self.config.secret_key

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key whose links and forms still verify (after a rotation, the older ones too)."""
        return self.config.accepted_keys

    @property
    def base_url(self) -> str:
        return self.config.base_url

    def transport(self) -> Transport:
        """The configured transport, built on first use (tests hand one in)."""
        with self._lock:
            if self._transport is None:
                name = transport_name(self.config, None)
                self._transport = build_transport(self.config, name)
            return self._transport

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # --- links ----------------------------------------------------------------------------------

    def links(self, subscriber_id: int) -> RecipientLinks:
        ref = str(subscriber_id)
        links = recipient_links(
            self.base_url, self.secret, ref, "", mailto=self.config.sender.unsubscribe_mailto
        )
        return replace(links, view_online=f"{self.base_url}/archive")

    def confirm_url(self, payload: list[object]) -> str:
        token = signed.sign(self.secret, signed.CONFIRM_SALT, payload, self.clock)
        return f"{self.base_url}/confirm/{token}"

    # --- work done in the thread pool -------------------------------------------------------------

    def sign_up(self, signup: SignUp, ip: str | None, user_agent: str | None) -> Mail:
        """Record the sign-up, then send the mail it calls for (if the address's limit allows)."""
        with transaction(self.engine) as session:
            consent = form_consent(ip, user_agent, notice_version=self.config.settings.web.notice_version)
            outcome = sign_up(session, signup, consent, self.clock)
            recipient = None
            if outcome.subscriber_id is not None:
                subscriber = session.get(Subscriber, outcome.subscriber_id)
                assert subscriber is not None
                recipient = Recipient(subscriber.email or "", subscriber.first_name, subscriber.last_name)
        if outcome.mail is Mail.NONE or recipient is None or outcome.subscriber_id is None:
            return outcome.mail
        if self.mail_limiter.take(recipient.email) > 0:
            log.warning("not mailing a sign-up address again so soon (mail limit)")
            return Mail.NONE
        confirm = self.confirm_url(outcome.confirm) if outcome.mail is Mail.CONFIRM else ""
        message = self.mail.compose(
            outcome.mail, recipient, self.links(outcome.subscriber_id), confirm, self.clock.now()
        )
        try:
            result = self.transport().send([message])[0]
        except Exception:  # a broken transport must not turn a sign-up into an error page
            log.exception("the confirmation mail could not be handed to the transport")
            return Mail.NONE
        if result.outcome is not SendOutcome.SENT:
            log.warning("the confirmation mail was not sent: %s %s", result.code, result.detail)
        return outcome.mail

    def leave(self, subscriber_id: int, consent: Consent) -> bool:
        """Unsubscribe from everything; idempotent. False if there is no such subscriber."""
        with transaction(self.engine) as session:
            subscriber = session.get(Subscriber, subscriber_id)
            if subscriber is None:
                return False
            leaving = subscriber.status in (SubscriberStatus.ACTIVE, SubscriberStatus.UNCONFIRMED)
            if leaving or (subscriber.email and not is_suppressed(session, subscriber.email)):
                unsubscribe(session, subscriber_id, consent=consent, clock=self.clock)
            return True


def client_ip(request: Request) -> str | None:
    """The client's address: the peer's, or the one a trusted proxy named (``[web] trusted_proxies``);
    an ``X-Forwarded-For`` from anyone else is ignored, so rotating it gains nothing."""
    return request.client.host if request.client else None


def user_agent(request: Request) -> str | None:
    return request.headers.get("user-agent")


def same_origin(request: Request, base_url: str) -> bool:
    """False when the browser says the post came from another site: the rule of ``outreach.web.origin``,
    whose middleware already applies it to every form post."""
    return not from_elsewhere(request.headers, {origin_of(base_url), origin_of(str(request.base_url))})
