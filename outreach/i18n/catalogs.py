"""Gettext catalogs: the shipped ``.po`` files and a site's own, compiled in memory on first use.

A ``.po`` file is the only form kept: it is what translators edit and what git diffs well. Compiling
one (a few hundred messages) takes milliseconds, so it happens the first time a language is needed
and the result is kept for the process, keyed by the file's modification time so an edited catalog
is picked up by the preview without a restart. A site's catalog wins over the shipped one for the
messages it translates; the shipped one fills in the rest, and the English source text is the last
fallback, so a half-translated catalog shows English, never a blank.

Fuzzy entries (``#, fuzzy``: a translation that ``pybabel update`` guessed) are left out, as
``pybabel compile`` leaves them out: a guess must be read by a person before readers see it.
"""

from __future__ import annotations

import functools
import gettext
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations
from babel.support import Translations as BabelTranslations

from outreach.errors import OutreachError
from outreach.i18n.negotiate import primary

DOMAIN = "outreach"
SHIPPED = Path(__file__).resolve().parent / "locale"
SITE_FOLDER = "locale"  # in the project folder, beside outreach.toml

Translations = NullTranslations  # what ``translations`` returns: Babel's, with gettext and ngettext


def catalog_path(root: Path, language: str) -> Path:
    """Where the catalog of ``language`` lives under a ``locale`` folder."""
    return root / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def locale_name(language: str) -> str:
    """A language tag as a gettext folder name: ``es-mx`` -> ``es_MX``, ``sr-latn`` -> ``sr_Latn``."""
    first, *rest = language.strip().replace("-", "_").split("_")
    subtags = [part.upper() if len(part) == 2 else part.title() if len(part) == 4 else part for part in rest]
    return "_".join([first.lower(), *subtags])


def translations(language: str, site_locale: Path | None = None) -> Translations:
    """The messages of ``language`` (``es``, ``es-MX``): the site's catalog first, then the shipped one,
    then the English source. ``es-MX`` uses an ``es_MX`` catalog if there is one, else ``es``."""
    candidates = [locale_name(language), primary(language)]
    found: list[Path] = []
    for code in dict.fromkeys(candidates):
        for root in (site_locale, SHIPPED):
            if root is not None and catalog_path(root, code).is_file():
                found.append(catalog_path(root, code))
    keyed = tuple((path, path.stat().st_mtime_ns) for path in found)
    return _chain(keyed)


@functools.lru_cache(maxsize=32)
def _chain(paths: tuple[tuple[Path, int], ...]) -> Translations:
    chain: Translations = NullTranslations()
    for path, _mtime in reversed(paths):  # the most specific catalog ends up first
        compiled = _compile(path)
        compiled.add_fallback(chain)
        chain = compiled
    return chain


def _compile(path: Path) -> BabelTranslations:
    try:
        with path.open("rb") as handle:
            catalog = read_po(handle, domain=DOMAIN, abort_invalid=True)
    except Exception as err:  # babel raises PoFileError, ValueError, UnicodeDecodeError...
        raise OutreachError(f"{path}: the catalog cannot be read: {err}") from None
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return BabelTranslations(fp=buffer, domain=DOMAIN)


def gettext_context(messages: gettext.NullTranslations) -> dict[str, Callable[..., Any]]:
    """The functions Jinja2's i18n extension calls for ``{% trans %}`` and ``_()``, passed with each
    render so one cached environment serves every language."""
    return {
        "gettext": messages.gettext,
        "ngettext": messages.ngettext,
        "pgettext": messages.pgettext,
        "npgettext": messages.npgettext,
    }
