"""SES v2 against moto's server: the sender identity must be verified; errors map by SES's codes."""

from __future__ import annotations

import dataclasses

import pytest

from outreach.transports.base import Outcome
from tests.ports import free_port
from tests.transports.conftest import MotoSes, make_message

pytest.importorskip("boto3", reason="pip install boto3 for the SES transport")

from outreach.transports.ses import SesCredentials, SesTransport, _outcome

CREDENTIALS = SesCredentials("testing", "testing")


def test_the_raw_message_and_message_id_arrive(moto_ses: MotoSes) -> None:
    message = make_message(1)
    with SesTransport("ses", "us-east-1", CREDENTIALS, endpoint_url=moto_ses.url) as ses:
        (result,) = ses.send([message])
    assert result.outcome is Outcome.SENT and result.provider_id
    sent = moto_ses.sent()[-1]
    assert sent.id == result.provider_id
    assert sent.raw_data.encode() == message.raw


def test_an_unverified_sender_blocks(moto_ses: MotoSes) -> None:
    message = dataclasses.replace(make_message(1), from_header="Someone <someone@unverified.example>")
    with SesTransport("ses", "us-east-1", CREDENTIALS, endpoint_url=moto_ses.url) as ses:
        results = ses.send([message, make_message(2)])
    assert results[0].outcome is Outcome.BLOCKED, results[0]
    assert "MessageRejected" in results[0].code
    assert not results[1].attempted


def test_nothing_listening_is_retry() -> None:
    ses = SesTransport(
        "ses", "us-east-1", CREDENTIALS, endpoint_url=f"http://127.0.0.1:{free_port()}", timeout=1
    )
    (result,) = ses.send([make_message(1)])
    ses.close()
    assert result.outcome is Outcome.RETRY and not result.uncertain


@pytest.mark.parametrize(
    ("code", "text", "status", "outcome"),
    [
        ("TooManyRequestsException", "Maximum sending rate exceeded.", 429, Outcome.RETRY),
        ("AccountSuspendedException", "", 400, Outcome.BLOCKED),
        ("SendingPausedException", "", 400, Outcome.BLOCKED),
        ("MessageRejected", "Email address is not verified.", 400, Outcome.BLOCKED),
        ("MessageRejected", "Illegal header", 400, Outcome.REJECTED),
        ("BadRequestException", "", 400, Outcome.REJECTED),
        ("InternalFailure", "", 500, Outcome.RETRY),
        ("SomethingNew", "", 503, Outcome.RETRY),
        ("SomethingNew", "", 403, Outcome.BLOCKED),
    ],
)
def test_ses_error_codes(code: str, text: str, status: int, outcome: Outcome) -> None:
    assert _outcome(code, text, status) is outcome
