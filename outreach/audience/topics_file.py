"""Writing ``lists/topics.yaml`` from the admin app: the file stays the source of truth, as people wrote it.

ruamel.yaml's round trip keeps comments, order and quoting; only the entry changed is touched. The
new text is checked with ``load_topics`` (the same reader every command uses) before it replaces the
file, and the file is replaced atomically (a temporary file beside it, then ``os.replace``), so a
mistake or a crash never leaves a half-written or invalid topics file behind.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from outreach.audience.topics import _KEY, TopicDefinition, load_topics
from outreach.errors import TopicsError

MAX_NAME = 200
MAX_DESCRIPTION = 2000


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long description onto a second line
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _check(definition: TopicDefinition) -> None:
    if not _KEY.match(definition.key) or len(definition.key) > 64:
        raise TopicsError(
            f"the key {definition.key!r} must be lower-case letters, digits and dashes (at most 64)"
        )
    if not definition.name.strip():
        raise TopicsError("a topic needs a name people will read, e.g. 'Monthly newsletter'")
    if len(definition.name) > MAX_NAME or len(definition.description) > MAX_DESCRIPTION:
        raise TopicsError(
            f"keep the name under {MAX_NAME} and the description under {MAX_DESCRIPTION} characters"
        )
    for text in (definition.name, definition.description):
        if any(ord(c) < 32 for c in text):
            raise TopicsError("the name and description are one line each, without control characters")


def save_topic(path: Path, definition: TopicDefinition, *, new: bool) -> tuple[TopicDefinition, ...]:
    """Add (``new``) or change one topic in the file; returns the file's topics afterwards.

    Adding a key that exists, or changing one that does not, is refused with a message that says so.
    """
    _check(definition)
    yaml = _yaml()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    try:
        document = yaml.load(text) if text.strip() else CommentedMap()
    except YAMLError as err:
        raise TopicsError(f"the file is not valid YAML; fix it by hand first: {err}", str(path)) from err
    if not isinstance(document, CommentedMap):
        raise TopicsError("the file is not a mapping of topic key -> name and description", str(path))
    if new and definition.key in document:
        raise TopicsError(f"there is already a topic {definition.key!r}; change it instead", str(path))
    if not new and definition.key not in document:
        raise TopicsError(f"there is no topic {definition.key!r} to change", str(path))
    entry = document.get(definition.key)
    if not isinstance(entry, CommentedMap):
        entry = CommentedMap()
        document[definition.key] = entry
    entry["name"] = definition.name.strip()
    if definition.description.strip():
        entry["description"] = definition.description.strip()
    elif "description" in entry:
        del entry["description"]
    if definition.default:
        entry["default"] = True
    elif "default" in entry:
        del entry["default"]
    out = io.StringIO()
    yaml.dump(document, out)
    return _replace(path, out.getvalue())


def _replace(path: Path, text: str) -> tuple[TopicDefinition, ...]:
    """Check the new text as every reader will, then put it in place atomically."""
    handle, temporary = tempfile.mkstemp(prefix=".topics-", suffix=".yaml", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        topics = load_topics(Path(temporary), str(path))
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return topics
