"""Each provider's captured payloads become the right events; odd bodies become MalformedEvent only."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from outreach.events import mailgun, postmark, sendgrid, ses
from outreach.events.model import BadSignature, EventError, EventKind, Unauthenticated, from_iso
from tests.events.signing import (
    CERT_URL,
    MAILGUN_KEY,
    NOW,
    TOPIC,
    SendgridSigner,
    SnsSigner,
    basic_auth,
    mailgun_sign,
    payload,
    payload_text,
)


def test_sendgrid_batch_keeps_delivered_and_click_and_drops_the_rest() -> None:
    events = sendgrid.parse(payload_text("sendgrid_batch.json").encode())
    assert [e.kind for e in events] == [EventKind.DELIVERED, EventKind.CLICKED]
    delivered, click = events
    assert delivered.outreach_key == "17" and delivered.recipient == "ana@example.org"
    assert delivered.provider_message_id == "prov-17"  # sg_message_id up to ".filter..."
    assert delivered.provider_event_id == "fPSgIP3NeRFHs8aGbOzcmQ=="
    assert delivered.occurred_at == datetime.fromtimestamp(1764600120, UTC)
    assert click.detail == "https://vaimh.example/trainings/reflective-supervision"
    assert delivered.raw["response"] == "250 OK"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("sendgrid_bounce.json", EventKind.BOUNCED_HARD),
        ("sendgrid_blocked.json", EventKind.BOUNCED_SOFT),
        ("sendgrid_spamreport.json", EventKind.COMPLAINED),
        ("sendgrid_unsubscribe.json", EventKind.UNSUBSCRIBED),
        ("sendgrid_dropped.json", EventKind.BOUNCED_HARD),
    ],
)
def test_sendgrid_kinds(name: str, kind: EventKind) -> None:
    (event,) = sendgrid.parse(payload_text(name).encode())
    assert event.kind is kind and event.provider == "sendgrid"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("postmark_bounce.json", EventKind.BOUNCED_HARD),
        ("postmark_soft_bounce.json", EventKind.BOUNCED_SOFT),
        ("postmark_spam_complaint.json", EventKind.COMPLAINED),
        ("postmark_delivery.json", EventKind.DELIVERED),
        ("postmark_subscription_change.json", EventKind.UNSUBSCRIBED),
        ("postmark_click.json", EventKind.CLICKED),
    ],
)
def test_postmark_kinds(name: str, kind: EventKind) -> None:
    (event,) = postmark.parse(payload_text(name).encode())
    assert event.kind is kind
    assert (event.outreach_key, event.recipient, event.provider_message_id) == (
        "17",
        "ana@example.org",
        "prov-17",
    )


def test_postmark_seven_digit_fractions_and_offsets_are_read() -> None:
    (event,) = postmark.parse(payload_text("postmark_bounce.json").encode())
    assert event.occurred_at == datetime(2026, 12, 1, 18, 28, 10, 273539, tzinfo=UTC)
    assert event.provider_event_id == "Bounce:4323372036854775807"


def test_postmark_ignores_reactivations_opens_and_bounces_that_say_nothing_of_the_address() -> None:
    change = payload("postmark_subscription_change.json")
    for record in (
        {**change, "SuppressSending": False},
        {**change, "SuppressionReason": "HardBounce"},
        {"RecordType": "Open", "MessageID": "x"},
        {**payload("postmark_bounce.json"), "Type": "AutoResponder"},
        {**payload("postmark_bounce.json"), "Type": "DMARCPolicy"},
    ):
        assert postmark.parse(json.dumps(record).encode()) == []


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("mailgun_failed_permanent.json", EventKind.BOUNCED_HARD),
        ("mailgun_delivered.json", EventKind.DELIVERED),
        ("mailgun_complained.json", EventKind.COMPLAINED),
        ("mailgun_unsubscribed.json", EventKind.UNSUBSCRIBED),
    ],
)
def test_mailgun_kinds(name: str, kind: EventKind) -> None:
    (event,) = mailgun.parse(payload(name))
    assert event.kind is kind
    assert (
        event.outreach_key == "17"
        and event.message_id == "<prov-17>"
        and event.provider_message_id == "prov-17"
    )


def test_mailgun_temporary_failure_is_a_delay_and_giving_up_is_a_soft_bounce() -> None:
    assert mailgun.parse(payload("mailgun_failed_temporary.json")) == []
    gave_up = payload("mailgun_failed_permanent.json")
    gave_up["event-data"]["reason"] = "old"
    assert mailgun.parse(gave_up)[0].kind is EventKind.BOUNCED_SOFT


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("ses_bounce.json", EventKind.BOUNCED_HARD),
        ("ses_transient_bounce.json", EventKind.BOUNCED_SOFT),
        ("ses_complaint.json", EventKind.COMPLAINED),
        ("ses_delivery.json", EventKind.DELIVERED),
        ("ses_click_event.json", EventKind.CLICKED),
    ],
)
def test_ses_kinds(name: str, kind: EventKind) -> None:
    signer = SnsSigner()
    (event,) = ses.parse(signer.notification(payload(name)))
    assert event.kind is kind
    assert event.recipient == "ana@example.org" and event.provider_message_id == "prov-17"
    if name != "ses_complaint.json":
        assert event.outreach_key == "17"


def test_ses_bounce_keeps_our_message_id_and_diagnostic() -> None:
    (event,) = ses.parse(SnsSigner().notification(payload("ses_bounce.json")))
    assert event.message_id == "<1.17.a1b2c3d4e5f6@vaimh.example>"
    assert "5.1.1" in event.detail and event.occurred_at == datetime(2026, 12, 1, 18, 22, 32, tzinfo=UTC)


# -- signatures, one provider at a time (the HTTP-level suite is in tests/web/test_webhooks.py) ----------


ALLOWED = frozenset({TOPIC})


@pytest.mark.parametrize("version", ["1", "2"])
def test_sns_signatures_of_both_versions_verify(version: str) -> None:
    signer = SnsSigner()
    verifier = ses.SnsVerifier(signer.fetch, ALLOWED)
    verifier.verify(signer.notification(payload("ses_bounce.json"), version=version), NOW)
    verifier.verify(signer.notification(payload("ses_delivery.json"), version=version), NOW)
    assert signer.fetched == [signer.fetched[0]]  # the certificate is fetched once and kept


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
        "https://evil.example/sns.us-east-1.amazonaws.com/cert.pem",
        "https://s3.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com:8443/cert.pem",
        "https://sns.us-east-1.amazonaws.com/cert.pem",  # not SNS's certificate path
        CERT_URL.replace("us-east-1", "eu-west-1"),  # another region than the topic's
        CERT_URL + "?x=1",
        CERT_URL.replace("https://", "https://user@"),
    ],
)
def test_sns_certificates_are_only_fetched_from_the_topics_sns_host(url: str) -> None:
    signer = SnsSigner()
    message = signer.sign({**signer.notification(payload("ses_bounce.json")), "SigningCertURL": url})
    with pytest.raises(BadSignature, match="SigningCertURL"):
        ses.SnsVerifier(signer.fetch, ALLOWED).verify(message, NOW)
    assert signer.fetched == []


@pytest.mark.parametrize("allowed", [frozenset(), frozenset({"arn:aws:sns:us-east-1:111111111111:other"})])
def test_sns_topics_outside_the_allowlist_are_refused_before_any_fetch(allowed: frozenset[str]) -> None:
    signer = SnsSigner()
    with pytest.raises(BadSignature, match="topic"):
        ses.SnsVerifier(signer.fetch, allowed).verify(signer.notification(payload("ses_bounce.json")), NOW)
    assert signer.fetched == []


@pytest.mark.parametrize("age", [timedelta(hours=-1), timedelta(hours=1, minutes=6), timedelta(days=400)])
def test_sns_timestamps_outside_the_retry_hour_are_refused_before_any_fetch(age: timedelta) -> None:
    signer = SnsSigner()
    message = signer.notification(payload("ses_bounce.json"))
    with pytest.raises(BadSignature, match="Timestamp"):
        ses.SnsVerifier(signer.fetch, ALLOWED).verify(message, NOW + age)
    assert signer.fetched == []


def test_new_sns_certificate_urls_are_fetched_a_few_times_an_hour_at_most() -> None:
    signer = SnsSigner()
    verifier = ses.SnsVerifier(signer.fetch, ALLOWED)
    base = CERT_URL.rsplit("-", 1)[0]
    for n in range(10):
        url = f"{base}-{n:032x}.pem"
        message = signer.sign({**signer.notification(payload("ses_bounce.json")), "SigningCertURL": url})
        with contextlib.suppress(EventError):
            verifier.verify(message, NOW)
    assert len(signer.fetched) == ses.NEW_CERTIFICATES_PER_HOUR
    later = signer.sign(
        {**signer.notification(payload("ses_bounce.json")), "SigningCertURL": f"{base}-{99:032x}.pem"}
    )
    verifier.verify(later, NOW + timedelta(minutes=61))  # an hour later, one more may be fetched
    assert len(signer.fetched) == ses.NEW_CERTIFICATES_PER_HOUR + 1


def test_an_expired_sns_certificate_is_refused() -> None:
    signer = SnsSigner()
    message = signer.notification(payload("ses_bounce.json"))
    message = signer.sign({**message, "Timestamp": "2041-01-01T00:00:00Z"})
    with pytest.raises(BadSignature, match="not valid now"):
        ses.SnsVerifier(signer.fetch, ALLOWED).verify(message, datetime(2041, 1, 1, tzinfo=UTC))


def test_sendgrid_signature_over_timestamp_and_body() -> None:
    signer = SendgridSigner()
    key = sendgrid.load_public_key(signer.public_key)
    body = payload_text("sendgrid_bounce.json").encode()
    assert sendgrid.verify(key, body, signer.headers(body), NOW)
    with pytest.raises(BadSignature):
        sendgrid.verify(key, body + b" ", signer.headers(body), NOW)
    with pytest.raises(Unauthenticated):
        sendgrid.verify(key, body, {}, NOW)


@pytest.mark.parametrize("off", [timedelta(minutes=-6), timedelta(minutes=6), timedelta(days=400)])
def test_sendgrid_timestamps_more_than_five_minutes_off_are_refused(off: timedelta) -> None:
    signer = SendgridSigner()
    key = sendgrid.load_public_key(signer.public_key)
    body = payload_text("sendgrid_bounce.json").encode()
    headers = signer.headers(body, str(int((NOW - off).timestamp())))
    with pytest.raises(BadSignature, match="timestamp"):
        sendgrid.verify(key, body, headers, NOW)
    sendgrid.verify(key, body, signer.headers(body, str(int((NOW - timedelta(minutes=4)).timestamp()))), NOW)


def test_mailgun_signature_and_its_age() -> None:
    document = mailgun_sign(payload("mailgun_delivered.json"))
    assert mailgun.verify(MAILGUN_KEY, document, NOW) == document["signature"]["token"]
    with pytest.raises(BadSignature, match="old"):
        mailgun.verify(MAILGUN_KEY, document, NOW + timedelta(minutes=6))
    with pytest.raises(BadSignature):
        mailgun.verify("another-key", document, NOW)


@pytest.mark.parametrize("field", ["signature", "token", "timestamp"])
def test_mailgun_non_ascii_signatures_are_refused_not_a_crash(field: str) -> None:
    document = mailgun_sign(payload("mailgun_delivered.json"))
    document["signature"][field] = "ü" + document["signature"][field][1:]
    with pytest.raises(BadSignature):
        mailgun.verify(MAILGUN_KEY, document, NOW)


def test_postmark_basic_auth() -> None:
    postmark.verify("postmark", "correct horse battery staple", basic_auth()["Authorization"])
    with pytest.raises(BadSignature):
        postmark.verify("postmark", "another", basic_auth()["Authorization"])
    with pytest.raises(Unauthenticated):
        postmark.verify("postmark", "x", "Bearer abc")


def test_iso_times_from_every_provider() -> None:
    assert from_iso("2026-12-01T18:22:32.000Z") == datetime(2026, 12, 1, 18, 22, 32, tzinfo=UTC)
    assert from_iso("2014-08-01T13:28:10.2735393-04:00").utcoffset() == timedelta(0)


# -- property: whatever the JSON, a parser answers with events or MalformedEvent, never a crash -----------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
KNOWN_KEYS = st.sampled_from(
    [
        "event",
        "RecordType",
        "Type",
        "timestamp",
        "event-data",
        "email",
        "Email",
        "notificationType",
        "bounce",
        "mail",
        "BouncedAt",
        "DeliveredAt",
        "severity",
        "reason",
        "Message",
        "sg_event_id",
        "Metadata",
    ]
)
shaped = st.dictionaries(KNOWN_KEYS, json_values, max_size=8)
documents = json_values | shaped | st.lists(shaped, max_size=3)


def _parse_all(document: Any) -> None:
    body = json.dumps(document).encode()
    for parse in (
        lambda: sendgrid.parse(body),
        lambda: postmark.parse(body),
        lambda: mailgun.parse(mailgun.load(body)),
        lambda: mailgun.parse({"event-data": document}),
        lambda: ses.parse({"Message": json.dumps(document)}),
    ):
        with contextlib.suppress(EventError):
            parse()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_parsers_never_crash_on_odd_json(document: Any) -> None:
    _parse_all(document)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(
        ["sendgrid_bounce.json", "postmark_bounce.json", "mailgun_failed_permanent.json", "ses_bounce.json"]
    ),
    st.data(),
)
def test_parsers_never_crash_on_captured_payloads_with_one_field_replaced(
    name: str, data: st.DataObject
) -> None:
    document = payload(name)
    target = document[0] if isinstance(document, list) else document.get("event-data", document)
    key = data.draw(st.sampled_from(sorted(target)))
    target[key] = data.draw(json_values)
    _parse_all(document)
