"""A value that is expensive to work out, kept for a while and refreshed behind the reader's back.

The dashboard counts a million subscribers and a year of consent history; doing that for every page
view would make the page slow and the database busy. ``Kept`` works a value out once, hands it out
until it is ``seconds`` old, and then hands out the old one once more while a thread works out the
new one, so after the first reader nobody waits for the counting. Readers see when the value was made.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from outreach.clock import Clock

log = logging.getLogger("outreach.kept")

T = TypeVar("T")


class Kept(Generic[T]):
    """``get()`` -> (value, when it was made); at most one refresh runs at a time."""

    def __init__(self, make: Callable[[], T], seconds: float, clock: Clock) -> None:
        self._make = make
        self._age = timedelta(seconds=seconds)
        self._clock = clock
        self._value: tuple[T, datetime] | None = None
        self._lock = threading.Lock()
        self._refreshing: threading.Thread | None = None

    def get(self) -> tuple[T, datetime]:
        with self._lock:
            kept = self._value
        if kept is None:
            return self._refresh()
        if self._clock.now() - kept[1] >= self._age:
            self._refresh_later()
        return kept

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a refresh in progress (tests, and shutting down)."""
        thread = self._refreshing
        if thread is not None:
            thread.join(timeout)

    def _refresh(self) -> tuple[T, datetime]:
        made_at = self._clock.now()
        value = (self._make(), made_at)
        with self._lock:
            if self._value is None or self._value[1] <= made_at:
                self._value = value
        return value

    def _refresh_later(self) -> None:
        with self._lock:
            if self._refreshing is not None and self._refreshing.is_alive():
                return
            self._refreshing = threading.Thread(target=self._quietly, name="kept-refresh", daemon=True)
            self._refreshing.start()

    def _quietly(self) -> None:
        try:
            self._refresh()
        except Exception:  # the old value stays; the next reader tries again
            log.exception("could not refresh a kept value")
