"""Headers every response carries, and the cap on request bodies; both as plain ASGI middleware.

Pages run no script at all, so the policy forbids scripts outright. Nothing may be framed, except
the embeddable sign-up form, whose handler sets its own policy (a handler's own
``Content-Security-Policy`` wins, and then no ``X-Frame-Options`` is added either).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 64 * 1024
# Providers batch their webhook events (SendGrid posts up to thousands at once): those paths get more.
WEBHOOK_PREFIX = "/webhooks/"
MAX_WEBHOOK_BODY = 8 * 1024 * 1024

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


class _TooLarge(Exception):
    pass


ErrorPage = Callable[[int, str, str], bytes]


class BodyLimit:
    """Refuses bodies over ``limit`` bytes with 413, by Content-Length or by counting as they come."""

    def __init__(
        self,
        app: ASGIApp,
        error_page: ErrorPage,
        limit: int = MAX_BODY,
        webhook_limit: int = MAX_WEBHOOK_BODY,
    ) -> None:
        self.app = app
        self.limit = limit
        self.webhook_limit = webhook_limit
        self.error_page = error_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.webhook_limit if str(scope.get("path", "")).startswith(WEBHOOK_PREFIX) else self.limit
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await self._refuse(send, 400, "That request could not be read.")
                return
            if int(declared) > limit:
                await self._refuse(send, 413, "That was more than this page accepts.")
                return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watch)
        except _TooLarge:
            if not started:
                await self._refuse(send, 413, "That was more than this page accepts.")

    async def _refuse(self, send: Send, status: int, message: str) -> None:
        body = self.error_page(status, "Too much" if status == 413 else "Bad request", message)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
