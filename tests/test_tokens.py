"""Link tokens: the same signatures itsdangerous makes (links in mail already sent keep working),
bound to their purpose, and refused when altered."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import Signer

from outreach.tokens import (
    LinkSubject,
    Purpose,
    TokenRefused,
    make_token,
    message_id,
    read_mailto_subject,
    read_message_id,
    read_return_path,
    read_subject,
    read_token,
    recipient_links,
    return_path,
)

SECRET = "a-long-random-secret-key-for-the-tests-0123456789"


@given(subscriber=st.integers(min_value=1, max_value=2**63 - 1), purpose=st.sampled_from(list(Purpose)))
def test_tokens_are_itsdangerous_signatures(subscriber: int, purpose: Purpose) -> None:
    reference = Signer(SECRET, salt=f"outreach.{purpose}", digest_method=hashlib.sha256)
    token = make_token(SECRET, purpose, str(subscriber))
    assert token == reference.sign(str(subscriber)).decode("ascii")
    assert read_token(SECRET, purpose, token) == str(subscriber)


def test_a_token_only_serves_its_own_purpose() -> None:
    preferences = make_token(SECRET, Purpose.PREFERENCES, "7")
    with pytest.raises(TokenRefused, match="unsubscribe link is not valid"):
        read_token(SECRET, Purpose.UNSUBSCRIBE, preferences)


def test_an_altered_or_foreign_token_is_refused() -> None:
    token = make_token(SECRET, Purpose.UNSUBSCRIBE, "7")
    with pytest.raises(TokenRefused):
        read_token(SECRET, Purpose.UNSUBSCRIBE, "8" + token[1:])
    with pytest.raises(TokenRefused):
        read_token("another-secret-key-another-secret-key", Purpose.UNSUBSCRIBE, token)


@pytest.mark.parametrize("subscriber", ["", "1.2", "Zoë"])
def test_only_plain_references_are_signed(subscriber: str) -> None:
    with pytest.raises(ValueError, match="plain subscriber reference"):
        make_token(SECRET, Purpose.UNSUBSCRIBE, subscriber)


def _spellings(token: str) -> set[str]:
    """Other strings an itsdangerous decoder reads as the same signature: the last base64 character
    carries unused bits, padding is tolerated, and so on."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    value, signature = token.rsplit(".", 1)
    found = {f"{value}.{signature[:-1]}{c}" for c in alphabet}
    found |= {token + "=", token + "==", f"{value}.{signature}=", f"{value} .{signature}"}
    return found - {token}


def test_only_the_canonical_spelling_of_a_token_is_accepted() -> None:
    token = make_token(SECRET, Purpose.UNSUBSCRIBE, "7")
    signer = Signer(SECRET, salt="outreach.unsubscribe", digest_method=hashlib.sha256)
    decodable = [t for t in _spellings(token) if signer.validate(t)]
    assert decodable, "the decoder accepts other spellings: this test would prove nothing otherwise"
    for altered in decodable:
        with pytest.raises(TokenRefused):
            read_token(SECRET, Purpose.UNSUBSCRIBE, altered)


def test_every_accepted_key_verifies_and_the_first_signs() -> None:
    old, new = SECRET, "the-rotated-key-for-the-tests-9876543210zyx"
    sent_before = make_token(old, Purpose.UNSUBSCRIBE, "7")
    assert read_token((new, old), Purpose.UNSUBSCRIBE, sent_before) == "7"
    with pytest.raises(TokenRefused):
        read_token((new,), Purpose.UNSUBSCRIBE, sent_before)


def test_an_unsubscribe_link_names_its_campaign() -> None:
    links = recipient_links("https://news.example", SECRET, "42", "slug", campaign=7, mailto="u@example.org")
    token = links.unsubscribe.rsplit("/", 1)[1]
    assert read_subject(SECRET, Purpose.UNSUBSCRIBE, token) == LinkSubject(42, 7)
    assert links.unsubscribe_mailto == f"mailto:u@example.org?subject=unsubscribe-{token}"
    assert read_mailto_subject(SECRET, "Re: unsubscribe-" + token) == LinkSubject(42, 7)
    assert read_mailto_subject(SECRET, "unsubscribe") is None
    assert (
        read_mailto_subject(SECRET, "unsubscribe-" + make_token("x" * 40, Purpose.UNSUBSCRIBE, "42")) is None
    )


@given(campaign=st.integers(1, 10**12), row=st.integers(1, 10**15))
def test_message_ids_and_return_paths_verify_only_as_made(campaign: int, row: int) -> None:
    made = message_id(SECRET, campaign, row, "vaimh.example")
    assert read_message_id((SECRET,), made) == (campaign, row)
    assert read_message_id("another-key-for-the-message-id-test-000", made) is None
    assert read_message_id(SECRET, made.replace(f".{row}.", f".{row + 1}.")) is None
    verp = return_path(SECRET, "bounces@vaimh.example", campaign, row)
    assert verp.startswith("bounces+") and verp.endswith("@vaimh.example")
    assert len(verp.split("@")[0]) <= 64  # RFC 5321 local-part limit
    assert read_return_path(SECRET, verp.upper()) == (campaign, row)
    assert read_return_path(SECRET, verp.replace(f"+{campaign}.", f"+{campaign + 1}.")) is None
