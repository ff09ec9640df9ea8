"""When a send may go: the grace after a missed due time, the send window, each recipient's local time.

Pure functions of their inputs (times are aware datetimes; the clock is the caller's), so every rule
here is tested with fixed times and no database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from outreach.config import Schedule
from outreach.errors import ConfigError

_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_clock(value: str, key: str) -> time:
    """``"07:00"`` -> 07:00; a ConfigError naming the key otherwise."""
    match = _CLOCK.match(value.strip())
    if not match:
        raise ConfigError(f"must be a time of day like 07:00, not {value!r}", key=key)
    return time(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class SendWindow:
    """The hours mail may go out, in ``zone``: ``start`` <= local time < ``end``.

    ``start = 07:00, end = 20:00`` means no mail between 20:00 and 07:00. A window may wrap midnight
    (``22:00``-``06:00``). ``None`` bounds mean no window: any time is fine.
    """

    zone: ZoneInfo
    start: time | None = None
    end: time | None = None

    @classmethod
    def from_settings(cls, schedule: Schedule) -> SendWindow:
        zone = ZoneInfo(schedule.time_zone)
        if not schedule.window_start and not schedule.window_end:
            return cls(zone)
        if not (schedule.window_start and schedule.window_end):
            raise ConfigError(
                "set both window_start and window_end (e.g. 07:00 and 20:00), or neither",
                key="schedule.window_start",
            )
        start = parse_clock(schedule.window_start, "schedule.window_start")
        end = parse_clock(schedule.window_end, "schedule.window_end")
        if start == end:
            raise ConfigError("window_start and window_end must differ", key="schedule.window_end")
        return cls(zone, start, end)

    def in_zone(self, zone: ZoneInfo) -> SendWindow:
        """The same hours, read in another zone (a recipient's own)."""
        return SendWindow(zone, self.start, self.end)

    @property
    def always_open(self) -> bool:
        return self.start is None or self.end is None

    def is_open(self, moment: datetime) -> bool:
        if self.start is None or self.end is None:
            return True
        local = moment.astimezone(self.zone).time()
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_open(self, moment: datetime) -> datetime:
        """``moment`` if the window is open then, else the next time it opens."""
        if self.is_open(moment) or self.start is None:
            return moment
        local = moment.astimezone(self.zone)
        opening = datetime.combine(local.date(), self.start, self.zone)
        if opening <= local:
            opening = datetime.combine(local.date() + timedelta(days=1), self.start, self.zone)
        return opening.astimezone(moment.tzinfo)


def due_at(send_at: datetime, window: SendWindow) -> datetime:
    """When a send planned for ``send_at`` may start: at once, or when the window opens."""
    return window.next_open(send_at)


def is_missed(due: datetime, now: datetime, grace: timedelta) -> bool:
    """Past the grace after its due time: marked missed and reported, never sent late."""
    return now > due + grace


def grace_of(schedule: Schedule) -> timedelta:
    return timedelta(hours=schedule.grace_hours)


def zone_or_none(name: str | None) -> ZoneInfo | None:
    """A subscriber's time zone, or None when unset or not a zone we know (they get the site's)."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def local_send_at(send_at: datetime, site_zone: ZoneInfo, recipient_zone: ZoneInfo) -> datetime:
    """The staff's wall-clock time (``09:00`` in the site's zone) read in the recipient's zone."""
    wall = send_at.astimezone(site_zone).replace(tzinfo=None)
    return wall.replace(tzinfo=recipient_zone)


def local_due_at(send_at: datetime, window: SendWindow, recipient_zone: ZoneInfo) -> datetime:
    """When a recipient in ``recipient_zone`` gets a local-time send: their 09:00, inside their window."""
    return window.in_zone(recipient_zone).next_open(local_send_at(send_at, window.zone, recipient_zone))
