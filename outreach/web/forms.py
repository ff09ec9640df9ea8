"""Reading form posts without a dependency: url-encoded and multipart text fields, size-bounded.

The bodies here are a handful of short fields (the RFC 8058 one-click body, a sign-up, preferences)
and the body-size middleware has already capped them, so the standard library parses them: no file
uploads are accepted, only text fields.
"""

from __future__ import annotations

import email.policy
import re
from email.parser import BytesParser
from urllib.parse import parse_qsl

from starlette.requests import Request

MAX_FIELDS = 64
_EMPTY_MULTIPART = re.compile(rb"\s*--[^\r\n]+--\s*")


class FormError(Exception):
    """The body is not a form we can read."""


class Form:
    """Field name -> values, in the order sent."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, name: str, default: str = "") -> str:
        return next((v for k, v in self.pairs if k == name), default)

    def getlist(self, name: str) -> list[str]:
        return [v for k, v in self.pairs if k == name]

    def __contains__(self, name: object) -> bool:
        return any(k == name for k, _ in self.pairs)


async def read_form(request: Request) -> Form:
    """The posted fields; FormError for another content type or a body that does not parse."""
    content_type = request.headers.get("content-type", "")
    body = await request.body()
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded" or (not kind and body):
        return Form(_urlencoded(body))
    if kind == "multipart/form-data":
        return Form(_multipart(content_type, body))
    if not body:
        return Form([])
    raise FormError(f"expected a form, not {kind or 'an unnamed content type'}")


def _urlencoded(body: bytes) -> list[tuple[str, str]]:
    try:
        text = body.decode("utf-8")
        return parse_qsl(text, keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as err:
        raise FormError("the form could not be read") from err


def _multipart(content_type: str, body: bytes) -> list[tuple[str, str]]:
    if "boundary=" not in content_type.lower():
        raise FormError("a multipart form needs a boundary")
    if _EMPTY_MULTIPART.fullmatch(body):
        return []  # a form with no fields at all: only the closing boundary
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart() or message.defects:
        raise FormError("the multipart form could not be read")
    pairs: list[tuple[str, str]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename() is not None:
            continue  # unnamed parts and file uploads are ignored: we accept text fields only
        raw = part.get_payload(decode=True)
        charset = part.get_content_charset() or "utf-8"  # browsers send UTF-8 and name no charset
        try:
            value = bytes(raw if isinstance(raw, bytes) else b"").decode(charset)
        except (LookupError, UnicodeDecodeError) as err:
            raise FormError("a form field could not be read") from err
        pairs.append((name, value))
        if len(pairs) > MAX_FIELDS:
            raise FormError("too many form fields")
    return pairs
