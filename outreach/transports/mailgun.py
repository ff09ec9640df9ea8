"""Mailgun: ``POST /v3/DOMAIN/messages.mime``, our own MIME bytes, one request per message.

Sending the composed MIME keeps every header exactly as built (List-Unsubscribe, Message-ID, a DKIM
signature if we add one); ``to`` is the envelope recipient. Mailgun has no batch form for distinct MIME
messages. The answer's ``id`` (without its angle brackets) is the provider id; the ledger key travels
as the user variable ``v:outreach_key``. Accounts live in a region: "us" (api.mailgun.net) or "eu".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from outreach.clock import Clock
from outreach.transports.base import Outcome, OutgoingMessage, SendResult, one_line
from outreach.transports.http import HttpRequest, HttpTransport

REGION_URLS = {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"}


class MailgunTransport(HttpTransport):
    backend = "mailgun"

    def __init__(
        self,
        name: str,
        domain: str,
        api_key: str,
        base_url: str = REGION_URLS["us"],
        timeout: float = 30.0,
        max_batch: int = 50,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(name, base_url, timeout, max_batch, clock)
        self.domain = domain
        self._api_key = api_key

    def client_options(self) -> dict[str, Any]:
        return {"auth": httpx.BasicAuth("api", self._api_key)}

    def build(self, chunk: Sequence[OutgoingMessage]) -> HttpRequest:
        (message,) = chunk
        return HttpRequest(
            f"/v3/{self.domain}/messages.mime",
            data={"to": message.recipient, "v:outreach_key": message.key},
            files={"message": ("message.eml", message.raw, "message/rfc822")},
        )

    def accepted(self, response: httpx.Response, chunk: Sequence[OutgoingMessage]) -> list[SendResult]:
        (message,) = chunk
        try:
            body = response.json()
        except ValueError:
            body = {}
        provider_id = str(body.get("id", "")).strip("<>") if isinstance(body, dict) else ""
        text = str(body.get("message", "queued")) if isinstance(body, dict) else "queued"
        return [
            SendResult(message.key, Outcome.SENT, f"HTTP {response.status_code}", one_line(text), provider_id)
        ]
