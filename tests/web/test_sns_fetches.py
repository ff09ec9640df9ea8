"""The SES webhook against a real local HTTP server standing in for Amazon's SNS host.

The production fetcher (``outreach.events.sns_http.SnsHttp``) makes real HTTP requests through an httpx
client whose transport sends ``https://sns.us-east-1.amazonaws.com/...`` to the local server, so every
outbound request the service makes is in the server's log. The attacks of the security issue: with
the default configuration a foreign topic's subscription was confirmed and its complaint applied, and
40 unauthenticated posts caused 40 certificate fetches. Now: nothing is fetched or visited for a post
refused on the cheap checks, the certificate is fetched once and kept, and a confirmation is visited
once.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.testclient import TestClient

from outreach.audience import SubscriberStatus
from outreach.clock import FixedClock
from outreach.config import Config
from outreach.events.sns_http import SnsHttp
from outreach.web.webhooks import WebhookState, state_from_config, webhook_routes
from tests.events.fixtures import (  # noqa: F401 - the events tests' databases (both backends)
    KEYS,
    Ledger,
    backend_fixture,
    clock_fixture,
    engine_fixture,
    ledger_fixture,
    sqlite_template_fixture,
)
from tests.events.signing import CERT_URL, TOPIC, SnsSigner, payload
from tests.events.sns_server import CERT_PATH, ToLocalServer, requests, serve_sns

FOREIGN_TOPIC = "arn:aws:sns:us-east-1:999999999999:someone-elses-topic"


@dataclasses.dataclass
class Amazon:
    """The local stand-in for SNS: its server, its signer, and the service's HTTP client to it."""

    server: HTTPServer
    signer: SnsSigner
    http: SnsHttp

    def requests(self) -> list[str]:
        return requests(self.server)


@pytest.fixture
def amazon(httpserver: HTTPServer) -> Iterator[Amazon]:
    signer = SnsSigner()
    http = serve_sns(httpserver, signer)
    yield Amazon(httpserver, signer, http)
    http.close()


def _client(state: WebhookState, amazon: Amazon) -> TestClient:
    state = dataclasses.replace(
        state, fetch_certificate=amazon.http.fetch_certificate, visit_url=amazon.http.visit
    )
    return TestClient(Starlette(routes=webhook_routes(state)))


def _complaint(amazon: Amazon, ledger: Ledger, topic: str, message_id: str = "sns-1", **extra: Any) -> bytes:
    sent = ledger.send(ledger.campaign(), "ana@example.org")
    message = amazon.signer.notification(payload("ses_complaint.json", **sent.values), message_id=message_id)
    return json.dumps(amazon.signer.sign({**message, "TopicArn": topic, **extra})).encode()


def _confirmation(amazon: Amazon, topic: str) -> bytes:
    document = payload("ses_subscription_confirmation.json")
    url = f"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}&Token=2336412f"
    return json.dumps(amazon.signer.sign({**document, "TopicArn": topic, "SubscribeURL": url})).encode()


def test_by_default_no_topic_is_trusted_and_nothing_is_fetched(
    amazon: Amazon, ledger: Ledger, config: Config, engine: Engine, clock: FixedClock
) -> None:
    state = state_from_config(config, engine, clock)  # the shipped outreach.toml: no [events] topics
    assert state.ses_topic_arns == ()
    with _client(state, amazon) as client:
        confirm = client.post("/webhooks/ses", content=_confirmation(amazon, FOREIGN_TOPIC))
        complain = client.post("/webhooks/ses", content=_complaint(amazon, ledger, FOREIGN_TOPIC))
    assert confirm.status_code == complain.status_code == 404
    assert ledger.status("ana@example.org") is SubscriberStatus.ACTIVE
    assert amazon.requests() == []  # the SubscribeURL was not visited, no certificate fetched


