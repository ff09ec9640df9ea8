"""MJML -> HTML through mjml-python, with parse errors turned into ``template:line``.

mjml-python reports byte offsets into the MJML it was given, which is the output of a Jinja2 layout; we
find the failing line in that output and, where the same line stands in a template file, name it.
"""

from __future__ import annotations

import re
from pathlib import Path

from mjml import mjml2html

from outreach.errors import TemplateError

_POSITION = re.compile(r"position (\d+):(\d+)")


def compile_mjml(source: str, templates: Path, layout: str) -> str:
    """Compile MJML to HTML; ``mj-include`` may only read files inside ``templates``."""
    root = templates.resolve()

    def include(path: str) -> str:
        target = (root / path).resolve()
        if root not in target.parents or not target.is_file():
            raise FileNotFoundError(path)
        return target.read_text(encoding="utf-8")

    try:
        html: str = mjml2html(source, include_loader=include, disable_comments=True)
    except ValueError as err:
        template, line, excerpt = locate(str(err), source, templates, layout)
        hint = f" near: {excerpt}" if excerpt else ""
        raise TemplateError(f"MJML could not be read: {err}{hint}", template, line) from None
    return html


def locate(message: str, source: str, templates: Path, layout: str) -> tuple[str, int | None, str]:
    """Map an mjml-python byte offset to the template file and line that produced it."""
    match = _POSITION.search(message)
    raw = source.encode("utf-8")
    offset = int(match.group(1)) if match else len(raw)
    rendered_line = raw[:offset].count(b"\n") + 1
    lines = source.splitlines()
    excerpt = lines[rendered_line - 1].strip() if 0 < rendered_line <= len(lines) else ""
    if excerpt:
        for candidate in sorted(templates.rglob("*.mjml*")):
            for number, text in enumerate(candidate.read_text(encoding="utf-8").splitlines(), 1):
                if text.strip() == excerpt:
                    return str(candidate.relative_to(templates.parent)), number, excerpt
    return f"{Path('templates') / layout} (rendered MJML)", rendered_line, excerpt
