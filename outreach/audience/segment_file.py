"""Changing ``lists/segments.yaml`` from a program: add, edit and delete one segment, keeping the rest.

The file is the staff's own: comments explain the segments, blank lines group them, the order is
theirs. A change therefore replaces only the lines of the one segment it touches and leaves every
other byte as it was. (A ruamel.yaml round-trip was tried first: it re-spaced comments and moved the
blank line after an edited segment onto the next one; splicing the segment's own lines, found from
the composed node tree, does neither.) The rule keeps the text the person typed, comments included.

Every change is checked twice before it is written: the rule alone (so a mistake names the line of
the text the person edits, with the messages of ``outreach segments``), then the whole new file, as
``load_segments`` will read it. The file is then written atomically (a temporary file beside it,
renamed over it) and only if it still holds the version the person opened (its SHA-256): a second
editor's save, or an edit in a text editor meanwhile, is never silently overwritten. Each change is
recorded in the audit log in the caller's transaction.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import textwrap
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy.orm import Session
from yaml.nodes import MappingNode, Node, ScalarNode

from outreach import safe_yaml
from outreach.audience.audit import record
from outreach.audience.choices import ProfileChoices
from outreach.audience.segments import ALL, NAME_PATTERN, Rule, Segment, load_segments, parse_rule
from outreach.clock import Clock
from outreach.errors import SegmentError, SegmentFileChanged
from outreach.models import Actor

RULE_PATH = "rule"  # how a mistake in the rule box is located: "rule:3"
# One save at a time in this process; the version check covers other processes and editors.
_WRITING = threading.Lock()


@dataclass(frozen=True)
class SegmentSource:
    """One segment as written in the file: the rule is its own text, comments and layout kept."""

    name: str
    description: str
    rule_text: str
    line: int  # of its name


@dataclass(frozen=True)
class SegmentFile:
    """The file as read: its text, its version (SHA-256 of the bytes) and each segment's source."""

    path: Path
    display: str
    text: str
    version: str
    sources: dict[str, SegmentSource]


@dataclass(frozen=True)
class _Block:
    """Where a segment's lines are: ``start`` (its name) up to ``end`` (exclusive), 0-based."""

    start: int
    end: int


def version_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_segment_file(path: Path, display: str | None = None) -> SegmentFile:
    """The file with every segment's source text; a SegmentError (``path:line``) if it cannot be read.

    A missing file reads as empty: the first segment added creates it.
    """
    shown = display or str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    text = data.decode("utf-8")
    root, lines = _compose(text, shown)
    sources: dict[str, SegmentSource] = {}
    for (name_node, body), block in _blocks(root, lines, shown):
        name = str(name_node.value)
        description, rule_text = "", ""
        if isinstance(body, MappingNode):
            for key, value in body.value:
                if (
                    isinstance(key, ScalarNode)
                    and key.value == "description"
                    and isinstance(value, ScalarNode)
                ):
                    description = str(value.value)
                elif isinstance(key, ScalarNode) and key.value == "rule":
                    rule_text = _rule_text(text, lines, key, value, block)
        sources[name] = SegmentSource(name, description, rule_text, block.start + 1)
    return SegmentFile(path, shown, text, version_of(data), sources)


def check_rule(text: str, topics: Iterable[str] | None = None, choices: ProfileChoices | None = None) -> Rule:
    """A rule typed in a box, checked as ``outreach segments`` checks the file: a mistake is a
    SegmentError whose line is the line of ``text``."""
    return parse_rule(normalise(text), RULE_PATH, topics, choices)


def normalise(text: str) -> str:
    """A browser's text box sends CRLF line ends; YAML and the file want LF, and one final newline."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip("\n") + "\n"


def save_segment(
    session: Session,
    path: Path,
    *,
    name: str,
    description: str,
    rule_text: str,
    version: str,
    actor: Actor,
    clock: Clock,
    new: bool = False,
    topics: Iterable[str] | None = None,
    choices: ProfileChoices | None = None,
    display: str | None = None,
) -> Segment:
    """Write one segment (a new one at the end of the file, else in place) and audit it.

    ``version`` is the file's version when the person opened it; a different one on disk now is
    ``SegmentFileChanged`` and nothing is written.
    """
    topic_keys = tuple(topics) if topics is not None else None
    rule_text = normalise(rule_text)
    check_rule(rule_text, topic_keys, choices)
    description = " ".join(description.split())
    with _WRITING:
        current = _current(path, display, version)
        if new:
            _check_new_name(name, current)
        elif name not in current.sources:
            raise SegmentError(f"there is no segment {name!r} (it may have been deleted)", current.display)
        block = _segment_lines(name, description, rule_text)
        lines = current.text.splitlines(keepends=True)
        if new:
            head = "".join(lines).rstrip("\n")
            text = (head + "\n\n" if head else "") + "".join(block)
        else:
            where = _block_of(current, name)
            text = "".join([*lines[: where.start], *block, *lines[where.end :]])
        segment = _write_checked(path, current, text, topic_keys, choices)[name]
        before = current.sources.get(name)
        record(
            session,
            actor,
            "segment.add" if new else "segment.edit",
            f"segment {name}",
            clock,
            {
                "file": current.display,
                "description": description,
                "rule": rule_text,
                **({"rule_before": before.rule_text} if before else {}),
            },
        )
        return segment


def delete_segment(
    session: Session,
    path: Path,
    *,
    name: str,
    version: str,
    actor: Actor,
    clock: Clock,
    topics: Iterable[str] | None = None,
    choices: ProfileChoices | None = None,
    display: str | None = None,
) -> None:
    """Remove one segment's lines (and one blank line after them) and audit it, with its old rule."""
    topic_keys = tuple(topics) if topics is not None else None
    with _WRITING:
        current = _current(path, display, version)
        if name not in current.sources:
            raise SegmentError(f"there is no segment {name!r} (it may have been deleted)", current.display)
        where = _block_of(current, name)
        lines = current.text.splitlines(keepends=True)
        end = where.end
        if (
            end < len(lines)
            and not lines[end].strip()
            and (where.start == 0 or not lines[where.start - 1].strip())
        ):
            end += 1
        _write_checked(path, current, "".join([*lines[: where.start], *lines[end:]]), topic_keys, choices)
        old = current.sources[name]
        record(
            session,
            actor,
            "segment.delete",
            f"segment {name}",
            clock,
            {"file": current.display, "description": old.description, "rule": old.rule_text},
        )


