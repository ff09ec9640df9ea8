"""The providers' webhooks over HTTP: captured payloads applied, forgeries refused, replays harmless.

Each provider's endpoint is posted payloads shaped like its documented examples (tests/events/payloads),
signed the way the provider signs them with keys made here; a shared parametrised suite checks that
missing, wrong, tampered and stale credentials are refused and write nothing; schemathesis fuzzes the
endpoints from ``WEBHOOK_OPENAPI`` behind a test-side signer, so the parsers see the fuzz, not just the
signature check. Both databases where the database is involved.
"""

from __future__ import annotations

import json
import secrets
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from pytest_httpserver import HTTPServer
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
from outreach.events.sns_http import SnsHttp
from outreach.web.webhooks import WEBHOOK_OPENAPI, WebhookState, webhook_routes
from tests.events.fixtures import (  # noqa: F401 - the events tests' databases (both backends) override web's
    KEYS,
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
    TOPIC,
    SendgridSigner,
    SnsSigner,
    basic_auth,
    mailgun_sign,
    payload,
    payload_text,
)
from tests.events.sns_server import requests, serve_sns
from tests.ports import free_port
from tests.web.conftest import send_case

Request = tuple[bytes, dict[str, str]]


@dataclass
class Hooks:
    client: TestClient
    sendgrid: SendgridSigner
    sns: SnsSigner
    amazon: HTTPServer  # the local stand-in for SNS's host: every certificate fetch and visit is logged

    def to_amazon(self) -> list[str]:
        return requests(self.amazon)

    def post(self, provider: str, request: Request) -> Any:
        body, headers = request
        return self.client.post(f"/webhooks/{provider}", content=body, headers=headers)


def _app(state: WebhookState) -> Starlette:
    return Starlette(routes=webhook_routes(state))


def _state(
    engine: Engine, clock: FixedClock, sendgrid: SendgridSigner, sns: SnsSigner, amazon: SnsHttp
) -> WebhookState:
    return WebhookState(
        engine=engine,
        keys=KEYS,
        clock=clock,
        sendgrid_key=sendgrid.public_key,
        postmark_user=POSTMARK_USER,
        postmark_password=POSTMARK_PASSWORD,
        mailgun_key=MAILGUN_KEY,
        ses_topic_arns=(TOPIC,),
        fetch_certificate=amazon.fetch_certificate,
        visit_url=amazon.visit,
    )


@pytest.fixture
def hooks(engine: Engine, clock: FixedClock, httpserver: HTTPServer) -> Iterator[Hooks]:
    sendgrid, sns = SendgridSigner(), SnsSigner()
    amazon = serve_sns(httpserver, sns)
    state = _state(engine, clock, sendgrid, sns, amazon)
    with TestClient(_app(state), raise_server_exceptions=True) as client:
        yield Hooks(client, sendgrid, sns, httpserver)
    amazon.close()


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
    """The same signed request again: refused where it carries a once-only token (SendGrid's
    signature, Mailgun's token, SNS's MessageId), a duplicate for Postmark (basic auth, no token)."""
    sent = ledger.send(ledger.campaign(), "ana@example.org")
    request = BUILDERS[provider](hooks, HARD_BOUNCE[provider], sent)
    first = hooks.post(provider, request)
    assert first.json()["applied"] == 1
    state = (ledger.event_count(), ledger.consent_count(), ledger.delivery(sent.delivery_id))
    again = hooks.post(provider, request)
    if provider == "postmark":
        assert again.status_code == 200 and again.json()["duplicate"] == 1 and again.json()["applied"] == 0
    else:
        assert again.status_code == 403 and "already received" in again.json()["error"]
    assert (ledger.event_count(), ledger.consent_count(), ledger.delivery(sent.delivery_id)) == state


