"""Each ESP against its local fake API: validation errors, 429 with Retry-After, 5xx, timeouts, 401."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from outreach.clock import FixedClock
from outreach.transports.base import Outcome, SendResult
from outreach.transports.http import HttpTransport, parse_retry_after
from outreach.transports.mailgun import MailgunTransport
from outreach.transports.postmark import PostmarkTransport
from outreach.transports.sendgrid import SendgridTransport
from tests.transports.conftest import REJECTED_ADDRESS, FakeApi, make_message

ESPS = ["sendgrid", "postmark", "mailgun"]
CLOCK = FixedClock(datetime(2099, 10, 21, 7, 27, 0, tzinfo=UTC))


def build(provider: str, api: FakeApi, timeout: float = 5.0, secret: str = "") -> HttpTransport:
    if provider == "sendgrid":
        return SendgridTransport(
            "sg", secret or "SG.test-key", base_url=api.base_url, timeout=timeout, clock=CLOCK
        )
    if provider == "postmark":
        token = secret or "pm-test-token"
        return PostmarkTransport("pm", token, base_url=api.base_url, timeout=timeout, clock=CLOCK)
    key = secret or "key-test"
    return MailgunTransport(
        "mg", "mg.vaimh.example", key, base_url=api.base_url, timeout=timeout, clock=CLOCK
    )


@pytest.mark.parametrize("provider", ESPS)
def test_429_retries_after_the_given_seconds_and_stops_the_batch(
    provider: str, fake_api: Callable[[str], FakeApi]
) -> None:
    api = fake_api(provider)
    api.mode = "429"
    with build(provider, api) as esp:
        results = esp.send([make_message(1), make_message(2)])
    assert results[0].outcome is Outcome.RETRY
    assert results[0].code == "HTTP 429"
    assert results[0].retry_after == 7
    assert results[1].outcome is Outcome.RETRY and results[1].retry_after == 7
    assert len(api.requests) == 1  # a rate-limited provider is not hammered with the rest of the batch


@pytest.mark.parametrize("provider", ESPS)
def test_429_with_an_http_date(provider: str, fake_api: Callable[[str], FakeApi]) -> None:
    api = fake_api(provider)
    api.mode = "429-date"
    with build(provider, api) as esp:
        (result,) = esp.send([make_message(1)])
    assert result.retry_after == 60  # 07:28:00 GMT, one minute after the fixed clock


@pytest.mark.parametrize("provider", ESPS)
def test_5xx_is_retried_with_the_page_reduced_to_one_line(
    provider: str, fake_api: Callable[[str], FakeApi]
) -> None:
    api = fake_api(provider)
    api.mode = "500"
    with build(provider, api) as esp:
        results = esp.send([make_message(1), make_message(2)])
    assert results[0].outcome is Outcome.RETRY
    assert results[0].code == "HTTP 500"
    assert "\n" not in results[0].detail
    assert not results[0].uncertain
    _second_shares_the_fate(provider, results)


@pytest.mark.parametrize("provider", ESPS)
def test_a_read_timeout_is_retry_but_uncertain(provider: str, fake_api: Callable[[str], FakeApi]) -> None:
    api = fake_api(provider)
    api.mode = "timeout"
    with build(provider, api, timeout=0.5) as esp:
        results = esp.send([make_message(1), make_message(2)])
    assert results[0].outcome is Outcome.RETRY
    assert results[0].code == "timeout"
    assert results[0].uncertain  # the request was sent: the provider may have accepted it
    _second_shares_the_fate(provider, results)


@pytest.mark.parametrize("provider", ESPS)
def test_a_bad_key_blocks(provider: str, fake_api: Callable[[str], FakeApi]) -> None:
    api = fake_api(provider)
    with build(provider, api, secret="wrong") as esp:
        results = esp.send([make_message(1), make_message(2)])
    assert results[0].outcome is Outcome.BLOCKED
    assert results[0].code == "HTTP 401"
    assert results[0].detail
    _second_shares_the_fate(provider, results)


def _second_shares_the_fate(provider: str, results: list[SendResult]) -> None:
    """Postmark sends both in one request; the others leave the second message untried."""
    expected = results[0].outcome if provider == "postmark" else Outcome.RETRY
    assert results[1].outcome is expected
    assert results[1].attempted is (provider == "postmark")
    assert results[1].uncertain is (provider == "postmark" and results[0].uncertain)


def test_sendgrid_validation_error_names_the_field(fake_api: Callable[[str], FakeApi]) -> None:
    api = fake_api("sendgrid")
    with build("sendgrid", api) as esp:
        (result,) = esp.send([make_message(1, recipient=REJECTED_ADDRESS)])
    assert (result.outcome, result.code) == (Outcome.REJECTED, "HTTP 400")
    assert result.detail == "personalizations.0.to: Does not contain a valid address."


def test_sendgrid_payload_shape(fake_api: Callable[[str], FakeApi]) -> None:
    api = fake_api("sendgrid")
    with build("sendgrid", api) as esp:
        esp.send([make_message(1)])
    body = api.bodies[0]
    assert body["from"] == {"email": "news@vaimh.example", "name": "VAIMH News"}
    assert [part["type"] for part in body["content"]] == ["text/plain", "text/html"]
    assert body["personalizations"][0]["custom_args"] == {"outreach_key": "1001"}
    assert "Reply-To" not in body["headers"]  # SendGrid refuses it there; it has its own field


def test_postmark_batch_has_a_result_per_message(fake_api: Callable[[str], FakeApi]) -> None:
    api = fake_api("postmark")
    batch = [make_message(0), make_message(1, recipient=REJECTED_ADDRESS), make_message(2, recipient="x")]
    with build("postmark", api) as esp:
        results = esp.send(batch)
    assert len(api.requests) == 1  # one request for the whole batch
    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.BOUNCED, Outcome.REJECTED]
    assert [r.code for r in results] == ["Postmark 0", "Postmark 406", "Postmark 300"]
    assert api.bodies[0][0]["MessageStream"] == "broadcast"
    assert api.bodies[0][0]["Metadata"] == {"outreach_key": "1000"}


def test_postmark_splits_batches_over_500(fake_api: Callable[[str], FakeApi]) -> None:
    api = fake_api("postmark")
    batch = [make_message(n) for n in range(501)]
    with build("postmark", api) as esp:
        results = esp.send(batch)
    assert [len(body) for body in api.bodies] == [500, 1]
    assert all(r.outcome is Outcome.SENT for r in results)


def test_mailgun_sends_our_mime_bytes_unchanged(fake_api: Callable[[str], FakeApi]) -> None:
    api = fake_api("mailgun")
    message = make_message(1)
    with build("mailgun", api) as esp:
        (result,) = esp.send([message])
    assert api.bodies[0]["raw"] == message.raw
    assert api.bodies[0]["form"]["v:outreach_key"] == "1001"
    assert result.provider_id.endswith("@mg.vaimh.example") and not result.provider_id.startswith("<")


def test_nothing_listening_is_retry_and_certain() -> None:
    from tests.ports import free_port

    esp = SendgridTransport("sg", "key", base_url=f"http://127.0.0.1:{free_port()}", timeout=1)
    results = esp.send([make_message(1), make_message(2)])
    assert [r.outcome for r in results] == [Outcome.RETRY, Outcome.RETRY]
    assert results[0].code == "connect" and not results[0].uncertain
    assert not results[1].attempted
    esp.close()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("Wed, 21 Oct 2099 07:28:00 GMT", 60.0),
        ("soon", None),
        ("", None),
    ],
)
def test_parse_retry_after(value: str, seconds: float | None) -> None:
    assert parse_retry_after(value, CLOCK) == seconds