# --- reading ---------------------------------------------------------------------------------------


def _compose(text: str, shown: str) -> tuple[MappingNode | None, list[str]]:
    try:
        root = safe_yaml.compose(text, shown, SegmentError)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise SegmentError(
            f"not valid YAML: {getattr(err, 'problem', err)}", shown, mark.line + 1 if mark else None
        ) from err
    if root is not None and not isinstance(root, MappingNode):
        raise SegmentError("expected a mapping of segment name -> {description, rule}", shown, 1)
    if root is not None and root.flow_style:
        raise SegmentError(
            "write the segments one per block (not as one {...}) to change them here", shown, 1
        )
    return root, text.splitlines(keepends=True)


def _blocks(
    root: MappingNode | None, lines: list[str], shown: str
) -> list[tuple[tuple[ScalarNode, Node], _Block]]:
    """Each top-level segment with its lines: from its name to the next name, less the blank and
    comment lines before that next name (they introduce it, or close the file)."""
    if root is None:
        return []
    pairs = [(k, v) for k, v in root.value if isinstance(k, ScalarNode)]
    found = []
    for index, (key, value) in enumerate(pairs):
        start = key.start_mark.line
        end = pairs[index + 1][0].start_mark.line if index + 1 < len(pairs) else len(lines)
        if key.start_mark.column != 0:
            raise SegmentError("segment names must start at the beginning of their line", shown, start + 1)
        found.append(((key, value), _Block(start, _trim(lines, start + 1, end))))
    return found


def _trim(lines: list[str], first: int, end: int) -> int:
    """``end`` moved up past blank and comment-only lines, but not above ``first``."""
    while end > first and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    return end


def _rule_text(text: str, lines: list[str], key: Node, value: Node, block: _Block) -> str:
    """The rule's own text: on the key's line (``rule: {tag: x}``) or the indented lines below it."""
    if value.start_mark.line == key.start_mark.line:
        return normalise(text[value.start_mark.index : value.end_mark.index])
    last = value.end_mark.line + (1 if value.end_mark.column > 0 else 0)
    end = _trim(lines, key.start_mark.line + 1, min(last, block.end))
    return normalise(textwrap.dedent("".join(lines[key.start_mark.line + 1 : end])))


def _block_of(current: SegmentFile, name: str) -> _Block:
    root, lines = _compose(current.text, current.display)
    for (key, _), block in _blocks(root, lines, current.display):
        if key.value == name:
            return block
    raise SegmentError(f"there is no segment {name!r}", current.display)  # pragma: no cover - checked before


# --- writing ---------------------------------------------------------------------------------------


def _current(path: Path, display: str | None, version: str) -> SegmentFile:
    current = read_segment_file(path, display)
    if current.version != version:
        raise SegmentFileChanged(
            f"{current.display} has changed since you opened this page (someone else saved it, or it "
            "was edited on disk); nothing was saved. Open the segment again, then make your change once more."
        )
    return current


def _check_new_name(name: str, current: SegmentFile) -> None:
    if not NAME_PATTERN.match(name):
        raise SegmentError(f"segment name {name!r} must be lower-case letters, digits and dashes")
    if name == ALL:
        raise SegmentError(f"segment {name!r} is built in (every mailable subscriber); choose another name")
    if name in current.sources:
        raise SegmentError(f"there is already a segment {name!r}; choose another name", current.display)


def _segment_lines(name: str, description: str, rule_text: str) -> list[str]:
    described = yaml.safe_dump({"description": description}, allow_unicode=True, width=1_000_000)
    body = textwrap.indent(rule_text, "    ", lambda line: bool(line.strip()))
    return [f"{name}:\n", f"  {described.strip()}\n", "  rule:\n", *body.splitlines(keepends=True)]


def _write_checked(
    path: Path,
    current: SegmentFile,
    text: str,
    topics: tuple[str, ...] | None,
    choices: ProfileChoices | None,
) -> dict[str, Segment]:
    """Write ``text`` beside the file, read it back as ``load_segments`` will, then rename it over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o777)
        segments = load_segments(Path(temporary), topics, current.display, choices)
        if version_of(path.read_bytes() if path.exists() else b"") != current.version:
            raise SegmentFileChanged(f"{current.display} changed while saving; nothing was saved. Try again.")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return segments