@pytest.mark.parametrize("provider", ["mailgun", "postmark", "sendgrid"])
def test_a_new_signed_request_with_seen_events_changes_nothing(
    hooks: Hooks, ledger: Ledger, provider: str
) -> None:
    """A provider resending an event in a freshly signed request: accepted, applied once."""
    sent = ledger.send(ledger.campaign(), "ana@example.org")
    assert hooks.post(provider, BUILDERS[provider](hooks, HARD_BOUNCE[provider], sent)).json()["applied"] == 1
    events = ledger.event_count()
    resent = BUILDERS[provider](hooks, HARD_BOUNCE[provider], sent)
    if provider == "mailgun":
        document = mailgun_sign(payload(HARD_BOUNCE[provider], **sent.values), token=secrets.token_hex(25))
        resent = json.dumps(document).encode(), resent[1]
    again = hooks.post(provider, resent)
    assert again.status_code == 200, again.text
    assert again.json()["applied"] == 0 and again.json()["duplicate"] == 1
    assert ledger.event_count() == events


# -- the shared suite: forgeries are refused and write nothing -------------------------------------------


def _forge(hooks: Hooks, provider: str, how: str, sent: Sent) -> Request:
    body, headers = BUILDERS[provider](hooks, HARD_BOUNCE[provider], sent)
    if provider == "sendgrid":
        if how == "missing":
            return body, {"Content-Type": "application/json"}
        if how == "wrong-key":
            return body, SendgridSigner().headers(body)
        if how == "stale":  # a request signed 400 days ago, captured and posted now
            return body, hooks.sendgrid.headers(body, str(int((NOW - timedelta(days=400)).timestamp())))
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
        message = hooks.sns.sign({**message, "Timestamp": "2026-12-01T18:00:00.000Z"})
    elif how == "foreign-topic":  # any AWS account can sign for its own topic
        message = hooks.sns.sign({**message, "TopicArn": "arn:aws:sns:us-east-1:999999999999:theirs"})
    elif how == "foreign-certificate":
        message["SigningCertURL"] = "https://attacker.example/sns.us-east-1.amazonaws.com/cert.pem"
        message = hooks.sns.sign(message)
    else:
        message["Message"] = message["Message"].replace("ana@", "bob@")
    return json.dumps(message).encode(), headers


