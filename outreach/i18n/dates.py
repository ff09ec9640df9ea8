"""Dates and times as a reader of a language writes them, in the site's time zone (Babel/CLDR).

English keeps the forms the layouts always used ("December 1, 2026"; "Saturday, February 6, 2027,
9:30 AM"); Spanish reads "1 de diciembre de 2026" and "sábado, 6 de febrero de 2027, 9:30". Babel
puts a narrow no-break space (U+202F) before "AM" since CLDR 42: many mail fonts lack it, so it is
written as a plain space.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_skeleton, format_time

NARROW_SPACES = str.maketrans({"\u202f": " ", "\u2009": " "})


def locale_for(language: str) -> Locale:
    """Babel's locale for a language tag; English for a tag Babel does not know."""
    try:
        return Locale.parse(language.strip().replace("-", "_") or "en")
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


@dataclass(frozen=True)
class LocalDates:
    """Formats dates for one language in one zone; made once per rendered edition or page."""

    language: str
    zone: ZoneInfo

    @property
    def locale(self) -> Locale:
        return locale_for(self.language)

    def local(self, moment: datetime) -> datetime:
        """An aware moment in the site's zone; a naive one is taken as already local."""
        return moment.astimezone(self.zone) if moment.tzinfo else moment.replace(tzinfo=self.zone)

    def day(self, value: date | datetime) -> str:
        """``December 1, 2026`` / ``1 de diciembre de 2026``."""
        day = self.local(value).date() if isinstance(value, datetime) else value
        return _plain(format_date(day, "long", locale=self.locale))

    def month(self, value: date | datetime) -> str:
        """``December 2026`` / ``diciembre de 2026``."""
        day = self.local(value).date() if isinstance(value, datetime) else value
        return _plain(format_skeleton("yMMMM", day, locale=self.locale))

    def when(self, moment: datetime) -> str:
        """An event's start: ``Saturday, February 6, 2027, 9:30 AM`` or, in Spanish,
        ``sábado, 6 de febrero de 2027, 9:30``."""
        local = self.local(moment)
        day = format_date(local.date(), "full", locale=self.locale)
        time = format_time(local.replace(tzinfo=None), "short", locale=self.locale)
        return _plain(f"{day}, {time}")

    def iso(self, moment: datetime) -> str:
        """For ``<time datetime>``: the moment in the site's zone, ISO 8601."""
        return self.local(moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _plain(text: str) -> str:
    return text.translate(NARROW_SPACES)
