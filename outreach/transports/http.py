"""What every ESP's HTTP API has in common: one pooled httpx client, timeouts, 429 and Retry-After.

Each ESP module supplies three hooks, as django-anymail's do: ``build`` turns a chunk of messages into
one request, ``accepted`` reads the per-message results out of a 2xx answer, and optionally
``provider_outcome`` maps the provider's own error codes. Everything else is decided here, the same way
for every provider:

==========================  ========  ===========================================================
what happened               outcome   note
==========================  ========  ===========================================================
2xx                         (hook)    the provider's message id per recipient
401, 403                    BLOCKED   bad key or suspended account: pause, someone must act
429                         RETRY     ``retry_after`` from Retry-After (seconds or an HTTP date)
408, 5xx                    RETRY     ``retry_after`` from Retry-After when the provider sends one
other 4xx                   REJECTED  validation: the provider's message in ``detail``
connect error / timeout     RETRY     nothing reached the provider
read timeout, no answer     RETRY     ``uncertain``: the request was sent and may have been accepted
==========================  ========  ===========================================================

After a RETRY or BLOCKED that concerns the whole request (429, 5xx, 401, a timeout) the rest of the
batch is not attempted: hammering a provider that is rate-limiting or down only makes things worse.
Nothing is retried inside the transport; httpx itself never retries a request that was sent.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from outreach.clock import Clock, SystemClock
from outreach.errors import TransportError
from outreach.transports.base import (
    Outcome,
    OutgoingMessage,
    Receipts,
    SendResult,
    Transport,
    not_attempted,
    one_line,
    stopped,
)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One POST to the provider, built by an ESP's ``build`` hook."""

    path: str
    json: Any = None
    data: Mapping[str, str] | None = None
    files: Mapping[str, tuple[str, bytes, str]] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


class HttpTransport(Transport):
    """Base of the ESP transports: subclasses set ``backend`` and ``per_request`` and write the hooks."""

    per_request = 1  # messages per HTTP request (Postmark's batch endpoint takes 500)

    def __init__(
        self,
        name: str,
        base_url: str,
        timeout: float = 30.0,
        max_batch: int = 50,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(name)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_batch = max_batch
        self.clock: Clock = clock or SystemClock()
        self._client: httpx.Client | None = None

    # -- hooks ----------------------------------------------------------------------------------------

    def client_options(self) -> dict[str, Any]:
        """Authentication and default headers for the client (``headers=``, ``auth=``)."""
        return {}

    @abc.abstractmethod
    def build(self, chunk: Sequence[OutgoingMessage]) -> HttpRequest:
        """The request that sends ``chunk`` (``per_request`` messages at most)."""

    @abc.abstractmethod
    def accepted(self, response: httpx.Response, chunk: Sequence[OutgoingMessage]) -> list[SendResult]:
        """Per-message results from a 2xx answer."""

    def provider_outcome(self, response: httpx.Response, body: Any) -> Outcome | None:
        """The outcome the provider's own error code implies, or None to go by the HTTP status."""
        return None

    # -- the shared part ------------------------------------------------------------------------------

    def open(self) -> None:
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.base_url,
                timeout=httpx.Timeout(self.timeout),
                follow_redirects=False,
                **self.client_options(),
            )

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def deliver(self, messages: Sequence[OutgoingMessage], receipts: Receipts) -> None:
        """One request per ``per_request`` messages, each request announced before it is posted and
        its messages answered when its response is read."""
        self.open()
        halt: SendResult | None = None
        for start in range(0, len(messages), self.per_request):
            chunk = messages[start : start + self.per_request]
            if halt is None and not receipts.handing(chunk):
                halt = stopped(chunk[0].key)
            if halt is not None:
                for message in chunk:
                    receipts.answered(not_attempted(message, halt))
                continue
            chunk_results, halt = self._post(chunk)
            for result in chunk_results:
                receipts.answered(result)

    @property
    def endpoint(self) -> str:
        return self.base_url

    def _post(self, chunk: Sequence[OutgoingMessage]) -> tuple[list[SendResult], SendResult | None]:
        """Results for the chunk, and the result that should halt the batch (if any)."""
        client = self._client
        if client is None:
            raise TransportError("send() after close()", provider=self.backend, endpoint=self.base_url)
        request = self.build(chunk)
        try:
            response = client.post(
                request.path,
                json=request.json,
                data=request.data,
                files=request.files,
                headers=request.headers,
            )
        except httpx.HTTPError as err:
            failure = self._exception(err, request.path)
            return [_for(message, failure) for message in chunk], failure
        if response.is_success:
            return self.accepted(response, chunk), None
        failure = self.failure(response)
        halts = failure.outcome in (Outcome.RETRY, Outcome.BLOCKED)
        return [_for(message, failure) for message in chunk], failure if halts else None

    def _exception(self, err: httpx.HTTPError, path: str) -> SendResult:
        where = f"{self.base_url}{path}"
        if isinstance(err, httpx.ReadTimeout):
            detail = f"{where}: no answer within {self.timeout:g} s; the message may have been accepted"
            return SendResult("", Outcome.RETRY, "timeout", detail, uncertain=True)
        if isinstance(err, httpx.RemoteProtocolError):
            detail = (
                f"{where}: connection closed without an answer ({err}); the message may have been accepted"
            )
            return SendResult("", Outcome.RETRY, "disconnected", detail, uncertain=True)
        if isinstance(err, httpx.TimeoutException):
            return SendResult("", Outcome.RETRY, "timeout", f"{where}: timed out before the request was sent")
        return SendResult("", Outcome.RETRY, "connect", f"{where}: {type(err).__name__}: {err}")

    def failure(self, response: httpx.Response) -> SendResult:
        """The result a non-2xx answer gives every message of its request."""
        body = _json(response)
        status = response.status_code
        outcome = self.provider_outcome(response, body) or classify_http(status)
        retry_after = None
        if outcome is Outcome.RETRY:
            retry_after = parse_retry_after(response.headers.get("Retry-After", ""), self.clock)
        detail = error_message(body) or one_line(response.text) or response.reason_phrase
        return SendResult("", outcome, f"HTTP {status}", one_line(detail), retry_after=retry_after)


def classify_http(status: int) -> Outcome:
    """The outcome of an HTTP status when the provider's body says nothing more specific."""
    if 200 <= status < 300:
        return Outcome.SENT
    if status in (401, 403):
        return Outcome.BLOCKED
    if status in (408, 429) or status >= 500:
        return Outcome.RETRY
    return Outcome.REJECTED


def parse_retry_after(value: str, clock: Clock) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date (RFC 9110 10.2.3)."""
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - clock.now()).total_seconds())


def error_message(body: Any) -> str:
    """The human part of a provider's error body: SendGrid ``errors``, Postmark ``Message``, ``message``."""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            parts = []
            for item in errors:
                if isinstance(item, dict):
                    where = f"{item['field']}: " if item.get("field") else ""
                    parts.append(f"{where}{item.get('message', '')}")
            return "; ".join(parts)
        for key in ("Message", "message", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return ""


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _for(message: OutgoingMessage, result: SendResult) -> SendResult:
    return SendResult(
        message.key,
        result.outcome,
        result.code,
        result.detail,
        result.provider_id,
        result.retry_after,
        result.uncertain,
    )
