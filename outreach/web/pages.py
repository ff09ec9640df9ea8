"""The service's own pages: Jinja2 templates, autoescaped; a site's own versions win over ours.

A page named ``NAME.html.j2`` is looked up first in the project's ``templates/web/`` folder, then
among the ones shipped in ``outreach/web/pages``; so a site changes any page's words (or the
stylesheet, the feeds, the embed snippet) by putting its own file there, and extends ours with
``{% extends "base.html.j2" %}``. Every page gets the organisation, the brand colours and the base
URL from ``outreach.toml``; none names an organisation itself. A page never shows a traceback, only
a short plain message (``message``).

Pages speak the request's language (``outreach.web.language``): their text is ``{% trans %}`` in the
templates and English messages marked ``N_`` in the handlers, translated from the site's catalogs
(``outreach.i18n``); each page shows a switch to the site's other languages.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2
from starlette.responses import HTMLResponse

from outreach.config import Config
from outreach.i18n import LocalDates, gettext_context, translations
from outreach.i18n.catalogs import SITE_FOLDER as LOCALE_FOLDER
from outreach.web.language import page_language

NO_STORE = {"Cache-Control": "no-store"}


SITE_FOLDER = "web"  # inside the project's templates folder


@functools.lru_cache(maxsize=8)
def environment(site_pages: Path | None = None) -> jinja2.Environment:
    """The pages of a site: its own folder (if any) first, then the shipped ones."""
    loaders: list[jinja2.BaseLoader] = [jinja2.PackageLoader("outreach.web", "pages")]
    if site_pages is not None:
        loaders.insert(0, jinja2.FileSystemLoader(site_pages))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        extensions=["jinja2.ext.i18n"],
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2", "xml.j2"), default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.policies["ext.i18n.trimmed"] = True  # as babel.cfg extracts them
    env.install_null_translations()  # type: ignore[attr-defined]
    env.filters["css"] = _css_value
    return env


def _css_value(value: Any) -> str:
    """A colour or font list from outreach.toml inside the stylesheet, with no way out of the rule."""
    return "".join(c for c in " ".join(str(value).split()) if c not in "<>{};\\")


class Pages:
    """Renders pages with the site's common context."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.env = environment(config.path("templates") / SITE_FOLDER)
        self.languages = tuple((c.key, c.label) for c in config.settings.audience.languages)

    @property
    def default_language(self) -> str:
        return self.languages[0][0]

    def archive_path(self, language: str) -> str:
        """The archive of ``language``: ``/archive`` for the default language, ``/es/archive`` otherwise."""
        return "/archive" if language == self.default_language else f"/{language}/archive"

    def render(self, name: str, lang: str | None = None, archive: bool = False, **context: Any) -> str:
        """Render a page in ``lang`` (default: the request's language, see outreach.web.language).

        The language switch reopens the same page in another language; on an ``archive`` page (one
        per language) it opens the other language's archive."""
        current = page_language(self.default_language)
        language = lang or current.language
        messages = translations(language, self.config.root / LOCALE_FOLDER)
        common = {
            **gettext_context(messages),
            "org": self.config.organisation,
            "brand": self.config.brand,
            "base_url": self.config.base_url,
            "compact": False,
            "lang": language,
            "dates": LocalDates(language, self.config.time_zone),
            "switch": self.languages if current.switchable and len(self.languages) > 1 else (),
            "archive_path": self.archive_path(language),
            "switch_path": self.archive_path if archive else (lambda code: ""),
        }
        return self.env.get_template(name).render({**common, **context})

    def page(
        self, name: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
    ) -> HTMLResponse:
        return HTMLResponse(
            self.render(name, **context), status_code=status, headers={**NO_STORE, **(headers or {})}
        )

    def message(
        self,
        status: int,
        title: str,
        message: str,
        link: tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """A plain page that says what happened and what to do; used for every refusal and error."""
        return self.page(
            "message.html.j2",
            status=status,
            headers=headers,
            title=title,
            message=message,
            link=link,
            **context,
        )

    def message_bytes(self, status: int, title: str, message: str) -> bytes:
        return self.render("message.html.j2", title=title, message=message, link=None).encode("utf-8")
