"""DKIM signing (dkimpy) over the headers docs/design.md section 5 lists.

The header list is passed explicitly: dkimpy's default leaves out List-Unsubscribe-Post, and a
signature that does not cover it lets anyone strip or forge the one-click unsubscribe.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dkim

from outreach.errors import ConfigError

SIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"list-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"mime-version",
    b"content-type",
    b"reply-to",
)


def dkim_signer(domain: str, selector: str, key_file: Path) -> Callable[[bytes], bytes]:
    """A function that returns the message with a DKIM-Signature header in front."""
    try:
        key = key_file.read_bytes()
    except OSError as err:
        raise ConfigError(
            f"cannot read the DKIM key {key_file}: {err.strerror}", key="dkim.key_file"
        ) from None
    if not domain or not selector:
        raise ConfigError("DKIM needs both domain and selector", key="dkim.selector")

    def sign(message: bytes) -> bytes:
        signature = dkim.sign(
            message,
            selector.encode(),
            domain.encode(),
            key,
            include_headers=list(SIGNED_HEADERS),
            linesep=b"\r\n",
        )
        return bytes(signature) + message

    return sign
