"""The staff-facing Jinja2 environment over ``templates/``: strict, so a typo is an error, not a blank.

Errors become ``TemplateError(template, line)`` so an operator editing a layout sees where it broke.
The layouts belong to the operator, but they handle issue text and may one day be edited in the admin
app, so they run in Jinja2's immutable sandbox too: a layout can read the issue and the settings and
call the helpers it is given, never reach Python's internals.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from outreach.errors import TemplateError


def layout_environment(templates: Path) -> jinja2.Environment:
    """Jinja2 over templates/ with StrictUndefined; ``.mjml.j2`` autoescapes, ``.txt.j2`` does not.

    One environment per folder, kept for the process: compiled layouts are cached, and Jinja2 checks
    each file's modification time, so an edited layout is still picked up (the preview relies on it).
    """
    if not templates.is_dir():
        raise TemplateError(f"the templates folder {templates} does not exist", str(templates))
    return _environment(templates.resolve())


@functools.lru_cache(maxsize=8)
def _environment(templates: Path) -> jinja2.Environment:
    env = ImmutableSandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(templates)),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("mjml.j2", "html.j2", "mjml")),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    # {% trans %} collapses whitespace, as babel.cfg extracts it; the reader's language comes with
    # each render (outreach.i18n.gettext_context), English when a caller passes none.
    env.policies["ext.i18n.trimmed"] = True
    env.install_null_translations()  # type: ignore[attr-defined]
    env.filters["attr_safe"] = attr_safe
    env.filters["css"] = css_value
    return env


def attr_safe(value: Any) -> Markup:
    """One line, quotes escaped: mjml-python mangles attributes holding newlines or quotes."""
    text = " ".join(str(value).split())
    return Markup(text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;"))


def css_value(value: Any) -> Markup:
    """A value from outreach.toml placed in a stylesheet: quotes kept, no way out of the rule."""
    return Markup(re.sub(r"[<>{};\\]", "", " ".join(str(value).split())))


def render_layout(env: jinja2.Environment, name: str, context: dict[str, Any]) -> str:
    """Render one layout, turning Jinja2's errors into a TemplateError with template and line."""
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateNotFound as err:
        known = sorted(n for n in env.list_templates() if "/" not in n)
        raise TemplateError(
            f"no template {err.name!r} in templates/; known: {', '.join(known)}", str(err.name)
        ) from None
    except jinja2.TemplateSyntaxError as err:
        raise TemplateError(err.message or "syntax error", err.filename or err.name, err.lineno) from None
    except jinja2.UndefinedError as err:
        template, line = _failing_frame(err, env)
        raise TemplateError(f"{err.message}", template, line) from None
    except SecurityError as err:
        template, line = _failing_frame(err, env)
        raise TemplateError(
            f"the layout tried something the sandbox refuses: {err}", template, line
        ) from None


def _failing_frame(err: BaseException, env: jinja2.Environment) -> tuple[str | None, int | None]:
    """Find the template line that raised, from Jinja2's rewritten traceback."""
    tb = err.__traceback__
    found: tuple[str | None, int | None] = (None, None)
    loader = env.loader
    root = Path(getattr(loader, "searchpath", ["."])[0])
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            try:
                found = (str(Path(filename).relative_to(root.resolve())), tb.tb_lineno)
            except ValueError:
                found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found
