"""Every header of every mail we send, written by one path of our own.

Subscriber names, organisations and subjects are text, never markup: nothing here decodes anything, and
nothing here can emit a CR, an LF, a NUL or another control character, or a second address. Display
names go out as a quoted-string (ASCII) or as RFC 2047 encoded words (anything else, and any text that
merely looks like an encoded word, so that no reader decodes ``=?...?=`` typed into a form). Encoded
words are at most 75 characters, lines are folded to 78 where the value allows and never pass 998.

Why not the email package's folder: it re-parses the values it is given, decodes encoded words it finds
in a display name and, before Python 3.11.10 and 3.12.5 (CVE-2024-6923), writes a decoded CR/LF back
out unquoted. The campaign frame, the reference ``EmailMessage`` composition and the confirmation mails
all take their headers from ``MessageHeaders``, so the three can never disagree.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass

from outreach.errors import DeliveryError

CRLF = "\r\n"
FOLD = CRLF + " "
LINE = 78  # RFC 5322 2.1.1: lines SHOULD be no longer than 78 characters
LIMIT = 998  # ... and MUST be no longer than 998
WORD = 75  # RFC 2047 2: an encoded word is at most 75 characters
_WORD_OPEN = "=?utf-8?b?"
_WORD_CLOSE = "?="
_WORD_BYTES = (WORD - len(_WORD_OPEN) - len(_WORD_CLOSE)) // 4 * 3  # 45 bytes: 60 base64 characters

# Removed outright: C0 and C1 controls that are not white space, lone surrogates (they cannot be
# written as UTF-8) and the bidirectional overrides and isolates, which reorder what a reader sees in a
# From or To line. Line breaks, tabs and the Unicode line and paragraph separators are white space:
# ``str.split`` turns every run of them into one space.
_REMOVED = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# One address as a header may carry it: a local part and a domain without white space, controls,
# quotes or the characters that delimit addresses. Non-ASCII is allowed (SMTPUTF8 mailboxes).
_ADDRESS = re.compile(r'[^\s"(),:;<>@\[\\\]\x00-\x1f\x7f-\x9f]+@[^\s"(),:;<>@\[\\\]\x00-\x1f\x7f-\x9f]+')
_LIST_ID = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)+")
_MESSAGE_ID = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>")  # printable ASCII without < > or space
_LINK = re.compile(r"[!-;=?-~]+")  # a URL as List-Unsubscribe carries it between < and >
_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+( [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_FIELD_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 ftext
_NAMED_ADDRESS = re.compile(r"\s*(.*?)\s*<([^<>]*)>\s*", re.DOTALL)
MAX_DISPLAY_NAME = 256  # characters; longer is not a name, and it still folds within 998


def plain_text(value: str) -> str:
    """``value`` as one line of text: controls removed, every run of white space one space."""
    if value.isascii() and value.isprintable():
        if "  " not in value and value[:1] != " " and value[-1:] != " ":
            return value
        return " ".join(value.split())
    return " ".join(_REMOVED.sub("", value).split())


def display_text(name: str) -> str:
    """The display name a header carries for ``name``: plain text, at most ``MAX_DISPLAY_NAME`` long."""
    return plain_text(name)[:MAX_DISPLAY_NAME].rstrip()


def checked_address(address: str, what: str) -> str:
    """``address`` if a header can carry it as one mailbox; ``DeliveryError`` otherwise."""
    if _ADDRESS.fullmatch(address):
        return address
    raise DeliveryError(
        f"the {what} address {address!r} is not one plain address (like news@vaimh.example); "
        "correct it where it was entered"
    )


def encoded_words(text: str, first: int = WORD) -> list[str]:
    """``text`` as RFC 2047 B encoded words of UTF-8, each at most 75 characters and the first at most
    ``first`` (the room left on its line; an empty first word when not even one character fits).

    A character is never split across two words, so every word decodes on its own."""
    budget = min(_WORD_BYTES, max(0, (first - len(_WORD_OPEN) - len(_WORD_CLOSE)) // 4 * 3))
    whole = text.encode("utf-8")
    if len(whole) <= budget:  # most names and subjects: one word
        return [f"{_WORD_OPEN}{base64.b64encode(whole).decode('ascii')}{_WORD_CLOSE}"] if whole else [""]
    chunks: list[bytes] = []
    current = b""
    for character in text:
        encoded = character.encode("utf-8")
        if len(current) + len(encoded) > budget:
            chunks.append(current)
            current, budget = b"", _WORD_BYTES
        current += encoded
    chunks.append(current)
    words = [f"{_WORD_OPEN}{base64.b64encode(chunk).decode('ascii')}{_WORD_CLOSE}" for chunk in chunks]
    if not chunks[0]:
        words[0] = ""
    return words


def fold(field: str, pieces: Sequence[str]) -> str:
    """``Field: piece piece ...`` with a fold before each piece that would pass 78 characters. Pieces
    are never split; an empty first piece means the value starts on the next line."""
    line = len(field) + 1
    out: list[str] = [f"{field}:"]
    for index, piece in enumerate(pieces):
        if not piece:
            continue
        if index and line + 1 + len(piece) > LINE:
            out.append(FOLD)
            line = 1
        else:
            out.append(" ")
            line += 1
        out.append(piece)
        line += len(piece)
    return "".join(out)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def phrase_pieces(field: str, name: str, atoms: bool = False) -> list[str]:
    """A display name as the pieces of a folded header: one quoted-string when it is ASCII and fits
    the first line, RFC 2047 encoded words otherwise (and always when it contains ``=?``). With
    ``atoms``, a name of plain words goes out as they are (``VAIMH News``, the usual List-Id form)."""
    if not name:
        return []
    if name.isascii() and "=?" not in name:
        if atoms and _ATOMS.fullmatch(name) and len(field) + 2 + len(name) <= LINE:
            return [name]
        quoted = _quoted(name)
        if len(field) + 2 + len(quoted) <= LINE:
            return [quoted]
    return encoded_words(name, LINE - len(field) - 2)


def mailbox(field: str, name: str, address: str, what: str) -> str:
    """``Field: "Name" <address>`` (or the bare address when there is no name), folded; the name is
    cleaned here, whatever the caller did."""
    address = checked_address(address, what)
    pieces = phrase_pieces(field, display_text(name))
    if not pieces:
        return fold(field, [address])
    return fold(field, [*pieces, f"<{address}>"])


def unstructured(field: str, text: str) -> str:
    """``Field: text`` for free text such as a subject: folded at spaces when it is ASCII, as encoded
    words otherwise (and when it contains ``=?`` or a word too long to fold)."""
    text = plain_text(text)
    if text.isascii() and "=?" not in text:
        words = text.split(" ")
        if max(map(len, words)) <= LIMIT - len(field) - 2:
            return fold(field, words)
    return fold(field, encoded_words(text, LINE - len(field) - 2))


def list_id(value: str) -> str:
    """``List-Id: "Name" <id.domain>`` from a configured ``Name <id.domain>`` (RFC 2919)."""
    found = _NAMED_ADDRESS.fullmatch(value)
    name, identifier = (found.group(1), found.group(2).strip()) if found else ("", value.strip())
    if not _LIST_ID.fullmatch(identifier):
        raise DeliveryError(
            f"the list id {value!r} is not like 'VAIMH News <news.vaimh.example>'; "
            "correct [sender] list_id in outreach.toml"
        )
    return fold(
        "List-Id", [*phrase_pieces("List-Id", display_text(_unquoted(name)), atoms=True), f"<{identifier}>"]
    )


def _unquoted(name: str) -> str:
    """A configured display name written as a quoted-string, read as the text it stands for."""
    if len(name) >= 2 and name[0] == name[-1] == '"':
        return re.sub(r"\\(.)", r"\1", name[1:-1])
    return name


def named_address(value: str, what: str) -> tuple[str, str]:
    """(name, address) of a configured ``Name <address>`` or bare ``address`` (a Reply-To)."""
    found = _NAMED_ADDRESS.fullmatch(value)
    if found:
        return _unquoted(found.group(1)), checked_address(found.group(2).strip(), what)
    return "", checked_address(value.strip(), what)


def list_unsubscribe(unsubscribe: str, mailto: str = "") -> str:
    """The one-click URL, then the signed mailto when there is one: one plain line, never an encoded
    word and never folded (RFC 8058 readers take the value as it stands)."""
    links = [unsubscribe, mailto] if mailto else [unsubscribe]
    for link in links:
        if not _LINK.fullmatch(link):
            raise DeliveryError(f"the unsubscribe link {link!r} cannot go in a header; check [web] base_url")
    value = ", ".join(f"<{link}>" for link in links)
    if len("List-Unsubscribe: ") + len(value) > LIMIT:
        raise DeliveryError("the unsubscribe links pass 998 characters; shorten [web] base_url")
    return value


def message_id(value: str) -> str:
    if not _MESSAGE_ID.fullmatch(value):
        raise DeliveryError(f"the Message-ID {value!r} is not like <id@domain>")
    return value


@dataclass(frozen=True)
class RecipientHeaders:
    """The per-recipient values of a header block, as the caller has them."""

    name: str
    address: str
    subject: str
    date: str  # already formatted (RFC 5322 date-time)
    message_id: str
    unsubscribe: str
    unsubscribe_mailto: str = ""


class MessageHeaders:
    """The header block of one sender's messages: what every recipient shares is built once."""

    def __init__(
        self,
        from_name: str,
        from_address: str,
        list_id_value: str,
        reply_to: str = "",
        extra: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.from_line = mailbox("From", from_name, from_address, "From")
        fixed = []
        if reply_to:
            fixed.append(mailbox("Reply-To", *named_address(reply_to, "Reply-To"), "Reply-To"))
        fixed.append(list_id(list_id_value))
        for name, value in extra:
            if not _FIELD_NAME.fullmatch(name):
                raise DeliveryError(f"{name!r} is not a header name")
            fixed.append(unstructured(name, value))
        self.fixed_lines = fixed
        self._fixed = "".join(line + CRLF for line in fixed)
        self._subject: tuple[str, str] = ("", "Subject:")

    @property
    def from_value(self) -> str:
        """The From value unfolded, as JSON APIs take it."""
        return unfolded(self.from_line)

    def to_line(self, name: str, address: str) -> str:
        return mailbox("To", name, address, "recipient")

    def subject_line(self, subject: str) -> str:
        cached = self._subject  # most campaigns have one subject for everyone: encode it once
        if cached[0] != subject:
            cached = self._subject = (subject, unstructured("Subject", subject))
        return cached[1]

    def block(self, to_line: str, recipient: RecipientHeaders) -> str:
        """Every header line but the MIME ones, each ending in CRLF."""
        unsubscribe = list_unsubscribe(recipient.unsubscribe, recipient.unsubscribe_mailto)
        if not (recipient.date.isascii() and recipient.date.isprintable()):
            raise DeliveryError(f"the date {recipient.date!r} cannot go in a header")
        return (
            f"{self.from_line}{CRLF}{to_line}{CRLF}{self.subject_line(recipient.subject)}{CRLF}"
            f"Date: {recipient.date}{CRLF}Message-ID: {message_id(recipient.message_id)}{CRLF}"
            f"{self._fixed}List-Unsubscribe: {unsubscribe}{CRLF}"
            f"List-Unsubscribe-Post: List-Unsubscribe=One-Click{CRLF}"
        )

    def fields(self, recipient: RecipientHeaders) -> list[tuple[str, str]]:
        """The same headers as (name, folded value) pairs, for ``EmailMessage.set_raw``."""
        to_line = self.to_line(recipient.name, recipient.address)
        lines = self.block(to_line, recipient).removesuffix(CRLF).split(CRLF)
        pairs: list[tuple[str, str]] = []
        for line in lines:
            if line.startswith(" "):
                name, value = pairs[-1]
                pairs[-1] = (name, value + CRLF + line)
            else:
                name, _, value = line.partition(":")
                pairs.append((name, value.removeprefix(" ")))
        return pairs


def unfolded(line: str) -> str:
    """A header line's value on one line (a fold is CRLF and a space; the space stays)."""
    return line.partition(":")[2].removeprefix(" ").replace(CRLF, "")
