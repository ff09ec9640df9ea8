"""Bodies every relay takes as they are: 7-bit, every line within SMTP's 998 octets.

A relay without 8BITMIME refuses 8-bit mail, and one that converts it breaks the DKIM signature, so
nothing leaves as ``8bit``. The HTML is made ASCII when the issue is rendered (non-ASCII as character
references); a recipient's own values (a name like Renée) are escaped the same way here. The text part
goes as ``7bit`` when it is ASCII and as quoted-printable otherwise.

Speed: quoted-printable of a whole text part costs 50-150 µs (``binascii.b2a_qp``, ~9 ns a byte), and
even splitting a part into lines or comparing it costs tens of microseconds: more than the rest of a
recipient's budget. But a recipient's part is the campaign's template with a few lines filled in, and
the template says which: the lines without a Jinja2 opener are the same for everyone. ``Shape`` splits
a template into those fixed runs (encoded once, here) and the lines that change (rendered per
recipient by a small template of their own, encoded and measured against 998 one by one).

A conditional section (``::: only``) is an ``{% if %}`` line, the section's lines and an ``{% endif %}``
line. Its condition becomes one more changing line, ``{{ 1 if CONDITION else 0 }}``, and the fixed
runs and changing lines between the two tags are left out of a recipient's part when it renders 0: a
section costs one expression per recipient, not a render of the whole part.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Sequence
from typing import NamedTuple

CRLF = "\r\n"
_CRLF = b"\r\n"
LIMIT = 998
QP_PIECE = 75  # RFC 2045 6.7 (5): encoded lines are at most 76 characters, a soft break's "=" included
_OPENERS = ("{{", "{%", "{#")
# The two lines of a conditional section (``outreach.render.conditional``), as the template has them.
_OPEN_TAG = re.compile(r"^\{% if (.+) %\}$")
_CLOSE_TAG = "{% endif %}"


class Body(NamedTuple):
    """One encoded part of a recipient's message."""

    data: bytes
    encoding: str  # its Content-Transfer-Encoding
    dotted: bool  # a line of it starts with a dot


class _Mark:
    """A section's start (``opens``) or end in a Shape's runs."""

    __slots__ = ("opens",)

    def __init__(self, opens: bool) -> None:
        self.opens = opens


_OPENS, _CLOSES = _Mark(True), _Mark(False)


def quoted_printable(text: str) -> bytes:
    """RFC 2045 6.7 of CRLF text: soft breaks within 76 characters, trailing white space protected.

    Byte for byte what ``binascii.b2a_qp`` writes; a line of printable ASCII without ``=`` (a
    greeting, a link) is its own encoding cut into 75-character pieces, without the C call's copies."""
    if text.isascii() and text.isprintable() and "=" not in text and text[-1:] != " " and text != ".":
        if len(text) <= QP_PIECE:
            return text.encode("ascii")
        pieces = [text[i : i + QP_PIECE] for i in range(0, len(text), QP_PIECE)]
        return "=\r\n".join(pieces).encode("ascii")
    # With a CRLF of its own, b2a_qp writes soft line breaks as "=\r\n" (without, as "=\n").
    return binascii.b2a_qp((text + CRLF).encode("utf-8"), istext=True)[:-2]


def references(html: str) -> bytes:
    """HTML as ASCII: every other character as a numeric character reference (the same document)."""
    return html.encode("ascii", "xmlcharrefreplace")


def fits(body: bytes) -> bool:
    return max(map(len, body.split(_CRLF))) <= LIMIT


