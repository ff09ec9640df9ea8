"""SendGrid's v3 Web API: ``POST /v3/mail/send``, one request per message.

The endpoint can carry up to 1,000 personalizations, but they share one body and differ only by
substitution tags; our messages are already personalised (their own unsubscribe links, their own
Message-ID), so one request per message is the only honest mapping. The provider's id is the
``X-Message-Id`` header of the 202; the ledger key travels as the custom arg ``outreach_key`` so event
webhooks can be matched back to the row. SendGrid builds the MIME itself from the JSON fields and
manages the return path, so ``raw`` and ``envelope_from`` are not used.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.header import decode_header, make_header
from email.utils import parseaddr
from typing import Any

import httpx

from outreach.clock import Clock
from outreach.transports.base import Outcome, OutgoingMessage, SendResult
from outreach.transports.http import HttpRequest, HttpTransport

DEFAULT_BASE_URL = "https://api.sendgrid.com"
# SendGrid refuses these in "headers"; Reply-To has its own field.
_RESERVED = {"reply-to", "to", "from", "subject", "cc", "bcc", "content-type", "content-transfer-encoding"}


class SendgridTransport(HttpTransport):
    backend = "sendgrid"

    def __init__(
        self,
        name: str,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
        max_batch: int = 50,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(name, base_url, timeout, max_batch, clock)
        self._api_key = api_key

    def client_options(self) -> dict[str, Any]:
        return {"headers": {"Authorization": f"Bearer {self._api_key}"}}

    def build(self, chunk: Sequence[OutgoingMessage]) -> HttpRequest:
        (message,) = chunk
        return HttpRequest("/v3/mail/send", json=payload(message))

    def accepted(self, response: httpx.Response, chunk: Sequence[OutgoingMessage]) -> list[SendResult]:
        (message,) = chunk
        provider_id = response.headers.get("X-Message-Id", "")
        return [
            SendResult(message.key, Outcome.SENT, f"HTTP {response.status_code}", "accepted", provider_id)
        ]


def payload(message: OutgoingMessage) -> dict[str, Any]:
    """The JSON body for one message; text/plain must come before text/html."""
    to_name, _ = _mailbox(message.to_header)
    body: dict[str, Any] = {
        "personalizations": [
            {
                "to": [_address(message.recipient, to_name)],
                "custom_args": {"outreach_key": message.key},
            }
        ],
        "from": _address(*reversed(_mailbox(message.from_header))),
        "subject": message.subject,
        "content": [{"type": "text/plain", "value": message.text}]
        + ([{"type": "text/html", "value": message.html}] if message.html else []),  # none when plain
    }
    reply_to = message.header("Reply-To")
    if reply_to:
        body["reply_to"] = _address(*reversed(_mailbox(reply_to)))
    headers = {name: value for name, value in message.headers if name.lower() not in _RESERVED}
    if headers:
        body["headers"] = headers
    return body


def _mailbox(header: str) -> tuple[str, str]:
    """(display name, address) of a header as written on the wire: SendGrid takes the name as plain
    text and encodes it itself, so an RFC 2047 name ("=?utf-8?q?Mar=C3=ADa?=") is decoded first;
    otherwise readers would see the encoded form."""
    name, address = parseaddr(header)
    if "=?" in name:
        name = str(make_header(decode_header(name)))
    return name, address


def _address(email: str, name: str = "") -> dict[str, str]:
    return {"email": email, "name": name} if name else {"email": email}
