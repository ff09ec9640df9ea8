"""Languages: gettext catalogs (Babel), the language a reader gets, and dates in their words.

Everything the layouts, the system mails and the web pages say comes from a catalog:
``outreach/i18n/locale/<lang>/LC_MESSAGES/outreach.po`` ships with the package (English is the
source language and needs none; Spanish is shipped), and a site adds or overrides a language with
``locale/<lang>/LC_MESSAGES/outreach.po`` in its project folder. Catalogs are compiled in memory on
first use, so a fresh clone and ``pip install -e .`` work with nothing to build (docs/languages.md).
"""

from outreach.i18n.catalogs import Translations, gettext_context, translations
from outreach.i18n.dates import LocalDates
from outreach.i18n.negotiate import best_language, primary
from outreach.i18n.words import N_

__all__ = ["N_", "LocalDates", "Translations", "best_language", "gettext_context", "primary", "translations"]