EXTRA_FORGERIES = {
    "mailgun": ("stale",),
    "sendgrid": ("stale",),
    "ses": ("stale", "foreign-topic", "foreign-certificate"),
}
FORGERIES = [
    (provider, how, 401 if how == "missing" else 403)
    for provider in sorted(BUILDERS)
    for how in ("missing", "wrong-key", "tampered", *EXTRA_FORGERIES.get(provider, ()))
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
    if provider == "ses" and how not in ("wrong-key", "tampered"):
        # Refused on what costs nothing: no certificate is fetched for a topic, URL or time refused.
        assert hooks.to_amazon() == []


# -- replays: a captured request is not accepted again, by any web process ------------------------------


def test_a_captured_mailgun_signature_cannot_carry_other_event_data(hooks: Hooks, ledger: Ledger) -> None:
    """Mailgun signs timestamp and token, not the body: the attack takes the signature of a
    harmless event and puts a complaint about someone else beneath it."""
    campaign = ledger.campaign()
    ana, bob = ledger.send(campaign, "ana@example.org"), ledger.send(campaign, "bob@example.org")
    delivered = mailgun_sign(payload("mailgun_delivered.json", **ana.values))
    assert hooks.post("mailgun", (json.dumps(delivered).encode(), {})).status_code == 200
    forged = {**payload("mailgun_complained.json", **bob.values), "signature": delivered["signature"]}
    answer = hooks.post("mailgun", (json.dumps(forged).encode(), {}))
    assert answer.status_code == 403 and "already received" in answer.json()["error"]
    assert ledger.status(bob.email) is SubscriberStatus.ACTIVE


def test_every_web_process_refuses_a_token_another_one_accepted(
    engine: Engine, clock: FixedClock, ledger: Ledger
) -> None:
    """Seen tokens live in the database, so two services on one database agree."""
    sendgrid, sns = SendgridSigner(), SnsSigner()
    sent = ledger.send(ledger.campaign(), "ana@example.org")
    request = json.dumps(mailgun_sign(payload("mailgun_delivered.json", **sent.values))).encode()
    unused = SnsHttp()  # no SNS request is made here
    with (
        TestClient(_app(_state(engine, clock, sendgrid, sns, unused))) as first,
        TestClient(_app(_state(engine, clock, sendgrid, sns, unused))) as second,
    ):
        assert first.post("/webhooks/mailgun", content=request).status_code == 200
        assert second.post("/webhooks/mailgun", content=request).status_code == 403


def test_seen_tokens_are_pruned_once_their_timestamps_are_too_old(
    hooks: Hooks, ledger: Ledger, clock: FixedClock
) -> None:
    import sqlalchemy as sa

    from outreach.audience import transaction
    from outreach.events.schema import WebhookToken

    sent = ledger.send(ledger.campaign(), "ana@example.org")
    for token in ("first-token", "second-token"):
        document = mailgun_sign(payload("mailgun_delivered.json", **sent.values), at=clock.now(), token=token)
        assert hooks.post("mailgun", (json.dumps(document).encode(), {})).status_code == 200
        clock.advance(700)  # more than twice the five-minute window
    with transaction(ledger.engine) as session:
        kept = session.scalar(sa.select(sa.func.count()).select_from(WebhookToken))
    assert kept == 1  # the first token went when the second came


# -- bodies a provider never sends: 400 with a JSON error, never a 5xx, on both databases ---------------

NESTED = b"[" * 5000 + b"]" * 5000
ODD_BODIES = {
    "nan": b'[{"email": "ana@example.org", "timestamp": 1764612000, "event": "delivered", "x": NaN}]',
    "infinity": b'[{"email": "a@b.c", "timestamp": 1764612000, "event": "delivered", "x": -Infinity}]',
    "nul": b'[{"email": "ana@example.org", "timestamp": 1764612000, "event": "delivered", "x": "a\\u0000b"}]',
    "lone-surrogate": b'[{"email": "a@b.c", "timestamp": 1764612000, "event": "bounce", "r": "\\ud800"}]',
    "deep": NESTED,
    "deep-object": b'[{"email": "a@b.c", "timestamp": 1764612000, "event": "delivered", "x": '
    + NESTED
    + b"}]",
    "huge-integer": b'[{"email": "a@b.c", "timestamp": 1764612000, "event": "delivered", "x": '
    + b"9" * 5000
    + b"}]",
}


def _wrapped(provider: str, body: bytes, hooks: Hooks) -> Request:
    """``body`` as each provider would carry it, signed, so only its content is odd."""
    if provider == "sendgrid":
        return body, hooks.sendgrid.headers(body)
    inner = body[1:-1] if body.startswith(b"[{") else body  # one object, not an array
    if provider == "postmark":
        return inner.replace(b'"event"', b'"RecordType": "Delivery", "e"'), basic_auth()
    if provider == "mailgun":
        signature = json.dumps(mailgun_sign({}, token=secrets.token_hex(25))["signature"]).encode()
        return b'{"signature": ' + signature + b', "event-data": ' + inner + b"}", {}
    fields = {"Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": TOPIC}
    message = hooks.sns.sign({**fields, "Timestamp": "2026-12-01T19:59:00Z", "Message": inner.decode()})
    return json.dumps(message).encode(), {}


@pytest.mark.parametrize("provider", sorted(BUILDERS))
@pytest.mark.parametrize("odd", sorted(ODD_BODIES))
def test_odd_bodies_are_400_with_a_json_error(hooks: Hooks, ledger: Ledger, provider: str, odd: str) -> None:
    ledger.send(ledger.campaign(), "ana@example.org")
    response = hooks.post(provider, _wrapped(provider, ODD_BODIES[odd], hooks))
    assert response.status_code == 400, response.text
    assert response.json()["error"]
    assert ledger.event_count() == 0


@pytest.mark.parametrize("field", ["signature", "token", "timestamp"])
def test_non_ascii_mailgun_signatures_are_refused(hooks: Hooks, ledger: Ledger, field: str) -> None:
    sent = ledger.send(ledger.campaign(), "ana@example.org")
    document = mailgun_sign(payload("mailgun_failed_permanent.json", **sent.values))
    document["signature"][field] = "é" + document["signature"][field][1:]
    response = hooks.post("mailgun", (json.dumps(document, ensure_ascii=False).encode(), {}))
    assert response.status_code == 403 and response.json()["error"]
    assert ledger.status(sent.email) is SubscriberStatus.ACTIVE


def test_non_ascii_signature_headers_are_refused(hooks: Hooks, ledger: Ledger) -> None:
    sent = ledger.send(ledger.campaign(), "ana@example.org")
    body, headers = sendgrid_request(hooks, "sendgrid_bounce.json", sent)
    for name in ("X-Twilio-Email-Event-Webhook-Signature", "X-Twilio-Email-Event-Webhook-Timestamp"):
        odd = {**headers, name: "\u00e9" + headers[name][1:]}
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in odd.items()]
        response = hooks.client.post("/webhooks/sendgrid", content=body, headers=raw)
        assert response.status_code == 403 and response.json()["error"]
    response = hooks.client.post(
        "/webhooks/postmark",
        content=b"{}",
        headers=[(b"authorization", "Basic \u00e9\u00e9".encode("latin-1"))],
    )
    assert response.status_code == 403
    assert ledger.event_count() == 0


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
            "TopicArn": TOPIC,
            "Message": "{oops",
            "Timestamp": "2026-12-01T19:59:00Z",
        }
    )
    assert hooks.post("ses", (json.dumps(sns).encode(), {})).status_code == 400
    assert ledger.event_count() == 0


