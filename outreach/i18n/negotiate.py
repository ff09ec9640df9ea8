"""Which of the site's languages a reader gets: from a stored choice, or a browser's Accept-Language."""

from __future__ import annotations

from collections.abc import Sequence

from babel import negotiate_locale


def primary(language: str) -> str:
    """``es-MX`` -> ``es``: the primary subtag, lower-cased."""
    return language.strip().replace("_", "-").split("-", 1)[0].lower()


def best_language(wanted: Sequence[str], offered: Sequence[str]) -> str | None:
    """The first of ``offered`` (the site's language keys) that matches ``wanted`` best, or None.

    ``wanted`` is in order of preference (a browser's Accept-Language, or one stored language).
    An exact tag wins (``es-MX`` for ``es-mx``); otherwise the primary language (``es`` for
    ``es-MX``, and for ``es-419``) as Babel's ``negotiate_locale`` matches it.
    """
    if not offered:
        return None
    by_lower = {key.lower(): key for key in offered}
    for tag in wanted:
        tag = tag.strip().replace("_", "-").lower()
        if tag in by_lower:
            return by_lower[tag]
        found = negotiate_locale([tag], list(by_lower), sep="-")
        if found is None and primary(tag) in by_lower:
            found = primary(tag)
        if found is not None:
            return by_lower[found.lower()]
    return None


def accept_language(header: str, limit: int = 12) -> list[str]:
    """The tags of an ``Accept-Language`` header, most wanted first (``q=0`` means "not this")."""
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:limit]):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*" or len(tag) > 35:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            weighted.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(weighted)]
