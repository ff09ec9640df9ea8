"""Markdown body -> blocks: prose, buttons, callouts, event cards, images, two columns, dividers.

CommonMark plus tables, with ``:::`` containers for the components staff need::

    ::: button https://vaimh.example/register
    Register for the training
    :::

Every block keeps its source line so that checks and errors can say ``path:line``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.container import container_plugin

from outreach.content.plaintext import inline_text, render_text
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
)

COMPONENTS = ("button", "callout", "event", "image", "columns", "column")


def build_markdown() -> MarkdownIt:
    """CommonMark with tables and strikethrough; raw HTML is shown as text, never passed through."""
    md = MarkdownIt("commonmark", {"html": False, "typographer": False})
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
    def __init__(self, source: str, path: str, first_line: int) -> None:
        self.lines = source.split("\n")
        self.path = path
        self.first_line = first_line
        self.body = Body()

    def line(self, token: Token) -> int:
        return self.first_line + (token.map[0] if token.map else 0)

    def error(self, message: str, token: Token | None = None, line: int | None = None) -> ContentError:
        where = line if line is not None else (self.line(token) if token is not None else None)
        return ContentError(message, self.path, where)

    # --- walking --------------------------------------------------------------------------------

    def blocks(self, tokens: Sequence[Token]) -> list[Block]:
        out: list[Block] = []
        prose: list[Token] = []
        index = 0
        while index < len(tokens):
            token = tokens[index]
            if token.type.startswith("container_") and token.nesting == 1:
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
        """Record links, pictures and headings; refuse a ':::' line that is not a known block."""
        if token.type == "heading_open":
            self.body.headings.append((int(token.tag[1]), self.line(token)))
        if token.type != "inline":
            return
        if token.content.lstrip().startswith(":::"):
            name = (token.content.strip(": \n").split() or ["(nothing)"])[0]
            raise self.error(
                f"unknown block '{name}' after ':::'; known: {', '.join(COMPONENTS)} "
                "(each block needs a closing ':::' line)",
                token,
            )
        line = self.line(token)
        href: str | None = None
        label: list[str] = []
        for child in token.children or []:
            if child.type == "link_open":
                href, label = str(child.attrs.get("href", "")), []
            elif child.type == "link_close" and href is not None:
                self.body.links.append(Link(url=href, text="".join(label).strip(), line=line))
                href = None
            elif child.type == "image":
                src = str(child.attrs.get("src", ""))
                self.body.pictures.append(Picture(src=src, alt=child.content, line=line))
            elif href is not None and child.type in ("text", "code_inline"):
                label.append(child.content)

    # --- components -----------------------------------------------------------------------------

    def component(self, opening: Token, inner: Sequence[Token]) -> Block:
        name = opening.type.removeprefix("container_").removesuffix("_open")
        argument = opening.info.strip().removeprefix(name).strip()
        line = self.line(opening)
        if name == "button":
            label = " ".join(inline_text(t).strip() for t in inner if t.type == "inline").strip()
            if not argument.startswith(("http", "XQOUTREACH")) or not label:
                raise self.error(
                    "a button needs a link and a label:\n::: button https://...\nLabel\n:::",
                    opening,
                )
            self.body.links.append(Link(url=argument, text=label, line=line))
            return Button(label=label, url=argument, line=line)
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
            fields = self.fields(opening, ("src", "alt", "caption", "link", "width"))[0]
            return self.picture_block(fields, line)
        if name == "columns":
            return self.columns(opening, inner)
        raise self.error("'::: column' belongs inside ':::: columns'", opening)

    def fields(self, opening: Token, allowed: Sequence[str]) -> tuple[dict[str, Any], str, int]:
        """Read the ``key: value`` lines of a component; the rest after a blank line is Markdown."""
        start, end = opening.map or (0, 0)
        inner = self.lines[start + 1 : end]
        head: list[str] = []
        for raw in inner:
            if not raw.strip():
                break
            head.append(raw)
        rest = "\n".join(inner[len(head) :]).strip("\n")
        rest_line = self.first_line + start + 1 + len(head) + 1
        data: dict[str, Any] = {}
        for offset, raw in enumerate(head):
            name, colon, value = raw.partition(":")
            at = self.first_line + start + 1 + offset
            if not colon or not name.strip().replace("_", "").isalpha():
                raise self.error(
                    f"write each detail as 'name: value' on its own line, not {raw.strip()!r}",
                    line=at,
                )
            data[name.strip().lower()] = _value(value.strip())
        unknown = sorted(set(map(str, data)) - set(allowed))
        if unknown:
            raise self.error(f"unknown detail '{unknown[0]}'; valid: {', '.join(allowed)}", opening)
        return {str(k): v for k, v in data.items()}, rest, rest_line

    def event(self, opening: Token) -> Event:
        allowed = ("title", "when", "starts", "where", "online", "link", "link_label")
        data, rest, rest_line = self.fields(opening, allowed)
        line = self.line(opening)
        if not data.get("title"):
            raise self.error("an event needs a 'title:'", opening)
        starts = data.get("starts")
        if isinstance(starts, str) and starts:
            with suppress(ValueError):  # if it stays a string it is refused just below, with the line
                starts = datetime.fromisoformat(starts)
        if starts and not isinstance(starts, datetime):
            raise self.error("'starts:' must be a date and time like 2027-01-14 09:00", opening)
        when = str(data.get("when") or "")
        if not when and isinstance(starts, datetime):
            when = f"{starts:%A, %B} {starts.day}, {starts:%Y}, {starts:%-I:%M %p}"
        if not when:
            raise self.error("an event needs 'when:' (as readers should see it) or 'starts:'", opening)
        online = bool(data.get("online", False))
        where = str(data.get("where") or ("Online" if online else ""))
        url = str(data.get("link") or "")
        html = text = ""
        if rest.strip():
            sub = _Reader(rest, self.path, rest_line)
            sub.body = self.body
            tokens = _MD.parse(rest)
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
            starts=starts if isinstance(starts, datetime) else None,
        )

    def picture_block(self, fields: dict[str, Any], line: int) -> Image:
        if not fields.get("src"):
            raise self.error("an image needs 'src:' (the address of the picture)", line=line)
        width = fields.get("width")
        if width is not None and not isinstance(width, int):
            raise self.error("'width:' is a number of pixels, like 560", line=line)
        picture = Picture(
            src=str(fields["src"]),
            alt=str(fields.get("alt") or "").strip(),
            line=line,
            caption=str(fields.get("caption") or ""),
            link=str(fields.get("link") or ""),
            width=width,
        )
        self.body.pictures.append(picture)
        if picture.link:
            self.body.links.append(Link(url=picture.link, text=picture.alt, line=line))
        return Image(picture=picture, line=line)

    def lone_image(self, inline: Token) -> Image:
        image = (inline.children or [])[0]
        fields = {
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
                halves.append(self.blocks(inner[index + 1 : end]))
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


def _value(text: str) -> Any:
    """A detail's value: quotes removed, yes/no and whole numbers understood, the rest as written."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    if text.lower() in ("true", "yes"):
        return True
    if text.lower() in ("false", "no"):
        return False
    return int(text) if text.isdigit() else text


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


def parse_body(source: str, path: str, first_line: int) -> Body:
    """Turn the Markdown body into blocks; ``first_line`` is the file line where the body starts."""
    reader = _Reader(source, path, first_line)
    tokens = _MD.parse(source)
    _check_closed(tokens, reader)
    reader.body.blocks = reader.blocks(tokens)
    return reader.body


def _check_closed(tokens: Sequence[Token], reader: _Reader) -> None:
    """markdown-it closes an unclosed container at the end of the file; staff meant to close it."""
    for token in tokens:
        if token.type.startswith("container_") and token.nesting == 1 and token.map:
            end = token.map[1]
            if end >= len(reader.lines) or not reader.lines[end].strip().startswith(":::"):
                name = token.type.removeprefix("container_").removesuffix("_open")
                raise reader.error(
                    f"this '::: {name}' block is never closed: add a ':::' line after it", token
                )