class Shape:
    """A per-recipient template as runs of lines that are the same for everyone (``str``) and lines
    that change (``None``), in order; their line ends are CRLF, as the frame compiles them."""

    def __init__(self, source: str) -> None:
        # Jinja2 turns each line end of the source into the compiled line end; a line without a
        # Jinja2 opener renders exactly as it is written.
        lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        self.runs: list[str | _Mark | None] = []
        self.changing: list[str] = []
        self.sections = False
        self._flags: list[int] = []  # which changing lines are sections' conditions
        self._plans: dict[tuple[bool, ...], tuple[tuple[int, int], ...]] = {}
        fixed: list[str] = []
        for line in lines:
            bare = line.strip()
            tag = _OPEN_TAG.match(bare) if bare.startswith("{% ") else None
            if tag or bare == _CLOSE_TAG:
                if fixed:
                    self.runs.append(CRLF.join(fixed))
                    fixed = []
                self.sections = True
                self.runs.append(_OPENS if tag else _CLOSES)
                if tag:
                    self._flags.append(len(self.changing))
                    self.changing.append("{{ 1 if (" + tag.group(1) + ") else 0 }}")
            elif any(opener in line for opener in _OPENERS):
                if fixed:
                    self.runs.append(CRLF.join(fixed))
                    fixed = []
                self.runs.append(None)
                self.changing.append(line)
            else:
                fixed.append(line)
        if fixed:
            self.runs.append(CRLF.join(fixed))

    @property
    def changing_source(self) -> str:
        """The changing lines, one per line: the source of their own small template."""
        return "\n".join(self.changing)

    def lines_of(self, rendered: str) -> list[str] | None:
        """The changing lines from their template's output, or None when a value broke a line."""
        if not self.changing:
            return []
        if "\r" in rendered:
            return None
        lines = rendered.split("\n")
        return lines if len(lines) == len(self.changing) else None

    def assemble(self, lines: Sequence[str]) -> str:
        """The whole part: the fixed runs with the recipient's lines in their places."""
        if self.sections:
            runs = self.runs
            return CRLF.join(
                lines[line] if line >= 0 else runs[index]  # type: ignore[misc]
                for index, line in self.plan(lines)
            )
        filled = iter(lines)
        return CRLF.join(run if run is not None else next(filled) for run in self.runs)  # type: ignore[misc]

    def plan(self, lines: Sequence[str]) -> tuple[tuple[int, int], ...]:
        """What the recipient gets: (index of the run, index of their changing line or -1 for a fixed
        run), leaving out runs inside a section whose condition rendered 0. Worked out once per
        combination of the sections' answers (a handful per campaign), not per recipient."""
        return self.plan_for(self.shown(lines))

    def shown(self, lines: Sequence[str]) -> tuple[bool, ...]:
        """Which sections the recipient whose changing lines are ``lines`` sees (their conditions)."""
        return tuple(lines[i] == "1" for i in self._flags) if self._flags else ()

    def plan_for(self, flags: tuple[bool, ...]) -> tuple[tuple[int, int], ...]:
        plan = self._plans.get(flags)
        if plan is None:
            plan = self._plan(flags)
            if len(self._plans) < 1024:  # 2^sections combinations at most; bounded all the same
                self._plans[flags] = plan
        return plan

    def _plan(self, flags: tuple[bool, ...]) -> tuple[tuple[int, int], ...]:
        answers = iter(flags)
        changing = 0
        hidden = 0  # how many of the open sections hide what is inside them
        counted: list[bool] = []  # per open section: does it count in ``hidden``
        plan: list[tuple[int, int]] = []
        for index, run in enumerate(self.runs):
            if run is None:
                if not hidden:
                    plan.append((index, changing))
                changing += 1
            elif isinstance(run, _Mark):
                if run.opens:
                    changing += 1  # the condition's own line
                    hides = hidden > 0 or not next(answers)
                    counted.append(hides)
                    hidden += hides
                elif counted.pop():
                    hidden -= 1
            elif not hidden:
                plan.append((index, -1))
        return tuple(plan)


def dotted(body: bytes) -> bool:
    """Does a line of ``body`` start with a dot (which SMTP must stuff, RFC 5321 4.5.2)?"""
    return body[:1] == b"." or b"\n." in body


class _Layout(NamedTuple):
    """A part as one reader group gets it: the encoded fixed runs in place, empty slots for the
    reader's own lines, and whether a fixed run has a line that starts with a dot."""

    pieces: list[bytes]
    slots: tuple[tuple[int, int], ...]  # (position in pieces, index of the changing line)
    dotted: bool


