"""The roles and languages people choose from, one list shared by every way in and out.

The list lives in ``outreach.toml`` (``[audience] roles`` and ``languages``, see docs/audience.md).
Subscribers' rows hold a choice's *key*; forms show its *label*; imports may bring the key, the label
or an alias in any case, with or without accents and punctuation ("Parent or caregiver",
"parent-or-caregiver", "PARENT OR CAREGIVER" are one role), and a language tag with a region
("es-419") counts as its language. Segments must name keys, so a segment file reads the same in every
command. A value stored before the list existed (or after an entry was removed) is kept as it is.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.audience.schema import Subscriber
from outreach.config import AudienceSettings, Choice
from outreach.errors import ConfigError

_NOT_WORD = re.compile(r"[^0-9a-z]+")


def fold(text: str) -> str:
    """What spellings are compared by: no accents, lower case, words joined by '-'."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NOT_WORD.sub("-", bare.casefold()).strip("-")


@dataclass(frozen=True)
class ChoiceList:
    """One list (roles or languages): resolve what people wrote to a key, and show keys as labels."""

    what: str  # "role" or "language", for messages
    setting: str  # the outreach.toml key, for messages
    choices: tuple[Choice, ...]
    index: dict[str, str]
    by_region: bool = False  # languages: "es-mx" counts as "es"
    # What each spelling resolved to: imports resolve the same few spellings 100,000 times.
    _seen: dict[str, str | None] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(
        cls, what: str, setting: str, choices: tuple[Choice, ...], by_region: bool = False
    ) -> ChoiceList:
        index: dict[str, str] = {}
        for choice in choices:
            for spelling in (choice.key, choice.label, *choice.aliases):
                folded = fold(spelling)
                if not folded:
                    continue
                earlier = index.setdefault(folded, choice.key)
                if earlier != choice.key:
                    raise ConfigError(
                        f"{spelling!r} would mean both {earlier!r} and {choice.key!r}; "
                        "give each spelling to one entry only",
                        key=setting,
                    )
        return cls(what, setting, choices, index, by_region)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(choice.key for choice in self.choices)

    def resolve(self, text: str) -> str | None:
        """The key ``text`` means, or None when it is none of the list's spellings."""
        if text in self._seen:
            return self._seen[text]
        folded = fold(text)
        found = self.index.get(folded)
        if found is None and self.by_region and "-" in folded:
            found = self.index.get(folded.split("-", 1)[0])
        if len(self._seen) < 10_000:
            self._seen[text] = found
        return found

    def label(self, key: str) -> str:
        """How a stored value is shown: its label, or the value itself when it is not in the list."""
        return next((choice.label for choice in self.choices if choice.key == key), key)

    def described(self) -> str:
        """The valid choices, for messages: ``home-visitor (Home visitor), ...``."""
        return ", ".join(f"{c.key} ({c.label})" if fold(c.label) != c.key else c.key for c in self.choices)

    def unknown(self, text: str) -> str:
        """Why ``text`` is refused, and what to do."""
        return (
            f"unknown {self.what} {text!r}; valid: {self.described()} "
            f"(the list is [audience] {self.setting.rsplit('.', 1)[-1]} in outreach.toml)"
        )


@dataclass(frozen=True)
class ProfileChoices:
    """The roles and the languages of one site."""

    roles: ChoiceList
    languages: ChoiceList

    @property
    def default_language(self) -> str:
        return self.languages.keys[0]


@lru_cache(maxsize=8)
def profile_choices(settings: AudienceSettings | None = None) -> ProfileChoices:
    """The site's lists from its ``[audience]`` settings (None: the shipped defaults)."""
    settings = settings or AudienceSettings()
    return ProfileChoices(
        roles=ChoiceList.build("role", "audience.roles", settings.roles),
        languages=ChoiceList.build("language", "audience.languages", settings.languages, by_region=True),
    )


def respell_stored(session: Session, choices: ProfileChoices) -> int:
    """Store roles and languages written as a label or an alias as their keys; returns the rows changed.

    Run by ``outreach db upgrade``: values from before the lists existed ("pediatric clinician",
    "Parent or caregiver", "Spanish") become keys; values that mean nothing in the lists stay as they are.
    """
    changed = 0
    for column, listed in ((Subscriber.role, choices.roles), (Subscriber.language, choices.languages)):
        for (stored,) in session.execute(sa.select(column).distinct()):
            key = listed.resolve(stored) if stored else None
            if key is not None and key != stored:
                result = session.execute(sa.update(Subscriber).where(column == stored).values({column: key}))
                changed += int(getattr(result, "rowcount", 0) or 0)
    return changed
