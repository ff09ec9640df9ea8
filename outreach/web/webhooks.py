"""The providers' webhook endpoints: verify, parse, apply in one transaction, answer in one line.

``POST /webhooks/ses`` (SNS: an allowed topic, Amazon's certificate, a recent Timestamp),
``/webhooks/sendgrid`` (ECDSA-signed, recent), ``/webhooks/postmark`` (basic auth) and
``/webhooks/mailgun`` (HMAC, recent, each token once). Answers: 200 with counts when accepted (an event
seen before is accepted and changes nothing), 400 for a body the provider would never send (not JSON,
NaN, NUL, nested too deep), 401 without credentials, 403 with wrong, stale or already used ones, 404
for a provider this server has no secret or topic for, 413 for an oversized body, 503 when Amazon's
certificate cannot be fetched now (SNS retries). Errors are one-line JSON: ``{"error": "..."}``.
``WEBHOOK_OPENAPI`` describes these paths. Events are applied with ``Trust.PROVIDER`` (see
``outreach.events.identify``): they change somebody only when they name a message we sent them.

Secrets come from the environment (``state_from_config``): OUTREACH_SENDGRID_WEBHOOK_KEY,
OUTREACH_POSTMARK_WEBHOOK_USER and OUTREACH_POSTMARK_WEBHOOK_PASSWORD, OUTREACH_MAILGUN_WEBHOOK_KEY;
the SNS topics from ``[events] ses_topic_arns``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from outreach.audience import transaction
from outreach.clock import Clock, SystemClock
from outreach.config import Config
from outreach.errors import ConfigError
from outreach.events import mailgun, postmark, replay, sendgrid, ses
from outreach.events.apply import Outcome, Trust, apply_events
from outreach.events.model import (
    BadSignature,
    Event,
    EventError,
    MalformedEvent,
    Unauthenticated,
    Unavailable,
)
from outreach.events.sns_http import SnsHttp

MAX_BODY = 5 * 1024 * 1024
"""Bytes; SendGrid batches stay well below, and nothing larger is read into memory."""

ENV_SENDGRID_KEY = "OUTREACH_SENDGRID_WEBHOOK_KEY"
ENV_POSTMARK_USER = "OUTREACH_POSTMARK_WEBHOOK_USER"
ENV_POSTMARK_PASSWORD = "OUTREACH_POSTMARK_WEBHOOK_PASSWORD"
ENV_MAILGUN_KEY = "OUTREACH_MAILGUN_WEBHOOK_KEY"


@functools.cache
def _sns_http() -> SnsHttp:
    return SnsHttp()


def fetch_certificate(url: str) -> bytes:
    """GET an SNS signing certificate (the URL is checked before this is called)."""
    return _sns_http().fetch_certificate(url)


def visit_url(url: str) -> None:
    """GET an SNS SubscribeURL, which confirms the subscription (checked before this is called)."""
    _sns_http().visit(url)


@dataclass(frozen=True)
class WebhookState:
    """What the endpoints need; an empty secret (or no SNS topic) turns that endpoint off (404).

    ``keys`` are the site's accepted keys: they verify the keyed Message-IDs events name."""

    engine: Engine
    keys: tuple[str, ...]
    clock: Clock = field(default_factory=SystemClock)
    sendgrid_key: str = ""
    postmark_user: str = ""
    postmark_password: str = ""
    mailgun_key: str = ""
    max_age: float = replay.MAX_AGE
    ses_topic_arns: Collection[str] = ()
    sns_max_age: float = ses.MAX_AGE
    fetch_certificate: ses.CertFetcher = fetch_certificate
    visit_url: ses.UrlVisitor = visit_url


def state_from_config(config: Config, engine: Engine, clock: Clock | None = None) -> WebhookState:
    """The state from outreach.toml's optional ``[events]`` table and the secrets in the environment."""
    env = config.environ
    return WebhookState(
        engine=engine,
        keys=config.accepted_keys,
        clock=clock or SystemClock(),
        sendgrid_key=env.get(ENV_SENDGRID_KEY, ""),
        postmark_user=env.get(ENV_POSTMARK_USER, ""),
        postmark_password=env.get(ENV_POSTMARK_PASSWORD, ""),
        mailgun_key=env.get(ENV_MAILGUN_KEY, ""),
        ses_topic_arns=tuple(config.settings.events.ses_topic_arns),
    )


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": " ".join(message.split())[:300]}, status_code=status, headers=headers)


_STATUS = ((Unauthenticated, 401), (BadSignature, 403), (MalformedEvent, 400), (Unavailable, 503))


