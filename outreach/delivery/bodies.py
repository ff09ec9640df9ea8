"""Bodies every relay takes as they are: 7-bit, lines within SMTP's 998 octets.

A relay without 8BITMIME refuses 8-bit mail, and one that converts it breaks the DKIM signature, so
nothing leaves as ``8bit``. The HTML is made ASCII when the issue is rendered (non-ASCII as character
references); a recipient's own values (a name like Renée) are escaped the same way here. The text part
goes as ``7bit`` when it is ASCII and as quoted-printable otherwise.

Speed: ``binascii.b2a_qp`` costs ~9 ns a byte here, 50-150 µs for a whole text part, which is most of a
recipient's budget. The text of an issue is the same for everyone but a few lines (the greeting, the
links), so each line is encoded once and kept: per recipient, the cost is a lookup per line.
"""

from __future__ import annotations

import binascii

CRLF = "\r\n"
LIMIT = 998
# Character references make an HTML line longer than its UTF-8 was. The render step leaves lines of
# at most 600 characters plus a recipient's (capped) values; when references add no more than this in
# all, no line can reach 998 and the lines are not measured (measuring costs as much as the rest).
REFERENCE_ROOM = 200
_CACHED_LINES = 8192  # per frame: an issue's lines, plus room for lines that change per recipient


class QuotedPrintable:
    """Quoted-printable (RFC 2045 6.7) of CRLF text, line by line, remembering lines already seen.

    Safe to share between threads: a line encoded twice at once is stored twice with the same value."""

    def __init__(self, limit: int = _CACHED_LINES) -> None:
        self._lines: dict[str, bytes] = {}
        self._limit = limit

    def encode(self, text: str) -> bytes:
        lines = self._lines
        out: list[bytes] = []
        pieces = text.split(CRLF)
        last = pieces.pop()
        for line in pieces:
            encoded = lines.get(line)
            if encoded is None:
                encoded = _line(line)
                if len(lines) < self._limit:
                    lines[line] = encoded
            out.append(encoded)
        if last:  # text that does not end with a line break
            out.append(_line(last)[:-2])
        return b"".join(out)


def _line(line: str) -> bytes:
    # With a CRLF of its own, b2a_qp writes soft line breaks as "=\r\n" and protects trailing spaces.
    return binascii.b2a_qp((line + CRLF).encode("utf-8"), istext=True)


def text_body(text: str, encoder: QuotedPrintable) -> tuple[bytes, str]:
    """(body, Content-Transfer-Encoding) of a text/plain part whose lines end in CRLF."""
    if text.isascii():
        return text.encode("ascii"), "7bit"
    return encoder.encode(text), "quoted-printable"


def html_body(html: str, encoder: QuotedPrintable) -> tuple[bytes, str]:
    """(body, Content-Transfer-Encoding) of a text/html part: ASCII, with the recipient's non-ASCII
    characters as references; quoted-printable if that would make a line too long."""
    if html.isascii():
        return html.encode("ascii"), "7bit"
    body = html.encode("ascii", "xmlcharrefreplace")
    if len(body) - len(html) > REFERENCE_ROOM and longest_line(body) > LIMIT:
        return encoder.encode(html), "quoted-printable"
    return body, "7bit"


def longest_line(body: bytes) -> int:
    return max(map(len, body.split(b"\r\n")))
