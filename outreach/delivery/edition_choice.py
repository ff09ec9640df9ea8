"""Which language edition a reader gets, as plain values: what composing needs of a campaign's
editions. Kept apart from ``outreach.delivery.editions`` (which stores editions and chooses them in
SQL) so that a sending process imports neither the database layer nor SQLAlchemy.

The rules, for a reader whose language is ``es-MX``: an edition in exactly that language; else one
whose primary language is the same (``es``, ``es-ES``), the default first; else the default. Case and
``_``/``-`` do not matter; a reader with no language gets the default.
"""

from __future__ import annotations

from dataclasses import dataclass


def normal_tag(tag: str) -> str:
    return tag.strip().lower().replace("_", "-")


def primary_tag(tag: str) -> str:
    return normal_tag(tag).split("-", 1)[0]


@dataclass(frozen=True, slots=True)
class EditionChoice:
    """A campaign's editions as far as choosing one is concerned: the default and the others."""

    default: str
    others: tuple[str, ...] = ()

    @property
    def languages(self) -> tuple[str, ...]:
        return (self.default, *self.others)

    def for_reader(self, language: str | None) -> str:
        """The edition a reader whose language is ``language`` gets."""
        if not self.others or not language:
            return self.default
        wanted = normal_tag(language)
        for edition in self.languages:
            if normal_tag(edition) == wanted:
                return edition
        primary = wanted.split("-", 1)[0]
        for edition in self.languages:
            if primary_tag(edition) == primary:
                return edition
        return self.default


@dataclass(frozen=True, slots=True)
class EditionContent:
    """One more edition's templates, as plain values (they cross into sending processes)."""

    language: str
    subject_source: str
    html_source: str
    text_source: str
