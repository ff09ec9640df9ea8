"""Postmark: ``POST /email/batch``, up to 500 messages a request, a result per message.

The batch endpoint answers 200 even when some messages fail; each entry of the answer (in request
order) carries an ``ErrorCode`` (0 is success) and a ``MessageID``. Bulk mail must go through a
broadcast message stream (``message_stream``, default "broadcast"). Postmark builds the MIME from the
JSON fields and manages the return path, so ``raw`` and ``envelope_from`` are not used; the ledger key
travels as ``Metadata.outreach_key``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from outreach.clock import Clock
from outreach.transports.base import Outcome, OutgoingMessage, SendResult, one_line
from outreach.transports.http import HttpRequest, HttpTransport

DEFAULT_BASE_URL = "https://api.postmarkapp.com"
BATCH_LIMIT = 500

# Postmark API error codes (developer docs, "API error codes") and what they mean for us.
ERROR_CODES: dict[int, Outcome] = {
    0: Outcome.SENT,
    10: Outcome.BLOCKED,  # bad or missing API token
    100: Outcome.RETRY,  # maintenance
    300: Outcome.REJECTED,  # invalid email request
    400: Outcome.BLOCKED,  # sender signature not found
    401: Outcome.BLOCKED,  # sender signature not confirmed
    402: Outcome.REJECTED,  # invalid JSON
    403: Outcome.REJECTED,  # incompatible JSON
    405: Outcome.BLOCKED,  # not allowed to send (out of credits)
    406: Outcome.BOUNCED,  # inactive recipient: hard bounced, complained or unsubscribed there
    409: Outcome.REJECTED,  # JSON required
    410: Outcome.REJECTED,  # too many batch messages
    411: Outcome.REJECTED,  # forbidden attachment type
    412: Outcome.BLOCKED,  # account pending
    413: Outcome.BLOCKED,  # account may not send
    429: Outcome.RETRY,  # rate limit exceeded
    1235: Outcome.BLOCKED,  # message stream not found
}
_HEADERS_OWN_FIELD = {"reply-to"}


class PostmarkTransport(HttpTransport):
    backend = "postmark"
    per_request = BATCH_LIMIT

    def __init__(
        self,
        name: str,
        server_token: str,
        base_url: str = DEFAULT_BASE_URL,
        message_stream: str = "broadcast",
        timeout: float = 30.0,
        max_batch: int = BATCH_LIMIT,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(name, base_url, timeout, max_batch, clock)
        self.per_request = min(BATCH_LIMIT, max_batch)
        self.message_stream = message_stream
        self._token = server_token

    def client_options(self) -> dict[str, Any]:
        return {"headers": {"X-Postmark-Server-Token": self._token, "Accept": "application/json"}}

    def build(self, chunk: Sequence[OutgoingMessage]) -> HttpRequest:
        return HttpRequest("/email/batch", json=[self.payload(message) for message in chunk])

    def payload(self, message: OutgoingMessage) -> dict[str, Any]:
        body: dict[str, Any] = {
            "From": message.from_header,
            "To": message.to_header or message.recipient,
            "Subject": message.subject,
            "TextBody": message.text,
            "MessageStream": self.message_stream,
            "Metadata": {"outreach_key": message.key},
            "Headers": [
                {"Name": name, "Value": value}
                for name, value in message.headers
                if name.lower() not in _HEADERS_OWN_FIELD
            ],
        }
        if message.html:  # a text-only message (``template: plain``) has none
            body["HtmlBody"] = message.html
        reply_to = message.header("Reply-To")
        if reply_to:
            body["ReplyTo"] = reply_to
        return body

    def accepted(self, response: httpx.Response, chunk: Sequence[OutgoingMessage]) -> list[SendResult]:
        try:
            entries = response.json()
        except ValueError:
            entries = None
        if not isinstance(entries, list) or len(entries) != len(chunk):
            # Postmark took the request but the answer is unreadable: some messages may have gone.
            detail = f"unexpected batch answer: {one_line(response.text, 200)}"
            return [
                SendResult(m.key, Outcome.RETRY, f"HTTP {response.status_code}", detail, uncertain=True)
                for m in chunk
            ]
        return [_entry(message, entry) for message, entry in zip(chunk, entries, strict=True)]

    def provider_outcome(self, response: httpx.Response, body: Any) -> Outcome | None:
        if isinstance(body, dict) and isinstance(body.get("ErrorCode"), int) and response.status_code == 422:
            return ERROR_CODES.get(body["ErrorCode"])
        return None


def _entry(message: OutgoingMessage, entry: Any) -> SendResult:
    if not isinstance(entry, dict):
        return SendResult(
            message.key, Outcome.RETRY, "Postmark", f"unexpected entry {entry!r}", uncertain=True
        )
    code = entry.get("ErrorCode")
    text = one_line(str(entry.get("Message", "")))
    if code == 0:
        return SendResult(message.key, Outcome.SENT, "Postmark 0", text, str(entry.get("MessageID", "")))
    outcome = ERROR_CODES.get(code, Outcome.REJECTED) if isinstance(code, int) else Outcome.REJECTED
    return SendResult(message.key, outcome, f"Postmark {code}", text)
