"""What every handler shares: config, database, clock, pages, the per-IP limit, the mail queue.

One ``WebState`` per app, kept at ``app.state.web``. Handlers stay thin: they read the request, call
a function here or in ``signup``, and render a page. Database work runs in the thread pool; mail is
never sent by a request: a sign-up is queued (``outreach.web.system_mails``) and the mail worker
sends it, so a slow SMTP server never holds up an answer.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from starlette.requests import Request

from outreach.audience import Consent, is_suppressed, transaction, unsubscribe
from outreach.audience.schema import STILL_WRITTEN_TO, Subscriber
from outreach.clock import Clock
from outreach.config import Config
from outreach.delivery.wiring import build_transport, transport_name
from outreach.models import RecipientLinks
from outreach.transports.base import Transport
from outreach.web.confirm_mail import ConfirmationMail
from outreach.web.links import confirm_url, subscriber_links
from outreach.web.mail_worker import MailWorker
from outreach.web.origin import from_elsewhere, origin_of
from outreach.web.pages import Pages
from outreach.web.ratelimit import RateLimiter
from outreach.web.signup import SignUp
from outreach.web.system_mails import MAILS_PER_ADDRESS, SystemMailer, receive

log = logging.getLogger("outreach.web")

# Sign-ups: 5 at once per IP address, 5 more per 10 minutes. Mails per address: see system_mails.
SIGNUPS_PER_IP = (5, 600.0)
__all__ = ["MAILS_PER_ADDRESS", "SIGNUPS_PER_IP", "WebState", "client_ip", "same_origin", "user_agent"]


@dataclass
class WebState:
    config: Config
    engine: Engine
    clock: Clock
    pages: Pages
    mail: ConfirmationMail
    signup_limiter: RateLimiter
    default_topics: tuple[str, ...] = ()
    _transport: Transport | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    mailer: SystemMailer = field(init=False)
    worker: MailWorker = field(init=False)

    def __post_init__(self) -> None:
        self.mailer = SystemMailer(self.config, self.engine, self.clock, self.transport, self.mail)
        self.worker = MailWorker(self.mailer)

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

    @property
    def languages(self) -> tuple[str, ...]:
        """The site's language keys; the first is the default."""
        return tuple(choice.key for choice in self.config.settings.audience.languages)

    def subscriber_language(self, subscriber_id: int) -> str | None:
        """The language a subscriber chose (pages opened from their links speak it)."""
        with transaction(self.engine) as session:
            subscriber = session.get(Subscriber, subscriber_id)
            return None if subscriber is None else subscriber.language

    def transport(self) -> Transport:
        """The configured transport, built on first use (tests hand one in)."""
        with self._lock:
            if self._transport is None:
                name = transport_name(self.config, None)
                self._transport = build_transport(self.config, name)
            return self._transport

    def close(self) -> None:
        self.worker.stop()
        if self._transport is not None:
            self._transport.close()

    # --- links ----------------------------------------------------------------------------------

    def links(self, subscriber_id: int) -> RecipientLinks:
        return subscriber_links(self.config, subscriber_id)

    def confirm_url(self, payload: list[object]) -> str:
        return confirm_url(self.config, self.clock, payload)

    # --- work done in the thread pool -------------------------------------------------------------

    def receive_sign_up(self, signup: SignUp, ip: str | None, user_agent: str | None) -> None:
        """Queue the sign-up: the same one write for every address; the mail worker does the rest."""
        with transaction(self.engine) as session:
            notice = self.config.settings.web.notice_version
            receive(session, signup, ip, user_agent, notice, self.clock.now())
        self.worker.wake()

    def leave(self, subscriber_id: int, consent: Consent) -> bool:
        """Unsubscribe from everything; idempotent. False if there is no such subscriber."""
        with transaction(self.engine) as session:
            subscriber = session.get(Subscriber, subscriber_id)
            if subscriber is None:
                return False
            leaving = subscriber.status in STILL_WRITTEN_TO
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