def test_a_provider_without_a_secret_or_ses_without_a_topic_answers_404(
    engine: Engine, clock: FixedClock
) -> None:
    with TestClient(_app(WebhookState(engine=engine, keys=KEYS, clock=clock))) as client:
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
    assert [path for path in hooks.to_amazon() if path.startswith("/?")] == [
        message["SubscribeURL"].removeprefix("https://sns.us-east-1.amazonaws.com")
    ]


def test_a_subscribe_url_outside_sns_is_never_visited(hooks: Hooks) -> None:
    document = {
        **payload("ses_subscription_confirmation.json"),
        "SubscribeURL": "https://attacker.example/confirm",
    }
    response = hooks.post("ses", (json.dumps(hooks.sns.sign(document)).encode(), {}))
    assert response.status_code == 403 and hooks.to_amazon() == []


def test_an_oversized_body_is_413(hooks: Hooks) -> None:
    response = hooks.post("postmark", (b" " * (5 * 1024 * 1024 + 1), basic_auth()))
    assert response.status_code == 413


# -- schemathesis over WEBHOOK_OPENAPI, behind a test-side signer --------------------------------------


class SigningProxy:
    """Signs every request the way its provider would, so the fuzz reaches the parsers: each with a
    fresh token (Mailgun) or MessageId (SNS), an allowed topic and a current timestamp."""

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
            return json.dumps(mailgun_sign(document, token=secrets.token_hex(25))).encode()
        if path == "/webhooks/ses":
            document.pop("SigningCertURL", None)
            fresh = {"MessageId": str(uuid.uuid4()), "TopicArn": TOPIC, "Timestamp": "2026-12-01T19:59:00Z"}
            return json.dumps(self.sns.sign({**document, **fresh})).encode()
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
    server = HTTPServer(host="127.0.0.1", port=free_port())
    server.start()
    amazon = serve_sns(server, sns)
    app = SigningProxy(_app(_state(engine, FixedClock(NOW), sendgrid, sns, amazon)), sendgrid, sns)
    with TestClient(app, raise_server_exceptions=False) as client:  # type: ignore[arg-type]
        yield client
    amazon.close()
    server.stop()
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
