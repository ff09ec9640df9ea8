"""The pure rules: grace, the send window (also across midnight), each recipient's local 09:00."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from outreach.config import Schedule
from outreach.errors import ConfigError
from outreach.scheduling.timing import SendWindow, due_at, is_missed, local_due_at, local_send_at

NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
LONDON = ZoneInfo("Europe/London")


def at(day: int, hour: int, minute: int = 0, zone: ZoneInfo = NY) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=zone)


def test_grace_is_inclusive_and_measured_from_the_due_time() -> None:
    due = at(1, 9)
    grace = timedelta(hours=6)
    assert not is_missed(due, due + timedelta(hours=5, minutes=59), grace)
    assert not is_missed(due, due + grace, grace)
    assert is_missed(due, due + grace + timedelta(seconds=1), grace)


def test_window_in_the_day() -> None:
    window = SendWindow(NY, time(7), time(20))
    assert window.is_open(at(1, 9))
    assert not window.is_open(at(1, 20))
    assert not window.is_open(at(1, 6, 59))
    assert window.next_open(at(1, 21)) == at(2, 7)
    assert window.next_open(at(1, 5)) == at(1, 7)
    assert window.next_open(at(1, 12)) == at(1, 12)


def test_window_across_midnight() -> None:
    night_shift = SendWindow(NY, time(22), time(6))
    assert night_shift.is_open(at(1, 23)) and night_shift.is_open(at(2, 3))
    assert not night_shift.is_open(at(1, 12))
    assert night_shift.next_open(at(1, 12)) == at(1, 22)


def test_a_send_due_outside_the_window_waits_for_it() -> None:
    window = SendWindow.from_settings(Schedule(window_start="07:00", window_end="20:00"))
    assert due_at(at(1, 21, 30), window) == at(2, 7)
    assert due_at(at(1, 9), window) == at(1, 9)
    assert due_at(at(1, 21, 30), SendWindow(NY)) == at(1, 21, 30)


@pytest.mark.parametrize(
    ("start", "end", "key"),
    [
        ("7am", "20:00", "schedule.window_start"),
        ("07:00", "", "schedule.window_start"),
        ("07:00", "07:00", "schedule.window_end"),
    ],
)
def test_bad_windows_name_their_key(start: str, end: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        SendWindow.from_settings(Schedule(window_start=start, window_end=end))
    assert caught.value.key == key


def test_local_time_means_the_same_clock_time_where_the_reader_is() -> None:
    send_at = at(1, 9)
    assert local_send_at(send_at, NY, LA) == datetime(2026, 12, 1, 9, tzinfo=LA)
    assert local_send_at(send_at, NY, LA).astimezone(UTC) == datetime(2026, 12, 1, 17, tzinfo=UTC)
    # The window is read in the reader's own zone too: 06:00 in London waits for 07:00 London.
    early = at(1, 6)
    window = SendWindow(NY, time(7), time(20))
    assert local_due_at(early, window, LONDON) == datetime(2026, 12, 1, 7, tzinfo=LONDON)