def _refused_posts(amazon: Amazon, ledger: Ledger) -> list[bytes]:
    """Forty posts nobody authorised: a foreign topic, certificate URLs that are not SNS's, old
    timestamps, no signature; each with its own certificate URL on Amazon's host."""
    posts = []
    for n in range(40):
        url = CERT_URL.replace("9c6465fa", f"{n:08x}")
        how = n % 4
        if how == 0:
            extra = {"SigningCertURL": url}
            posts.append(_complaint(amazon, ledger, FOREIGN_TOPIC, f"m{n}", **extra))
        elif how == 1:
            extra = {"SigningCertURL": f"https://sns.us-east-1.amazonaws.com/cert-{n}.pem"}
            posts.append(_complaint(amazon, ledger, TOPIC, f"m{n}", **extra))
        elif how == 2:
            extra = {"SigningCertURL": url, "Timestamp": "2025-10-27T00:00:00.000Z"}
            posts.append(_complaint(amazon, ledger, TOPIC, f"m{n}", **extra))
        else:
            document = json.loads(_complaint(amazon, ledger, TOPIC, f"m{n}", SigningCertURL=url))
            document.pop("Signature")
            posts.append(json.dumps(document).encode())
    return posts


def test_refused_posts_cause_no_outbound_request(
    amazon: Amazon, ledger: Ledger, engine: Engine, clock: FixedClock
) -> None:
    state = WebhookState(engine=engine, keys=KEYS, clock=clock, ses_topic_arns=(TOPIC,))
    with _client(state, amazon) as client:
        posts = _refused_posts(amazon, ledger)
        answers = [client.post("/webhooks/ses", content=post).status_code for post in posts]
    assert set(answers) <= {401, 403} and len(answers) == 40
    assert amazon.requests() == []
    assert ledger.event_count() == 0


def test_the_certificate_is_fetched_once_and_kept(
    amazon: Amazon, ledger: Ledger, engine: Engine, clock: FixedClock
) -> None:
    state = WebhookState(engine=engine, keys=KEYS, clock=clock, ses_topic_arns=(TOPIC,))
    with _client(state, amazon) as client:
        answers = [
            client.post("/webhooks/ses", content=_complaint(amazon, ledger, TOPIC, f"sns-{n}")).json()
            for n in range(5)
        ]
    assert answers[0]["applied"] == 1
    assert ledger.status("ana@example.org") is SubscriberStatus.COMPLAINED
    assert amazon.requests() == [CERT_PATH]


def test_an_allowed_topic_is_confirmed_once_even_when_the_confirmation_is_replayed(
    amazon: Amazon, engine: Engine, clock: FixedClock
) -> None:
    state = WebhookState(engine=engine, keys=KEYS, clock=clock, ses_topic_arns=(TOPIC,))
    confirmation = _confirmation(amazon, TOPIC)
    with _client(state, amazon) as client:
        first = client.post("/webhooks/ses", content=confirmation)
        again = client.post("/webhooks/ses", content=confirmation)
        foreign = client.post("/webhooks/ses", content=_confirmation(amazon, FOREIGN_TOPIC))
    assert first.status_code == 200 and first.json() == {"confirmed": TOPIC}, first.text
    assert again.status_code == 403 and foreign.status_code == 403
    visits = [path for path in amazon.requests() if path.startswith("/?")]
    assert len(visits) == 1 and "Action=ConfirmSubscription" in visits[0]
    assert amazon.requests().count(CERT_PATH) == 1


def test_a_certificate_that_cannot_be_fetched_is_503_so_sns_retries(
    httpserver: HTTPServer, ledger: Ledger, engine: Engine, clock: FixedClock
) -> None:
    signer = SnsSigner()
    httpserver.expect_request(CERT_PATH).respond_with_data("busy", status=500)
    http = SnsHttp(httpx.Client(transport=ToLocalServer(httpserver), timeout=5))
    amazon = Amazon(httpserver, signer, http)
    state = WebhookState(engine=engine, keys=KEYS, clock=clock, ses_topic_arns=(TOPIC,))
    with _client(state, amazon) as client:
        answer = client.post("/webhooks/ses", content=_complaint(amazon, ledger, TOPIC))
    assert answer.status_code == 503 and "HTTP 500" in answer.json()["error"]
    assert ledger.event_count() == 0
    http.close()
