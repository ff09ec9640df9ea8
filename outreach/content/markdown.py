"""Markdown body -> blocks: prose, buttons, callouts, event cards, images, two columns, dividers.

CommonMark plus tables, with ``:::`` containers for the components staff need::

    ::: button https://vaimh.example/register
    Register for the training
    :::

Every block keeps its source line so that checks and errors can say ``path:line``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.container import container_plugin

from outreach.content.conditions import parse_condition
from outreach.content.details import Details, ends_at, read_details, starts_at, when_from_starts
from outreach.content.fences import COMPONENTS, SECTIONS, outline_blocks
from outreach.content.plaintext import inline_text, render_text
from outreach.content.structure import check_depth, heading_shift, shift_headings
from outreach.content.urls import Address, checked_address, scheme_of
from outreach.errors import ContentError
from outreach.models import (
    Block,
    Button,
    Callout,
    Columns,
    Divider,
    Event,
    Image,
    Link,
    Picture,
    Prose,
    Section,
)

# markdown-it silently drops whatever lies deeper than this many levels; ``check_depth`` refuses
# anything close to it first, so content is never lost without a word.
MAX_TOKEN_NESTING = 40


class _Markdown(MarkdownIt):
    """markdown-it quietly leaves ``[x](javascript:...)`` as text; here every address becomes a link
    token, and the one gate (``outreach.content.urls``) refuses what is unsafe with a message."""

    def validateLink(self, url: str) -> bool:  # markdown-it's name for the hook
        return True


def build_markdown() -> MarkdownIt:
    """CommonMark with tables and strikethrough; raw HTML is shown as text, never passed through."""
    md = _Markdown("commonmark", {"html": False, "typographer": False, "maxNesting": MAX_TOKEN_NESTING})
    md.enable(["table", "strikethrough"])
    for name in COMPONENTS:
        md.use(container_plugin, name=name)
    return md


_MD = build_markdown()


@dataclass
class Body:
    """What the body holds, besides its blocks: links, pictures and headings, with lines."""

    blocks: list[Block] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    pictures: list[Picture] = field(default_factory=list)
    headings: list[tuple[int, int]] = field(default_factory=list)


class _Reader:
    def __init__(
        self, source: str, path: str, first_line: int, expressions: dict[str, str], shift: int = 0
    ) -> None:
        self.lines = source.split("\n")
        self.path = path
        self.first_line = first_line
        self.expressions = expressions
        self.shift = shift
        self.body = Body()

    def line(self, token: Token) -> int:
        return self.first_line + (token.map[0] if token.map else 0)

    def error(self, message: str, token: Token | None = None, line: int | None = None) -> ContentError:
        where = line if line is not None else (self.line(token) if token is not None else None)
        return ContentError(message, self.path, where)

    def address(self, url: str, kind: Address, line: int) -> str:
        return checked_address(url, kind, self.path, line, self.expressions)

    def parse(self, source: str) -> list[Token]:
        """Markdown inside a block (an event's description), read like the body around it."""
        tokens = _MD.parse(source)
        check_depth(tokens, self.path, self.first_line)
        shift_headings(tokens, self.shift)
        return tokens

    # --- walking --------------------------------------------------------------------------------

    def blocks(self, tokens: Sequence[Token]) -> list[Block]:
        out: list[Block] = []
        prose: list[Token] = []
        index = 0
        while index < len(tokens):
            token = tokens[index]
            if token.type.startswith("container_") and token.nesting == 1 and token.level == 0:
                end = _closing(tokens, index)
                self._flush(prose, out)
                out.append(self.component(token, tokens[index + 1 : end]))
                index = end + 1
                continue
            if token.type == "hr":
                self._flush(prose, out)
                out.append(Divider(line=self.line(token)))
            elif token.type == "paragraph_open" and _lone_image(tokens, index):
                self._flush(prose, out)
                out.append(self.lone_image(tokens[index + 1]))
                index += 3
                continue
            else:
                self.note(token)
                prose.append(token)
            index += 1
        self._flush(prose, out)
        return out

    def _flush(self, prose: list[Token], out: list[Block]) -> None:
        if not prose:
            return
        html = _MD.renderer.render(prose, _MD.options, {}).replace("<table>", '<table class="md">')
        text = render_text(prose)
        first = next((t for t in prose if t.map), prose[0])
        out.append(Prose(html=html, text=text, line=self.line(first)))
        prose.clear()

    def note(self, token: Token) -> None:
        """Record links, pictures and headings; refuse a block inside a list or a quote."""
        if token.type.startswith("container_") and token.nesting == 1:
            name = token.type.removeprefix("container_").removesuffix("_open")
            raise self.error(
                f"a '::: {name}' block cannot be inside a list or a quote: "
                "start it at the beginning of a line, after a blank line",
                token,
            )
        if token.type == "heading_open":
            self.body.headings.append((int(token.tag[1]), self.line(token)))
        if token.type != "inline":
            return
        line = self.line(token)
        href: str | None = None
        label: list[str] = []
        for child in token.children or []:
            if child.type in ("softbreak", "hardbreak"):
                line += 1
            elif child.type == "link_open":
                href = self.address(str(child.attrs.get("href", "")), Address.LINK, line)
                label = []
            elif child.type == "link_close" and href is not None:
                self.body.links.append(Link(url=href, text="".join(label).strip(), line=line))
                href = None
            elif child.type == "image":
                src = self.address(str(child.attrs.get("src", "")), Address.IMAGE, line)
                self.body.pictures.append(Picture(src=src, alt=child.content, line=line))
            elif href is not None and child.type in ("text", "code_inline"):
                label.append(child.content)

    # --- components -----------------------------------------------------------------------------

    def component(self, opening: Token, inner: Sequence[Token]) -> Block:
        name = opening.type.removeprefix("container_").removesuffix("_open")
        argument = opening.info.strip().removeprefix(name).strip()
        line = self.line(opening)
        if name == "button":
            return self.button(argument, inner, line)
        if name == "callout":
            for token in inner:
                self.note(token)
            return Callout(
                html=_MD.renderer.render(list(inner), _MD.options, {}),
                text=render_text(inner),
                line=line,
                title=argument,
            )
        if name == "event":
            return self.event(opening)
        if name == "image":
            details = self.details(opening, ("src", "alt", "caption", "link", "width"))
            return self.picture_block(details.values, line, details.lines)
        if name == "columns":
            return self.columns(opening, inner)
        if name in SECTIONS:
            condition = parse_condition(name, argument, self.path, line)
            blocks = self.blocks(_outdented(inner))
            if not blocks:
                raise self.error(
                    f"this '::: {name}' section is empty: write what it shows inside it", opening
                )
            return Section(condition=condition, blocks=tuple(blocks), line=line, written=argument)
        raise self.error("'::: column' belongs inside ':::: columns'", opening)

    def button(self, argument: str, inner: Sequence[Token], line: int) -> Button:
        for token in inner:
            self.note(token)  # a link written inside the label goes through the gate as well
        label = " ".join(inline_text(t).strip() for t in inner if t.type == "inline").strip()
        url = self.address(argument, Address.BUTTON, line) if argument else ""
        if not url or not label or not (scheme_of(url) or url in self.expressions):
            raise self.error(
                "a button needs a link and a label:\n::: button https://...\nLabel\n:::", line=line
            )
        self.body.links.append(Link(url=url, text=label, line=line))
        return Button(label=label, url=url, line=line)

    def details(self, opening: Token, allowed: Sequence[str]) -> Details:
        """The ``key: value`` lines of a component; the rest after a blank line is Markdown."""
        start, end = opening.map or (0, 0)
        inner = self.lines[start + 1 : end]
        return read_details(inner, self.first_line + start + 1, allowed, self.path, self.line(opening))

    def event(self, opening: Token) -> Event:
        allowed = ("title", "when", "starts", "ends", "where", "online", "link", "link_label", "id")
        details = self.details(opening, allowed)
        data, line = details.values, self.line(opening)
        if not data.get("title"):
            raise self.error("an event needs a 'title:'", opening)
        starts = starts_at(data.get("starts"), self.path, details.line("starts", line))
        ends = ends_at(data.get("ends"), starts, self.path, details.line("ends", line))
        key = event_key(data.get("id"), str(data["title"]), starts, self.path, details.line("id", line))
        when = str(data.get("when") or "")
        if not when and starts is not None:
            when = when_from_starts(starts)
        if not when:
            raise self.error("an event needs 'when:' (as readers should see it) or 'starts:'", opening)
        online = bool(data.get("online", False))
        where = str(data.get("where") or ("Online" if online else ""))
        url = str(data.get("link") or "")
        if url:
            url = self.address(url, Address.EVENT, details.line("link", line))
        html = text = ""
        if details.rest.strip():
            sub = _Reader(details.rest, self.path, details.rest_line, self.expressions, self.shift)
            sub.body = self.body
            tokens = sub.parse(details.rest)
            for token in tokens:
                sub.note(token)
            html = _MD.renderer.render(tokens, _MD.options, {})
            text = render_text(tokens)
        if url:
            self.body.links.append(Link(url=url, text=str(data.get("link_label") or "Details"), line=line))
        return Event(
            title=str(data["title"]),
            when=when,
            line=line,
            where=where,
            online=online,
            url=url,
            link_label=str(data.get("link_label") or "Details and registration"),
            html=html,
            text=text,
            starts=starts,
            ends=ends,
            key=key,
        )

    def picture_block(
        self, fields: dict[str, object], line: int, lines: dict[str, int] | None = None
    ) -> Image:
        at = lines or {}
        if not fields.get("src"):
            raise self.error("an image needs 'src:' (the address of the picture)", line=line)
        width = fields.get("width")
        if width is not None and not isinstance(width, int):
            raise self.error("'width:' is a number of pixels, like 560", line=at.get("width", line))
        link = str(fields.get("link") or "")
        picture = Picture(
            src=self.address(str(fields["src"]), Address.IMAGE, at.get("src", line)),
            alt=str(fields.get("alt") or "").strip(),
            line=line,
            caption=str(fields.get("caption") or ""),
            link=self.address(link, Address.IMAGE_LINK, at.get("link", line)) if link else "",
            width=width,
        )
        self.body.pictures.append(picture)
        if picture.link:
            self.body.links.append(Link(url=picture.link, text=picture.alt, line=line))
        return Image(picture=picture, line=line)

    def lone_image(self, inline: Token) -> Image:
        image = (inline.children or [])[0]
        fields: dict[str, object] = {
            "src": image.attrs.get("src", ""),
            "alt": image.content,
            "caption": image.attrs.get("title", ""),
        }
        return self.picture_block(fields, self.line(inline))

    def columns(self, opening: Token, inner: Sequence[Token]) -> Columns:
        halves: list[list[Block]] = []
        index = 0
        while index < len(inner):
            token = inner[index]
            if token.type == "container_column_open":
                end = _closing(inner, index)
                halves.append(self.blocks(_outdented(inner[index + 1 : end])))
                index = end + 1
                continue
            if token.type != "container_column_close" and token.level == opening.level + 1:
                raise self.error("inside ':::: columns' put exactly two '::: column' blocks", token)
            index += 1
        if len(halves) != 2:
            raise self.error(
                f"':::: columns' needs exactly two '::: column' blocks, found {len(halves)}",
                opening,
            )
        return Columns(left=tuple(halves[0]), right=tuple(halves[1]), line=self.line(opening))


_EVENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")


def event_key(given: object, title: str, starts: datetime | None, path: str, line: int) -> str:
    """The event's id: ``id:`` as written, or its title as a slug plus the year it starts. It names the
    calendar entry (its UID), so it stays the same when the time or the place changes; give ``id:``
    when two issues describe the same event under different titles (a reminder and the newsletter)."""
    if given is not None and given != "":
        key = str(given).strip()
        if not _EVENT_ID.match(key):
            raise ContentError(
                f"'id: {given}' must be lower-case letters, digits and dashes, like spring-gathering-2027",
                path,
                line,
            )
        return key
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title).strip("-")
    if len(slug) > 48:  # a few words are enough to tell events apart, and keep the address short
        slug = slug[:49].rsplit("-", 1)[0]
    slug = slug or "event"
    return f"{slug}-{starts:%Y}" if starts is not None else slug


