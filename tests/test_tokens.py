"""Link tokens: the same signatures itsdangerous makes (links in mail already sent keep working),
bound to their purpose, and refused when altered."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import Signer

from outreach.tokens import Purpose, TokenRefused, make_token, read_token

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