class EncodedPart:
    """One part of a campaign's messages: fixed runs encoded once, changing lines per recipient."""

    def __init__(self, shape: Shape, encode: Callable[[str], bytes], encoding: str) -> None:
        self.shape = shape
        self._encode = encode
        self.encoding = encoding  # the Content-Transfer-Encoding ``encode`` writes
        self._encoded = [encode(run) if isinstance(run, str) else None for run in shape.runs]
        self._dotted = [body is not None and dotted(body) for body in self._encoded]
        self.fixed_fits = all(fits(body) for body in self._encoded if body is not None)
        self._layouts: dict[tuple[bool, ...], _Layout] = {}

    def body(self, lines: Sequence[str]) -> Body | None:
        """The encoded part (with whether a line of it starts with a dot), or None when a line would
        pass 998 octets. Every run and line starts a line of the part, so each is checked alone (the
        fixed runs once): the message is never scanned whole. Per recipient, only their own lines
        are encoded and put in their places."""
        shown = self.shape.shown(lines)
        layout = self._layouts.get(shown)
        if layout is None:
            layout = self._layout(shown)
        out = layout.pieces.copy()
        dots = layout.dotted
        encode = self._encode
        for position, line in layout.slots:
            body = encode(lines[line])
            if len(body) > LIMIT and not fits(body):
                return None
            dots = dots or dotted(body)
            out[position] = body
        return Body(_CRLF.join(out), self.encoding, dots)

    def _layout(self, shown: tuple[bool, ...]) -> _Layout:
        pieces: list[bytes] = []
        slots: list[tuple[int, int]] = []
        dots = False
        for index, line in self.shape.plan_for(shown):
            if line < 0:
                pieces.append(self._encoded[index])  # type: ignore[arg-type]
                dots = dots or self._dotted[index]
            else:
                slots.append((len(pieces), line))
                pieces.append(b"")
        layout = _Layout(pieces, tuple(slots), dots)
        if len(self._layouts) < 1024:  # 2^sections combinations at most; bounded all the same
            self._layouts[shown] = layout
        return layout


class TextPart:
    """The text/plain part: 7bit when it is ASCII, quoted-printable otherwise."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self._quoted = EncodedPart(shape, quoted_printable, "quoted-printable")
        self._ascii = all(run.isascii() for run in shape.runs if isinstance(run, str))
        self._plain = EncodedPart(shape, _ascii, "7bit") if self._ascii else None
        self._fixed_fits = all(fits(run.encode("utf-8")) for run in shape.runs if isinstance(run, str))

    def body(self, lines: Sequence[str]) -> Body:
        """The text part whose changing lines are ``lines``."""
        if (
            self._plain is not None
            and self._fixed_fits
            and all(line.isascii() and len(line) <= LIMIT for line in lines)
        ):
            plain = self._plain.body(lines)
            assert plain is not None  # every line was measured above
            return plain
        quoted = self._quoted.body(lines)
        assert quoted is not None  # quoted-printable lines are at most 76 characters
        return quoted


class HtmlPart:
    """The text/html part: 7bit ASCII with the recipient's characters as references."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self._ascii = EncodedPart(shape, references, "7bit")

    def body(self, lines: Sequence[str]) -> Body:
        """The HTML part whose changing lines are ``lines``."""
        if self._ascii.fixed_fits:
            encoded = self._ascii.body(lines)
            if encoded is not None:
                return encoded
        return html_body(self.shape.assemble(lines))


def _ascii(text: str) -> bytes:
    return text.encode("ascii")


def text_body(text: str) -> Body:
    """A whole text part, for a template that cannot be rendered line by line."""
    if text.isascii() and fits(text.encode("ascii")):
        return _whole(text.encode("ascii"), "7bit")
    return _whole(quoted_printable(text), "quoted-printable")


def html_body(html: str) -> Body:
    """A whole HTML part, for a template that cannot be rendered line by line."""
    body = references(html)
    if fits(body):
        return _whole(body, "7bit")
    return _whole(quoted_printable(html), "quoted-printable")


def _whole(body: bytes, encoding: str) -> Body:
    return Body(body, encoding, dotted(body))
