"""Time, injected and shown one way.

Production code asks a ``Clock``; tests hand in a ``FixedClock`` they can move. Every time is stored
and passed around as an aware UTC datetime (``utc`` makes one); a person reads it through
``show_time``, in the configured zone with the zone named (``2026-12-01 09:00 EST``), and a program
reads it through ``iso_time`` (ISO 8601 with the offset of that zone).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol


class Clock(Protocol):
    """Anything that can say what time it is, in UTC."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to; for deterministic tests and golden files."""

    def __init__(self, at: datetime) -> None:
        self._at = utc(at)

    def now(self) -> datetime:
        return self._at

    def advance(self, seconds: float) -> None:
        self._at += timedelta(seconds=seconds)


def utc(moment: datetime) -> datetime:
    """The same instant as an aware UTC datetime; a naive one is taken to be UTC already (stored
    times are UTC by rule, and that is the only place a naive one can come from)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _zone_name(local: datetime, zone: tzinfo) -> str:
    """``EST``, ``CET``, ``UTC``; where a zone has no letters for itself (``-03``), its IANA key."""
    abbreviation = local.strftime("%Z")
    if abbreviation and abbreviation[0] not in "+-":
        return abbreviation
    key = getattr(zone, "key", "")
    return f"{key} (UTC{abbreviation})" if key and abbreviation else key or f"UTC{abbreviation}"


def show_time(moment: datetime, zone: tzinfo, *, seconds: bool = False) -> str:
    """A time as a person reads it: in ``zone`` (the configured one), with the zone named.

    ``2026-12-01 09:00 EST``; with ``seconds``, ``2026-12-01 09:00:05 EST``.
    """
    local = utc(moment).astimezone(zone)
    shown = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f"{shown} {_zone_name(local, zone)}"


def iso_time(moment: datetime, zone: tzinfo) -> str:
    """A time for programs (``--json``): ISO 8601 in ``zone`` with its offset, whole seconds."""
    return utc(moment).astimezone(zone).replace(microsecond=0).isoformat()
