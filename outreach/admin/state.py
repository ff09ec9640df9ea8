"""What every admin handler shares: the config, the database, the clock, the pages, the policies.

One ``AdminState`` per app, at ``app.state.admin``. Handlers are thin: they read the request, call
one library function (the ones the CLI calls) and render a page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import jinja2
from sqlalchemy.engine import Engine
from starlette.requests import Request
from starlette.responses import HTMLResponse

from outreach.accounts.schema import Role, User
from outreach.accounts.sessions import Expiry
from outreach.accounts.signin import Policy
from outreach.clock import Clock
from outreach.config import Config
from outreach.models import Actor

NO_STORE = {"Cache-Control": "no-store"}
# Pages are ours alone: our stylesheet and script, no inline code, never framed by another site.
ADMIN_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'; object-src 'none'"
)


@dataclass(frozen=True)
class Signed:
    """The user of this request, the role it acts with, its CSRF secret, and how it came."""

    user: User
    role: Role
    csrf: str
    via: str  # "admin" (a browser session) or "api" (a token)


# What ``?done=...`` after a change says at the top of the next page (post, redirect, get).
DONE = {
    "password": "Your password is changed. Your other sessions are signed out.",
    "2fa": "Your second factor is on. You will be asked for a code when you sign in.",
    "2fa-off": "Your second factor is off.",
    "token": "The token is revoked.",
    "user-added": "The user is added. Tell them their password in person or by phone, not by email.",
    "role-changed": "The role is changed; it applies from their next click.",
    "password-set": "The new password is set; they are signed out everywhere.",
    "user-removed": "The user is removed.",
    "sending": "The campaign has started: the app is sending it now, and this page follows its progress.",
    "scheduled": "The issue is scheduled. The scheduler (`outreach scheduler run`) sends it at its time.",
    "campaign-paused": "The campaign is paused. Nothing more is sent until it is resumed.",
    "campaign-resumed": "The campaign is sending again; this page follows its progress.",
    "campaign-cancelled": "The campaign is cancelled. The people not yet sent to will not get it.",
    "campaign-retrying": "The recipients that failed for a passing reason are queued again and being sent.",
    "campaign-resending": "The recipients whose delivery was unknown are queued again and being sent.",
}


@dataclass
class AdminState:
    config: Config
    engine: Engine
    clock: Clock
    env: jinja2.Environment
    sections: list[tuple[str, str, Role]] = field(default_factory=list)

    @property
    def policy(self) -> Policy:
        return Policy(require_2fa_for_admins=self.config.settings.admin.require_2fa)

    @property
    def expiry(self) -> Expiry:
        settings = self.config.settings.admin
        return Expiry(
            idle=timedelta(minutes=settings.session_idle_minutes),
            absolute=timedelta(hours=settings.session_hours),
        )

    @property
    def secure_cookies(self) -> bool:
        return self.config.base_url.startswith("https://")

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        """A page in the admin layout, with the signed-in user (if any), the CSRF field and flashes."""
        signed: Signed | None = getattr(request.state, "signed", None)
        root = str(request.scope.get("root_path", "")).rstrip("/")
        nav = [(href, label) for href, label, role in self.sections if signed and signed.role.allows(role)]
        common = {
            "root": root,
            "nav": nav,
            "org": self.config.organisation,
            "brand": self.config.brand,
            "signed": signed,
            "csrf": signed.csrf if signed else getattr(request.state, "pre_csrf", ""),
            "path": request.url.path,
            "flash": DONE.get(request.query_params.get("done", "")),
            "Role": Role,
        }
        html = self.env.get_template(name).render({**common, **context})
        return HTMLResponse(
            html, status_code=status, headers={**NO_STORE, "Content-Security-Policy": ADMIN_CSP}
        )


def state_of(request: Request) -> AdminState:
    state: AdminState = request.app.state.admin
    return state


def signed_of(request: Request) -> Signed:
    """The signed-in user of a request that passed its route's role check."""
    signed: Signed = request.state.signed
    return signed


def actor_of(request: Request) -> Actor:
    """Who makes a change through this request, for the audit log."""
    signed = signed_of(request)
    return Actor(signed.user.email, signed.via, client_ip(request))


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""
