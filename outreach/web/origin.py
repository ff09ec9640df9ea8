"""One check for every form post: a browser that says the post came from another site is refused.

Each state-changing form (sign-up, confirmation, the unsubscribe button, the preference centre)
also carries a signed CSRF field bound to it; this middleware adds the browser's own word, the
``Origin`` header (or, when a browser sends none, ``Sec-Fetch-Site``), in one place for all of them.

Not checked, on purpose: the RFC 8058 one-click ``POST /u/TOKEN`` (mail providers post it from their
servers, with no ``Origin``, and the unforgeable token is its authority), the webhooks (signed by the
providers) and the JSON API (a browser on another site cannot post JSON here without a CORS
preflight, which this service never approves).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
NOT_CHECKED = re.compile(r"^/(?:u/[^/]+/?|webhooks/.*|api/.*)$")

RefusalPage = Callable[[], bytes]


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, lower-cased, as browsers write ``Origin``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def checked(method: str, path: str) -> bool:
    """Whether a request must come from our own pages."""
    return method.upper() not in SAFE_METHODS and not NOT_CHECKED.match(path)


def from_elsewhere(headers: Headers, own: set[str]) -> bool:
    """True when the browser says the request came from another site."""
    origin = headers.get("origin")
    if origin is not None:
        return origin.strip().rstrip("/").lower() not in own  # "null" (a sandboxed page) is elsewhere
    return headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site")


class SameOrigin:
    """Refuses, with a 403 page, a checked request whose ``Origin`` is not this service's."""

    def __init__(self, app: ASGIApp, base_url: str, refusal_page: RefusalPage) -> None:
        self.app = app
        self.base_origin = origin_of(base_url)
        self.refusal_page = refusal_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not checked(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        here = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}".lower()
        if not from_elsewhere(headers, {self.base_origin, here}):
            await self.app(scope, receive, send)
            return
        page = self.refusal_page()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(page)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": page})
