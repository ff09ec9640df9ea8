"""Headers every response carries, as plain ASGI middleware (request bodies: ``outreach.web.guard``).

Pages run no script at all, so the policy forbids scripts outright. Nothing may be framed, except
the embeddable sign-up form, whose handler sets its own policy (a handler's own
``Content-Security-Policy`` wins, and then no ``X-Frame-Options`` is added either).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_CSP = (
    "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data: https:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
# The archived mail is the mail's own HTML: inline styles (premailer), remote images, no script.
ARCHIVE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; font-src https:; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)


def embed_csp(ancestors: str) -> str:
    """The policy of the embeddable form: like every page, but framable by ``ancestors``."""
    return PAGE_CSP.replace("frame-ancestors 'none'", f"frame-ancestors {ancestors}")


COMMON = (
    ("X-Content-Type-Options", "nosniff"),
    # Our URLs carry signed tokens: never hand them to another site in a Referer header (and
    # "no-referrer" would make browsers send "Origin: null" on our own form posts).
    ("Referrer-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)


class SecurityHeaders:
    """Adds CSP, framing, sniffing and referrer headers unless the handler chose its own."""

    def __init__(self, app: ASGIApp, https: bool = False) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = PAGE_CSP
                    headers["X-Frame-Options"] = "DENY"
                for name, value in COMMON:
                    if name.lower() not in headers:
                        headers[name] = value
                if self.https:
                    headers["Strict-Transport-Security"] = "max-age=31536000"
            await send(message)

        await self.app(scope, receive, send_with_headers)
