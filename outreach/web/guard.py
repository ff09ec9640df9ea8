"""The gate every request body passes before any handler sees it: size, shape, and no NUL.

Handlers parse small forms and JSON documents with the standard library, whose parsers recurse: a
20 kB body of nested brackets or of multipart parts inside multipart parts exhausts the stack, and
PostgreSQL refuses text holding NUL. Rather than trust every handler (ours and the webhooks') to
catch each of these, the body is read here once, bounded, and refused with a 400 or 413 page when:

- it is larger than the route's limit (64 KB; 8 MB under ``/webhooks/``), declared or counted;
- it is JSON (by type, or by its first character: SNS posts JSON as text/plain) nested deeper than
  ``MAX_DEPTH``, holding NaN or Infinity (not JSON, and not storable), or a NUL character;
- it is a form (url-encoded or multipart) holding a NUL, or a multipart body with a multipart part
  (we accept text fields only).

The checked body is then handed to the app unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 64 * 1024
# Providers batch their webhook events (SendGrid posts up to thousands at once): those paths get more.
WEBHOOK_PREFIX = "/webhooks/"
MAX_WEBHOOK_BODY = 8 * 1024 * 1024
# The admin app takes CSV uploads (an export of 100,000 members is about 10 MB); its pages parse
# their own forms after signing the user in.
ADMIN_PREFIX = "/admin/"
MAX_ADMIN_BODY = 64 * 1024 * 1024
MAX_DEPTH = 32

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")
_NOT_A_NUMBER = re.compile(rb"(?<![\w.])-?(?:NaN|Infinity)(?![\w.])")
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)
_PERCENT_NUL = re.compile(rb"%00")
_NESTED_MULTIPART = re.compile(rb"(?im)^content-type:[ \t]*multipart/")

# (path, status, message) -> (content type, body): a page for people, JSON for the API and webhooks.
ErrorBody = Callable[[str, int, str], tuple[str, bytes]]


class Refused(Exception):
    """The body may not reach a handler; ``status`` and a message a visitor understands."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def check_json(body: bytes) -> None:
    """Refuse a JSON document too deep to parse safely, or holding NaN, Infinity or NUL."""
    if b"\x00" in body:
        raise Refused(400, "The body holds a NUL character.")
    outside = _JSON_STRING.sub(b'""', body)
    if _NOT_A_NUMBER.search(outside):
        raise Refused(400, "The body is not JSON: NaN and Infinity are not numbers in JSON.")
    if b"\\u0000" in body.lower() and any(
        _ESCAPED_NUL.search(s.group(0)) for s in _JSON_STRING.finditer(body)
    ):
        raise Refused(400, "The body holds a NUL character.")
    depth = 0
    for bracket in _BRACKET.finditer(outside):
        depth += 1 if bracket.group(0) in (b"[", b"{") else -1
        if depth > MAX_DEPTH:
            raise Refused(400, f"The body is nested more than {MAX_DEPTH} levels deep.")


def check_form(kind: str, body: bytes) -> None:
    """Refuse a form holding a NUL character, or a multipart form with multipart parts inside."""
    if b"\x00" in body or (kind == "application/x-www-form-urlencoded" and _PERCENT_NUL.search(body)):
        raise Refused(400, "The form holds a NUL character.")
    if kind.startswith("multipart/") and _NESTED_MULTIPART.search(body):
        raise Refused(400, "The form holds a multipart part; only text fields are accepted.")


def check_body(content_type: str, body: bytes) -> None:
    """Every check that applies to a body of ``content_type``; Refused for the first that fails."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json") or body.lstrip()[:1] in (b"{", b"["):
        check_json(body)
    if kind in ("application/x-www-form-urlencoded", "") or kind.startswith("multipart/"):
        check_form(kind or "application/x-www-form-urlencoded", body)


class RequestGuard:
    """Reads each request body (bounded), checks it, and replays it to the app."""

    def __init__(
        self,
        app: ASGIApp,
        error_body: ErrorBody,
        limit: int = MAX_BODY,
        webhook_limit: int = MAX_WEBHOOK_BODY,
    ) -> None:
        self.app = app
        self.limit = limit
        self.webhook_limit = webhook_limit
        self.error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        limit = self.limit
        if path.startswith(WEBHOOK_PREFIX):
            limit = self.webhook_limit
        elif path.startswith(ADMIN_PREFIX):
            limit = MAX_ADMIN_BODY
        headers = Headers(scope=scope)
        try:
            body, disconnected = await _read(headers.get("content-length"), receive, limit)
            check_body(headers.get("content-type", ""), body)
        except Refused as refused:
            await self._refuse(send, str(scope.get("path", "")), refused)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if disconnected:
                return {"type": "http.disconnect"}
            if replayed:  # the body has been handed over: what follows is the client going away
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, path: str, refused: Refused) -> None:
        content_type, page = self.error_body(path, refused.status, refused.message)
        await send(
            {
                "type": "http.response.start",
                "status": refused.status,
                "headers": [
                    (b"content-type", content_type.encode("latin-1")),
                    (b"content-length", str(len(page)).encode()),
                    (b"cache-control", b"no-store"),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": page})


async def _read(declared: str | None, receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The whole body, refused past ``limit``; and whether the client went away meanwhile."""
    if declared is not None:
        if not declared.isdigit():
            raise Refused(400, "That request could not be read.")
        if int(declared) > limit:
            raise Refused(413, "That was more than this page accepts.")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), True
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Refused(413, "That was more than this page accepts.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False
