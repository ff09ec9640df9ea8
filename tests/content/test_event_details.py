"""An event's ``ends:`` and ``id:``: what a calendar entry needs, with errors at their lines."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from outreach.content.issue import read_issue_text
from outreach.errors import ContentError
from outreach.models import Event

PATH = Path("newsletters/2026-12-events.md")
FRONT = '---\nsubject: "Events"\ndate: 2026-12-01\n---\n'  # the body starts on line 5


def event_of(details: str) -> Event:
    issue = read_issue_text(FRONT + f"::: event\ntitle: Winter Gathering\n{details}:::\n", PATH)
    (block,) = issue.blocks
    assert isinstance(block, Event)
    return block


def test_ends_is_a_time_that_day_or_a_date_and_time() -> None:
    assert event_of("starts: 2027-02-06 09:30\nends: 13:00\n").ends == datetime(2027, 2, 6, 13, 0)
    assert event_of("starts: 2027-02-06 22:00\nends: 2027-02-07 01:00\n").ends == datetime(2027, 2, 7, 1, 0)
    assert event_of("starts: 2027-02-06 09:30\n").ends is None


@pytest.mark.parametrize(
    ("details", "line", "words"),
    [
        ("starts: 2027-02-06 09:30\nends: 09:00\n", 8, ["not after", "2027-01-15 01:00"]),
        ("starts: 2027-02-06 09:30\nends: soon\n", 8, ["not a time", "13:00"]),
        ("when: Saturday\nends: 13:00\n", 8, ["needs 'starts:'"]),
        (
            "starts: 2027-02-06 09:30\nid: Winter Gathering!\n",
            8,
            ["lower-case letters", "spring-gathering-2027"],
        ),
    ],
)
def test_mistakes_name_their_line(details: str, line: int, words: list[str]) -> None:
    with pytest.raises(ContentError) as raised:
        event_of(details)
    assert raised.value.line == line
    for word in words:
        assert word in raised.value.message


def test_the_id_is_given_or_made_from_the_title_and_year() -> None:
    assert event_of("starts: 2027-02-06 09:30\nid: winter-2027\n").key == "winter-2027"
    assert event_of("starts: 2027-02-06 09:30\n").key == "winter-gathering-2027"
    # The time and place can change without changing the id (the calendar entry's UID).
    assert event_of("starts: 2027-02-20 11:00\nwhere: Norfolk\n").key == "winter-gathering-2027"