def _apply(
    state: WebhookState, events: list[Event], provider: str, token: str, max_age: float
) -> dict[str, Any]:
    """Use the request's token and apply its events in one transaction: a refused token applies
    nothing, and a failure records no token (so the provider's retry is accepted)."""
    with transaction(state.engine) as session:
        if token:
            replay.use_token(session, provider, token, state.clock.now(), max_age)
        results = apply_events(session, events, state.clock, keys=state.keys, trust=Trust.PROVIDER)
    counted = {outcome.value: 0 for outcome in Outcome}
    for result in results:
        counted[result.outcome.value] += 1
    return {"received": len(events), **counted}


Handler = Callable[[bytes, Mapping[str, str]], dict[str, Any]]


def _endpoint(
    provider: str, handler: Handler | None, challenge: str = ""
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        if handler is None:
            return _error(404, f"the {provider} webhook is not enabled on this server")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY:
            return _error(413, f"the body is larger than {MAX_BODY} bytes")
        body = await request.body()
        if len(body) > MAX_BODY:
            return _error(413, f"the body is larger than {MAX_BODY} bytes")
        try:
            answer = await run_in_threadpool(handler, body, request.headers)
        except EventError as err:
            status = next((code for kind, code in _STATUS if isinstance(err, kind)), 400)
            extra = {"WWW-Authenticate": challenge} if status == 401 and challenge else None
            return _error(status, str(err), extra)
        return JSONResponse(answer)

    return endpoint


def _sendgrid(state: WebhookState) -> Handler | None:
    if not state.sendgrid_key:
        return None
    try:
        key = sendgrid.load_public_key(state.sendgrid_key)
    except ValueError as err:
        raise ConfigError(str(err), key=ENV_SENDGRID_KEY) from err

    def handle(body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
        signature = sendgrid.verify(key, body, headers, state.clock.now(), state.max_age)
        return _apply(state, sendgrid.parse(body), sendgrid.PROVIDER, signature, state.max_age)

    return handle


def _postmark(state: WebhookState) -> Handler | None:
    if not (state.postmark_user and state.postmark_password):
        return None

    def handle(body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
        # Postmark signs nothing and sends no timestamp or token: the password is the credential.
        postmark.verify(state.postmark_user, state.postmark_password, headers.get("authorization", ""))
        return _apply(state, postmark.parse(body), postmark.PROVIDER, "", state.max_age)

    return handle


def _mailgun(state: WebhookState) -> Handler | None:
    if not state.mailgun_key:
        return None

    def handle(body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
        document = mailgun.load(body)
        token = mailgun.verify(state.mailgun_key, document, state.clock.now(), state.max_age)
        return _apply(state, mailgun.parse(document), mailgun.PROVIDER, token, state.max_age)

    return handle


def _ses(state: WebhookState) -> Handler | None:
    if not state.ses_topic_arns:
        return None
    verifier = ses.SnsVerifier(state.fetch_certificate, frozenset(state.ses_topic_arns), state.sns_max_age)

    def handle(body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
        message = ses.load(body)
        verifier.verify(message, state.clock.now())
        kind, message_id = message.get("Type"), str(message.get("MessageId") or "")
        if kind == "SubscriptionConfirmation":
            with transaction(state.engine) as session:
                # Once per message: a replayed confirmation makes no second request to Amazon.
                replay.use_token(session, ses.PROVIDER, message_id, state.clock.now(), state.sns_max_age)
                return {"confirmed": ses.confirm_subscription(message, state.visit_url)}
        if kind == "UnsubscribeConfirmation":
            return {"received": 0}
        return _apply(state, ses.parse(message), ses.PROVIDER, message_id, state.sns_max_age)

    return handle


def webhook_routes(state: WebhookState) -> list[Route]:
    """The four POST routes; mount them in the web app as they are."""
    return [
        Route("/webhooks/ses", _endpoint("ses", _ses(state)), methods=["POST"]),
        Route("/webhooks/sendgrid", _endpoint("sendgrid", _sendgrid(state)), methods=["POST"]),
        Route(
            "/webhooks/postmark",
            _endpoint("postmark", _postmark(state), 'Basic realm="outreach webhooks"'),
            methods=["POST"],
        ),
        Route("/webhooks/mailgun", _endpoint("mailgun", _mailgun(state)), methods=["POST"]),
    ]


# --- OpenAPI ---------------------------------------------------------------------------------------

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}
_ACCEPTED = {
    "type": "object",
    "properties": {
        "received": {"type": "integer", "minimum": 0},
        "applied": {"type": "integer", "minimum": 0},
        "unmatched": {"type": "integer", "minimum": 0},
        "duplicate": {"type": "integer", "minimum": 0},
        "confirmed": {"type": "string"},
    },
}


def _json(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": dict(schema)}}


def _responses(*extra: int) -> dict[str, Any]:
    described = {
        "200": "accepted (an event seen before is accepted and changes nothing)",
        "400": "a body the provider would never send (not JSON, NaN, NUL, nested too deep); nothing applied",
        "401": "no credentials or signature",
        "403": "credentials or signature do not verify, are stale, were already used, or name a topic "
        "this server does not accept",
        "404": "this provider's webhook is not enabled on this server (no secret, or no SNS topic)",
        "413": "the body is too large",
        "503": "the SNS signing certificate cannot be fetched now; SNS retries",
    }
    codes = ["200", "400", "401", "403", "404", "413", *(str(code) for code in extra)]
    return {
        code: {"description": described[code], "content": _json(_ACCEPTED if code == "200" else _ERROR)}
        for code in codes
    }


_SNS_MESSAGE = {
    "type": "object",
    "required": [
        "Type",
        "MessageId",
        "TopicArn",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertURL",
    ],
    "properties": {
        "Type": {
            "type": "string",
            "enum": ["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"],
        },
        "MessageId": {"type": "string"},
        "Token": {"type": "string"},
        "TopicArn": {"type": "string"},
        "Subject": {"type": "string"},
        "Message": {"type": "string", "description": "the SES notification, as a JSON string"},
        "SubscribeURL": {"type": "string"},
        "Timestamp": {"type": "string"},
        "SignatureVersion": {"type": "string", "enum": ["1", "2"]},
        "Signature": {"type": "string"},
        "SigningCertURL": {"type": "string"},
        "UnsubscribeURL": {"type": "string"},
    },
}
_SENDGRID_EVENTS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["email", "timestamp", "event"],
        "properties": {
            "email": {"type": "string"},
            "timestamp": {"type": "integer"},
            "event": {"type": "string"},
            "sg_event_id": {"type": "string"},
            "sg_message_id": {"type": "string"},
            "outreach_key": {"type": "string"},
        },
    },
}
_POSTMARK_RECORD = {
    "type": "object",
    "required": ["RecordType"],
    "properties": {
        "RecordType": {
            "type": "string",
            "enum": ["Bounce", "SpamComplaint", "Delivery", "SubscriptionChange", "Click", "Open"],
        },
        "ID": {"type": "integer"},
        "Type": {"type": "string"},
        "MessageID": {"type": "string"},
        "Email": {"type": "string"},
        "Recipient": {"type": "string"},
        "Metadata": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
_MAILGUN_BODY = {
    "type": "object",
    "required": ["signature", "event-data"],
    "properties": {
        "signature": {
            "type": "object",
            "required": ["timestamp", "token", "signature"],
            "properties": {
                "timestamp": {"type": "string"},
                "token": {"type": "string"},
                "signature": {"type": "string"},
            },
        },
        "event-data": {
            "type": "object",
            "required": ["event", "timestamp"],
            "properties": {
                "event": {"type": "string"},
                "id": {"type": "string"},
                "timestamp": {"type": "number"},
                "recipient": {"type": "string"},
                "severity": {"type": "string"},
                "reason": {"type": "string"},
                "user-variables": {"type": "object"},
            },
        },
    },
}


def _operation(summary: str, operation_id: str, body: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "operationId": operation_id,
            "tags": ["webhooks"],
            "requestBody": {"required": True, "content": body},
            **extra,
        }
    }


WEBHOOK_OPENAPI: dict[str, Any] = {
    "paths": {
        "/webhooks/ses": _operation(
            "Amazon SES notifications through SNS (signature verified; subscriptions confirmed)",
            "webhookSes",
            {"application/json": {"schema": _SNS_MESSAGE}, "text/plain": {"schema": {"type": "string"}}},
            responses=_responses(503),
        ),
        "/webhooks/sendgrid": _operation(
            "SendGrid signed Event Webhook",
            "webhookSendgrid",
            _json(_SENDGRID_EVENTS),
            parameters=[
                {
                    "name": sendgrid.SIGNATURE_HEADER,
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string"},
                },
                {
                    "name": sendgrid.TIMESTAMP_HEADER,
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string"},
                },
            ],
            responses=_responses(),
        ),
        "/webhooks/postmark": _operation(
            "Postmark webhooks (HTTP basic auth)",
            "webhookPostmark",
            _json(_POSTMARK_RECORD),
            responses=_responses(),
        ),
        "/webhooks/mailgun": _operation(
            "Mailgun webhooks (HMAC signature in the body)",
            "webhookMailgun",
            _json(_MAILGUN_BODY),
            responses=_responses(),
        ),
    }
}
"""An OpenAPI 3.0 fragment, ``{"paths": {...}}``, for the routes above; ``outreach.web.openapi.document``
merges it into the app's /openapi.json."""
