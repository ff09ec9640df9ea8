"""Address normal form: the fast path for plain addresses agrees with email-validator's full path."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from outreach.audience.addresses import InvalidAddress, normalise_email


def reference(raw: str) -> str | None:
    try:
        checked = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError:
        return None
    return f"{checked.local_part.lower()}@{(checked.ascii_domain or checked.domain).lower()}"


def ours(raw: str) -> str | None:
    try:
        return normalise_email(raw)
    except InvalidAddress:
        return None


def test_one_person_in_any_spelling() -> None:
    assert normalise_email("Ana@Example.org") == normalise_email(" ana@example.ORG ")
    assert normalise_email("José@Bücher.example") == "josé@xn--bcher-kva.example"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "ana",
        "ana@",
        "@example.org",
        "a..b@example.org",
        "ana@example",
        "ana@-example.org",
        "ana@exa_mple.org",
    ],
)
def test_invalid_addresses_are_refused(bad: str) -> None:
    with pytest.raises(InvalidAddress):
        normalise_email(bad)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abcXYZ09.+-_'!@é%", min_size=1, max_size=30))
def test_fast_path_agrees_with_email_validator(raw: str) -> None:
    assert ours(raw) == reference(raw)


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(r"\A[A-Za-z0-9._+'-]{1,20}\Z"),
    st.sampled_from(
        [
            "example.org",
            "Example.COM",
            "mail.example.net",
            "bücher.example",
            "localhost",
            "example.invalid",
            "a.b",
            "x-.org",
        ]
    ),
)
def test_fast_path_agrees_on_plausible_addresses(local: str, domain: str) -> None:
    raw = f"{local}@{domain}"
    assert ours(raw) == reference(raw)
