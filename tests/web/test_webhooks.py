"""The providers' webhooks over HTTP: captured payloads applied, forgeries refused, replays harmless.

Each provider's endpoint is posted payloads shaped like its documented examples (tests/events/payloads),
signed the way the provider signs them with keys made here; a shared parametrised suite checks that
missing, wrong, tampered and stale credentials are refused and write nothing; schemathesis fuzzes the
endpoints from ``WEBHOOK_OPENAPI`` behind a test-side signer, so the parsers see the fuzz, not just the
signature check. Both databases where the database is involved.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from outreach.audience import SubscriberStatus, make_engine
from outreach.clock import FixedClock
from outreach.web.webhooks import WEBHOOK_OPENAPI, WebhookState, webhook_routes
from tests.events.fixtures import (  # noqa: F401 - the events tests' databases (both backends) override web's
    Ledger,
    Sent,
    backend_fixture,
    clock_fixture,
    engine_fixture,
    ledger_fixture,
    migrate,
    sqlite_template_fixture,
)
from tests.events.signing import (
    MAILGUN_KEY,
    NOW,
    POSTMARK_PASSWORD,
    POSTMARK_USER,
    SendgridSigner,
    SnsSigner,
    basic_auth,
    mailgun_sign,
    payload,
    payload_text,
)
from tests.web.conftest import send_case

Request = tuple[bytes, dict[str, str]]


@dataclass
class Hooks:
    client: TestClient
    sendgrid: SendgridSigner
    sns: SnsSigner

    def post(self, provider: str, request: Request) -> Any:
        body, headers = request
        return self.client.post(f"/webhooks/{provider}", content=body, headers=headers)


def _app(state: WebhookState) -> Starlette:
    return Starlette(routes=webhook_routes(state))


def _state(engine: Engine, clock: FixedClock, sendgrid: SendgridSigner, sns: SnsSigner) -> WebhookState:
    return WebhookState(
        engine=engine,
        clock=clock,
        sendgrid_key=sendgrid.public_key,
        postmark_user=POSTMARK_USER,
        postmark_password=POSTMARK_PASSWORD,
        mailgun_key=MAILGUN_KEY,
        fetch_certificate=sns.fetch,
        visit_url=sns.visit,
    )


@pytest.fixture
def hooks(engine: Engine, clock: FixedClock) -> Iterator[Hooks]:
    sendgrid, sns = SendgridSigner(), SnsSigner()
    with TestClient(_app(_state(engine, clock, sendgrid, sns)), raise_server_exceptions=True) as client:
        yield Hooks(client, sendgrid, sns)


# -- signed requests, one builder per provider ----------------------------------------------------------


def sendgrid_request(hooks: Hooks, name: str, sent: Sent) -> Request:
    body = payload_text(name, **sent.values).encode()
    return body, hooks.sendgrid.headers(body)


def postmark_request(hooks: Hooks, name: str, sent: Sent) -> Request:
    return payload_text(name, **sent.values).encode(), basic_auth()


def mailgun_request(hooks: Hooks, name: str, sent: Sent) -> Request:
    return json.dumps(mailgun_sign(payload(name, **sent.values))).encode(), {
        "Content-Type": "application/json"
    }


def ses_request(hooks: Hooks, name: str, sent: Sent) -> Request:
    message = hooks.sns.notification(
        payload(name, **sent.values), message_id=f"sns-{name}-{sent.delivery_id}"
    )
    return json.dumps(message).encode(), {"Content-Type": "text/plain; charset=UTF-8"}


BUILDERS: dict[str, Callable[[Hooks, str, Sent], Request]] = {
    "sendgrid": sendgrid_request,
    "postmark": postmark_request,
    "mailgun": mailgun_request,
    "ses": ses_request,
}
HARD_BOUNCE = {
    "sendgrid": "sendgrid_bounce.json",
    "postmark": "postmark_bounce.json",
    "mailgun": "mailgun_failed_permanent.json",
    "ses": "ses_bounce.json",
}

# (provider, payload, the subscriber's status afterwards)
CAPTURED = [
    ("sendgrid", "sendgrid_bounce.json", SubscriberStatus.BOUNCED),
    ("sendgrid", "sendgrid_blocked.json", SubscriberStatus.ACTIVE),
    ("sendgrid", "sendgrid_spamreport.json", SubscriberStatus.COMPLAINED),
    ("sendgrid", "sendgrid_unsubscribe.json", SubscriberStatus.UNSUBSCRIBED),
    ("sendgrid", "sendgrid_batch.json", SubscriberStatus.ACTIVE),
    ("postmark", "postmark_bounce.json", SubscriberStatus.BOUNCED),
    ("postmark", "postmark_soft_bounce.json", SubscriberStatus.ACTIVE),
    ("postmark", "postmark_spam_complaint.json", SubscriberStatus.COMPLAINED),
    ("postmark", "postmark_delivery.json", SubscriberStatus.ACTIVE),
    ("postmark", "postmark_subscription_change.json", SubscriberStatus.UNSUBSCRIBED),
    ("postmark", "postmark_click.json", SubscriberStatus.ACTIVE),
    ("mailgun", "mailgun_failed_permanent.json", SubscriberStatus.BOUNCED),
    ("mailgun", "mailgun_failed_temporary.json", SubscriberStatus.ACTIVE),
    ("mailgun", "mailgun_delivered.json", SubscriberStatus.ACTIVE),
    ("mailgun", "mailgun_complained.json", SubscriberStatus.COMPLAINED),
    ("mailgun", "mailgun_unsubscribed.json", SubscriberStatus.UNSUBSCRIBED),
    ("ses", "ses_bounce.json", SubscriberStatus.BOUNCED),
    ("ses", "ses_transient_bounce.json", SubscriberStatus.ACTIVE),
    ("ses", "ses_complaint.json", SubscriberStatus.COMPLAINED),
    ("ses", "ses_delivery.json", SubscriberStatus.ACTIVE),
    ("ses", "ses_click_event.json", SubscriberStatus.ACTIVE),
]


@pytest.mark.parametrize(("provider", "name", "status"), CAPTURED, ids=[c[1] for c in CAPTURED])
def test_captured_payloads_are_applied(
    hooks: Hooks, ledger: Ledger, provider: str, name: str, status: SubscriberStatus
) -> None:
    sent = ledger.send(ledger.campaign(), "ana@example.org")
    response = hooks.post(provider, BUILDERS[provider](hooks, name, sent))
    assert response.status_code == 200, response.text
    assert ledger.status(sent.email) is status
    assert ledger.suppressed(sent.email) is (status is not SubscriberStatus.ACTIVE)


@pytest.mark.parametrize("provider", sorted(BUILDERS))
def test_replaying_a_webhook_changes_nothing(hooks: Hooks, ledger: Ledger, provider: str) -> None:
    sent = ledger.send(ledger.campaign(), "ana@example.org")
    request = BUILDERS[provider](hooks, HARD_BOUNCE[provider], sent)
    first = hooks.post(provider, request)
    assert first.json()["applied"] == 1
    state = (ledger.event_count(), ledger.consent_count(), ledger.delivery(sent.delivery_id))
    again = hooks.post(provider, request)
    assert again.status_code == 200 and again.json()["duplicate"] == 1 and again.json()["applied"] == 0
    assert (ledger.event_count(), ledger.consent_count(), ledger.delivery(sent.delivery_id)) == state


# -- the shared suite: forgeries are refused and write nothing -------------------------------------------


def _forge(hooks: Hooks, provider: str, how: str, sent: Sent) -> Request:
    body, headers = BUILDERS[provider](hooks, HARD_BOUNCE[provider], sent)
    if provider == "sendgrid":
        if how == "missing":
            return body, {"Content-Type": "application/json"}
        if how == "wrong-key":
            return body, SendgridSigner().headers(body)
        return body.replace(b"ana@", b"bob@"), headers  # tampered: signed for another body
    if provider == "postmark":
        if how == "missing":
            return body, {"Content-Type": "application/json"}
        if how == "wrong-key":
            return body, basic_auth(password="guess")
        return body, basic_auth(user="someone-else")
    if provider == "mailgun":
        document = json.loads(body)
        if how == "missing":
            document.pop("signature")
        elif how == "wrong-key":
            document = mailgun_sign(payload(HARD_BOUNCE[provider], **sent.values), key="not-the-key")
        elif how == "stale":
            document = mailgun_sign(
                payload(HARD_BOUNCE[provider], **sent.values), at=NOW - timedelta(hours=2)
            )
        else:
            document["signature"]["token"] = "another-token"
        return json.dumps(document).encode(), headers
    message = json.loads(body)
    if how == "missing":
        message.pop("Signature")
    elif how == "wrong-key":
        message = SnsSigner().sign(message)  # signed by a key that is not the certificate's
    elif how == "stale":
        message["SigningCertURL"] = "https://attacker.example/sns.us-east-1.amazonaws.com/cert.pem"
        message = hooks.sns.sign(message)
    else:
        message["Message"] = message["Message"].replace("ana@", "bob@")
    return json.dumps(message).encode(), headers


FORGERIES = [
    (provider, how, 401 if how == "missing" else 403)
    for provider in sorted(BUILDERS)
    for how in ("missing", "wrong-key", "tampered", *(("stale",) if provider in ("mailgun", "ses") else ()))
]


@pytest.mark.parametrize(("provider", "how", "status"), FORGERIES, ids=[f"{p}-{h}" for p, h, _ in FORGERIES])
def test_bad_signatures_are_refused_and_change_nothing(
    hooks: Hooks, ledger: Ledger, provider: str, how: str, status: int
) -> None:
    sent = ledger.send(ledger.campaign(), "ana@example.org")
    response = hooks.post(provider, _forge(hooks, provider, how, sent))
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error and "\n" not in error
    assert ledger.event_count() == 0
    assert ledger.status(sent.email) is SubscriberStatus.ACTIVE
    if provider == "postmark" and status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    if provider == "ses" and how == "stale":
        assert hooks.sns.fetched == []  # a certificate outside Amazon's SNS hosts is never fetched


# -- malformed bodies, disabled providers, SNS subscriptions, size -------------------------------------


def test_signed_but_malformed_bodies_are_400(hooks: Hooks, ledger: Ledger) -> None:
    body = b'{"not": "an array"}'
    assert hooks.post("sendgrid", (body, hooks.sendgrid.headers(body))).status_code == 400
    assert hooks.post("postmark", (b"[1, 2]", basic_auth())).status_code == 400
    assert hooks.post("postmark", (b"\xff\xfe", basic_auth())).status_code == 400
    assert hooks.post("mailgun", (b"not json", {})).status_code == 400
    unsigned_junk = json.dumps(mailgun_sign({"event-data": "nope"})).encode()
    assert hooks.post("mailgun", (unsigned_junk, {})).status_code == 400
    sns = hooks.sns.sign(
        {
            "Type": "Notification",
            "MessageId": "m",
            "TopicArn": "t",
            "Message": "{oops",
            "Timestamp": "2026-12-01T00:00:00Z",
        }
    )
    assert hooks.post("ses", (json.dumps(sns).encode(), {})).status_code == 400
    assert ledger.event_count() == 0


def test_a_provider_without_a_secret_answers_404(engine: Engine, clock: FixedClock) -> None:
    with TestClient(_app(WebhookState(engine=engine, clock=clock, ses_enabled=False))) as client:
        for provider in BUILDERS:
            response = client.post(f"/webhooks/{provider}", content=b"{}")
            assert response.status_code == 404 and "not enabled" in response.json()["error"]


def test_sns_subscription_is_confirmed_by_visiting_the_subscribe_url(hooks: Hooks) -> None:
    message = hooks.sns.sign(payload("ses_subscription_confirmation.json"))
    response = hooks.post(
        "ses", (json.dumps(message).encode(), {"x-amz-sns-message-type": "SubscriptionConfirmation"})
    )
    assert response.status_code == 200
    assert response.json() == {"confirmed": "arn:aws:sns:us-east-1:123456789012:vaimh-ses-events"}
    assert hooks.sns.visited == [message["SubscribeURL"]]


def test_a_subscribe_url_outside_sns_is_never_visited(hooks: Hooks) -> None:
    document = {
        **payload("ses_subscription_confirmation.json"),
        "SubscribeURL": "https://attacker.example/confirm",
    }
    response = hooks.post("ses", (json.dumps(hooks.sns.sign(document)).encode(), {}))
    assert response.status_code == 403 and hooks.sns.visited == []


def test_an_oversized_body_is_413(hooks: Hooks) -> None:
    response = hooks.post("postmark", (b" " * (5 * 1024 * 1024 + 1), basic_auth()))
    assert response.status_code == 413


# -- schemathesis over WEBHOOK_OPENAPI, behind a test-side signer --------------------------------------


class SigningProxy:
    """Signs every request the way its provider would, so the fuzz reaches the parsers."""

    def __init__(self, app: Starlette, sendgrid: SendgridSigner, sns: SnsSigner) -> None:
        self.app, self.sendgrid, self.sns = app, sendgrid, sns

    def _sign(self, path: str, body: bytes, headers: dict[bytes, bytes]) -> bytes:
        if path == "/webhooks/sendgrid":
            headers.update({k.lower().encode(): v.encode() for k, v in self.sendgrid.headers(body).items()})
            return body
        if path == "/webhooks/postmark":
            headers[b"authorization"] = basic_auth()["Authorization"].encode()
            return body
        try:
            document = json.loads(body)
        except ValueError:
            return body
        if not isinstance(document, dict):
            return body
        if path == "/webhooks/mailgun":
            return json.dumps(mailgun_sign(document)).encode()
        if path == "/webhooks/ses":
            document.pop("SigningCertURL", None)
            return json.dumps(self.sns.sign(document)).encode()
        return body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = dict(scope["headers"])
        body = self._sign(scope["path"], body, headers)
        headers[b"content-length"] = str(len(body)).encode()

        async def replay() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app({**scope, "headers": list(headers.items())}, replay, send)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("webhook-fuzz")
    engine = make_engine(f"sqlite:///{folder / 'outreach.db'}")
    migrate(engine)
    sendgrid, sns = SendgridSigner(), SnsSigner()
    app = SigningProxy(_app(_state(engine, FixedClock(NOW), sendgrid, sns)), sendgrid, sns)
    with TestClient(app, raise_server_exceptions=False) as client:  # type: ignore[arg-type]
        yield client
    engine.dispose()
    shutil.rmtree(folder, ignore_errors=True)


DOCUMENT = {
    "openapi": "3.0.3",
    "info": {"title": "outreach webhooks", "version": "1"},
    **WEBHOOK_OPENAPI,
}
schema = schemathesis.openapi.from_dict(DOCUMENT)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_the_fragment_is_valid_openapi_paths() -> None:
    assert set(WEBHOOK_OPENAPI) == {"paths"}
    assert set(WEBHOOK_OPENAPI["paths"]) == {
        "/webhooks/ses",
        "/webhooks/sendgrid",
        "/webhooks/postmark",
        "/webhooks/mailgun",
    }
    for item in WEBHOOK_OPENAPI["paths"].values():
        assert set(item) == {"post"} and {"200", "400", "401", "403"} <= set(item["post"]["responses"])


@schema.parametrize()
def test_webhooks_match_their_openapi_under_fuzzing(case: schemathesis.Case, fuzzed: TestClient) -> None:
    response = send_case(fuzzed, case)
    case.validate_response(response, checks=CHECKS)


def test_the_fuzz_reaches_the_parsers(fuzzed: TestClient) -> None:
    """The proxy really signs: a well-formed body gets past the check (200), a bad one is a 400."""
    body = payload_text("postmark_delivery.json").encode()
    assert fuzzed.post("/webhooks/postmark", content=body).status_code == 200
    assert fuzzed.post("/webhooks/sendgrid", content=b"{}").status_code == 400
    assert (
        fuzzed.post("/webhooks/mailgun", content=payload_text("mailgun_delivered.json").encode()).status_code
        == 200
    )
    sns = {
        "Type": "Notification",
        "MessageId": "x",
        "TopicArn": "t",
        "Timestamp": "2026-12-01T00:00:00Z",
        "Message": json.dumps(payload("ses_delivery.json")),
    }
    assert fuzzed.post("/webhooks/ses", content=json.dumps(sns).encode()).status_code == 200


def test_the_fragment_mounts_in_the_main_app_document() -> None:
    """outreach.web.app merges WEBHOOK_OPENAPI into /openapi.json when this module exists."""
    from outreach.web.openapi import document

    merged = document(WEBHOOK_OPENAPI)
    assert set(WEBHOOK_OPENAPI["paths"]) <= set(merged["paths"])
