"""A sending run's stop switch: SIGTERM and Ctrl+C ask the run to stop instead of killing it.

Killing a run mid-chunk would leave the messages in hand unanswered and every claimed row waiting for
recovery; asked to stop, the run hands nothing more over, lets the messages in hand finish, records
them and puts every other claimed row back to ``pending``. The switch is armed only in the main thread
(Python delivers signals there) and only while the run lasts; a second signal acts as it would have
without it. The handler only sets flags and writes one byte to a pipe, so it is safe wherever the
signal lands; a sleeping run (a rate limit, a retry that is not due yet) wakes at once.
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSwitch:
    """Set by SIGTERM or SIGINT while armed; ``listeners`` are told at once (from the handler)."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.listeners: list[Callable[[], None]] = []
        self._wake: tuple[int, int] | None = None
        self._previous: dict[int, Any] = {}

    @property
    def name(self) -> str:
        return signal.Signals(self.signal).name if self.signal is not None else ""

    @contextmanager
    def armed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        self._wake = os.pipe()
        os.set_blocking(self._wake[1], False)
        self._previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
        for sig in SIGNALS:
            signal.signal(sig, self._fire)
        try:
            yield
        finally:
            self._restore()
            wake, self._wake = self._wake, None
            for fd in wake:
                os.close(fd)

    def _fire(self, signum: int, frame: FrameType | None) -> None:
        self.signal = signum
        for listener in self.listeners:
            listener()
        self._restore()
        if self._wake is not None:
            with suppress(OSError):
                os.write(self._wake[1], b"!")

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def nap(self, seconds: float) -> None:
        """Sleep, unless a stop is asked for (then return at once)."""
        if self.signal is not None:
            return
        if self._wake is None:
            time.sleep(seconds)
            return
        select.select([self._wake[0]], [], [], seconds)