def _outdented(tokens: Sequence[Token]) -> list[Token]:
    """A column's tokens as if they stood at the top level, so blocks inside it are read alike."""
    level = min((t.level for t in tokens), default=0)
    return [t.copy(level=t.level - level) for t in tokens]


def _closing(tokens: Sequence[Token], index: int) -> int:
    opening = tokens[index]
    close = opening.type.replace("_open", "_close")
    for end in range(index + 1, len(tokens)):
        if tokens[end].type == close and tokens[end].level == opening.level:
            return end
    return len(tokens) - 1


def _lone_image(tokens: Sequence[Token], index: int) -> bool:
    if index + 2 >= len(tokens) or tokens[index + 1].type != "inline":
        return False
    children = [
        c for c in tokens[index + 1].children or [] if not (c.type == "text" and not c.content.strip())
    ]
    return len(children) == 1 and children[0].type == "image"


def parse_body(source: str, path: str, first_line: int, expressions: dict[str, str] | None = None) -> Body:
    """Turn the Markdown body into blocks; ``first_line`` is the file line where the body starts.

    ``expressions`` maps the placeholder tokens in ``source`` to the expressions they stand for.
    """
    outlined = outline_blocks(source, path, first_line)
    tokens = _MD.parse(outlined)
    check_depth(tokens, path, first_line)
    shift = heading_shift(tokens)
    shift_headings(tokens, shift)
    reader = _Reader(outlined, path, first_line, expressions or {}, shift)
    reader.body.blocks = reader.blocks(tokens)
    return reader.body
